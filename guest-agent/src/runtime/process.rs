//! Docker's merge of a create request with the image config: which argv,
//! environment, working directory and user the container's init gets.
//!
//! Pure data work, no I/O: user names are resolved later, inside the rootfs
//! (see `spec::user`).

use bollard_stubs::models::{ContainerConfig, ImageConfig};

use super::{ResolvedProcess, RuntimeError};

/// Docker's default PATH when neither the image nor the request sets one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

pub fn resolve(config: &ContainerConfig, image: &ImageConfig) -> Result<ResolvedProcess, RuntimeError> {
    // An entrypoint given in the request replaces the image's and drops the
    // image's Cmd; `--entrypoint ""` arrives as [""] and means "none".
    let (entrypoint, cmd): (Vec<String>, Vec<String>) = match &config.entrypoint {
        Some(ep) => {
            let ep: Vec<String> = ep.iter().filter(|s| !s.is_empty()).cloned().collect();
            (ep, config.cmd.clone().unwrap_or_default())
        }
        None => {
            let cmd = config.cmd.clone().or_else(|| image.cmd.clone()).unwrap_or_default();
            (image.entrypoint.clone().unwrap_or_default(), cmd)
        }
    };
    let mut argv = entrypoint;
    argv.extend(cmd);
    if argv.is_empty() {
        return Err(RuntimeError::NoCommand);
    }
    let path = argv.remove(0);
    let env = merge_env(image.env.as_deref().unwrap_or_default(), config.env.as_deref().unwrap_or_default());
    let cwd = match config.working_dir.as_deref().filter(|w| !w.is_empty()) {
        Some(w) => w.to_string(),
        None => image.working_dir.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "/".into()),
    };
    if !cwd.starts_with('/') {
        return Err(RuntimeError::InvalidRequest(format!(
            "the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )));
    }
    let user = match config.user.as_deref().filter(|u| !u.is_empty()) {
        Some(u) => u.to_string(),
        None => image.user.clone().unwrap_or_default(),
    };
    Ok(ResolvedProcess { path, args: argv, env, cwd, user })
}

/// `base` overridden key by key by `over` (a bare `KEY` in `over` removes
/// nothing and is kept as Docker keeps it); PATH defaulted.
pub fn merge_env(base: &[String], over: &[String]) -> Vec<String> {
    let key = |kv: &str| kv.split_once('=').map_or(kv, |(k, _)| k).to_string();
    let mut out: Vec<String> = Vec::new();
    for kv in base.iter().chain(over.iter()) {
        let k = key(kv);
        match out.iter_mut().find(|e| key(e) == k) {
            Some(slot) => *slot = kv.clone(),
            None => out.push(kv.clone()),
        }
    }
    if !out.iter().any(|e| key(e) == "PATH") {
        out.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    out
}

/// Sets `KEY=value` unless `KEY` is already present.
pub fn env_default(env: &mut Vec<String>, key: &str, value: &str) {
    let prefix = format!("{key}=");
    if !env.iter().any(|e| e.starts_with(&prefix) || e == key) {
        env.push(format!("{prefix}{value}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|x| x.to_string()).collect())
    }

    #[test]
    fn image_entrypoint_and_cmd_concatenate() {
        let image = ImageConfig { entrypoint: s(&["/ep"]), cmd: s(&["a"]), ..Default::default() };
        let p = resolve(&ContainerConfig::default(), &image).expect("resolves");
        assert_eq!((p.path.as_str(), p.args), ("/ep", vec!["a".to_string()]));
        assert_eq!(p.cwd, "/");
        assert!(p.env[0].starts_with("PATH="));
    }

    #[test]
    fn request_cmd_replaces_image_cmd_keeps_entrypoint() {
        let image = ImageConfig { entrypoint: s(&["/ep"]), cmd: s(&["a"]), ..Default::default() };
        let cfg = ContainerConfig { cmd: s(&["b", "c"]), ..Default::default() };
        let p = resolve(&cfg, &image).expect("resolves");
        assert_eq!(p.path, "/ep");
        assert_eq!(p.args, vec!["b", "c"]);
    }

    #[test]
    fn request_entrypoint_drops_image_cmd() {
        let image = ImageConfig { entrypoint: s(&["/ep"]), cmd: s(&["a"]), ..Default::default() };
        let cfg = ContainerConfig { entrypoint: s(&["sh"]), ..Default::default() };
        let p = resolve(&cfg, &image).expect("resolves");
        assert_eq!((p.path.as_str(), p.args.len()), ("sh", 0));
    }

    #[test]
    fn empty_entrypoint_clears_it() {
        let image = ImageConfig { entrypoint: s(&["/ep"]), cmd: s(&["a"]), ..Default::default() };
        let cfg = ContainerConfig { entrypoint: s(&[""]), cmd: s(&["ls"]), ..Default::default() };
        let p = resolve(&cfg, &image).expect("resolves");
        assert_eq!(p.path, "ls");
    }

    #[test]
    fn nothing_to_run_is_an_error() {
        let err = resolve(&ContainerConfig::default(), &ImageConfig::default()).expect_err("no command");
        assert_eq!(err.to_string(), "no command specified");
    }

    #[test]
    fn relative_workdir_is_refused() {
        let cfg = ContainerConfig { cmd: s(&["x"]), working_dir: Some("rel".into()), ..Default::default() };
        assert!(resolve(&cfg, &ImageConfig::default()).is_err());
    }

    #[test]
    fn env_overrides_by_key_and_keeps_order() {
        let env = merge_env(&["PATH=/x".into(), "A=1".into()], &["A=2".into(), "B=3".into()]);
        assert_eq!(env, vec!["PATH=/x", "A=2", "B=3"]);
    }
}
