//! `images` (`image ls`) and `history`: Docker's tables, `-q`, `--filter`,
//! `--format`.

use bollard::query_parameters::{ImageHistoryOptions, ListImagesOptions};
use clap::Args;
use docker_vocab::filters::Filters;
use docker_vocab::reference::ImageRef;
use serde_json::{Value, json};

use crate::cli::ctx::Ctx;
use crate::cli::error::CliError;
use crate::cli::output::{self, Format, ago, human_size};

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images).
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output.
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests.
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (KEY=VALUE).
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Format output: table, json, or a Go-style template.
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository[:tag].
    pub repository: Option<String>,
}

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Only show image IDs.
    #[arg(short, long)]
    pub quiet: bool,
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Print sizes and dates in human readable format.
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set)]
    pub human: bool,
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

/// `--filter KEY=VALUE` flags, read as the docker CLI reads them.
pub fn filters(items: &[String]) -> Result<Filters, CliError> {
    Filters::from_cli_args(items).map_err(|e| CliError::Usage(e.to_string()))
}

pub fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        let hex = id.strip_prefix("sha256:").unwrap_or(id);
        hex[..hex.len().min(12)].to_string()
    }
}

pub async fn images(ctx: &Ctx, args: ImagesArgs) -> Result<u8, CliError> {
    let mut f = filters(&args.filter)?;
    if let Some(r) = &args.repository {
        f.add("reference", r);
    }
    let opts =
        ListImagesOptions { all: args.all, filters: (!f.is_empty()).then(|| f.to_lists()), ..Default::default() };
    let list = ctx.docker.list_images(Some(opts)).await.map_err(|e| ctx.err(e))?;
    let mut rows = Vec::new();
    for img in &list {
        let id = short_id(&img.id, args.no_trunc);
        if args.quiet {
            if !rows.iter().any(|r: &Value| r["ID"] == id) {
                rows.push(json!({"ID": id}));
            }
            continue;
        }
        let digest = img.repo_digests.first().and_then(|d| d.split_once('@')).map(|(_, d)| d).unwrap_or("<none>");
        let tags: Vec<(String, String)> = if img.repo_tags.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.repo_tags
                .iter()
                .map(|t| match ImageRef::parse(t) {
                    Ok(r) => (r.familiar_name(), r.tag.unwrap_or_else(|| "<none>".into())),
                    Err(_) => (t.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in tags {
            rows.push(json!({
                "Repository": repo,
                "Tag": tag,
                "ID": id,
                "Digest": digest,
                "CreatedSince": ago(img.created),
                "CreatedAt": img.created.to_string(),
                "Size": human_size(img.size),
                "Containers": if img.containers < 0 { "N/A".to_string() } else { img.containers.to_string() },
            }));
        }
    }
    if args.quiet {
        for r in rows {
            println!("{}", output::display(&r["ID"]));
        }
        return Ok(0);
    }
    let mut columns = vec![("REPOSITORY", "Repository"), ("TAG", "Tag")];
    if args.digests {
        columns.push(("DIGEST", "Digest"));
    }
    columns.extend([("IMAGE ID", "ID"), ("CREATED", "CreatedSince"), ("SIZE", "Size")]);
    output::print_rows(&rows, &columns, &Format::parse(args.format.as_deref()))?;
    Ok(0)
}

pub async fn history(ctx: &Ctx, args: HistoryArgs) -> Result<u8, CliError> {
    let _ = ImageHistoryOptions::default();
    let items = ctx.docker.image_history(&args.image).await.map_err(|e| ctx.err(e))?;
    let mut rows = Vec::new();
    for h in &items {
        let id = if h.id.starts_with("sha256:") { short_id(&h.id, args.no_trunc) } else { h.id.clone() };
        if args.quiet {
            println!("{id}");
            continue;
        }
        let mut by = h.created_by.clone();
        if !args.no_trunc && by.chars().count() > 45 {
            by = format!("{}…", by.chars().take(44).collect::<String>());
        }
        rows.push(json!({
            "ID": id,
            "CreatedSince": if args.human { ago(h.created) } else { h.created.to_string() },
            "CreatedBy": by,
            "Size": if args.human { human_size(h.size) } else { h.size.to_string() },
            "Comment": h.comment,
        }));
    }
    if args.quiet {
        return Ok(0);
    }
    let columns = [
        ("IMAGE", "ID"),
        ("CREATED", "CreatedSince"),
        ("CREATED BY", "CreatedBy"),
        ("SIZE", "Size"),
        ("COMMENT", "Comment"),
    ];
    output::print_rows(&rows, &columns, &Format::parse(args.format.as_deref()))?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_need_key_value() {
        let f = filters(&["dangling=true".into(), "label=a=b".into(), "label=c".into()]).unwrap();
        assert_eq!(f.get("dangling"), ["true"]);
        assert_eq!(f.to_lists()["label"], ["a=b", "c"]);
        assert_eq!(f.to_json(), r#"{"dangling":{"true":true},"label":{"a=b":true,"c":true}}"#);
        assert!(filters(&["dangling".into()]).is_err());
        assert_eq!(short_id("sha256:0123456789abcdef", false), "0123456789ab");
    }
}
