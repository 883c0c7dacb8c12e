//! `login` and `logout`, and the credentials pull/push send.
//!
//! berth keeps its own file, `$XDG_CONFIG_HOME/berth/auth.json`, in the
//! format of Docker's `config.json` (`{"auths": {"SERVER": {"auth":
//! base64("user:password")}}}`), written atomically with mode 0600. It
//! reads Docker's `$DOCKER_CONFIG/config.json` (default `~/.docker`) too,
//! as a fallback, but never writes it: a berth login does not change what
//! Docker does. Credential helpers (`credsStore`) are not used.

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use bollard::auth::DockerCredentials;
use clap::Args;
use docker_vocab::reference::{DEFAULT_REGISTRY, ImageRef};
use serde::{Deserialize, Serialize};

use super::ctx::Ctx;
use super::error::CliError;
use crate::engine_target::context::config_dir;

/// Docker Hub's key in config.json.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username.
    #[arg(short, long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin).
    #[arg(short, long)]
    pub password: Option<String>,
    /// Take the password from stdin.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// The registry (default: Docker Hub).
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    pub server: Option<String>,
}

#[derive(Serialize, Deserialize, Default, Debug)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

#[derive(Serialize, Deserialize, Default, Debug, Clone)]
struct AuthEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<String>,
}

fn berth_file() -> PathBuf {
    config_dir().join("auth.json")
}

fn docker_file() -> PathBuf {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default().join(".docker"))
        .join("config.json")
}

fn read(path: &PathBuf) -> Result<AuthFile, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| CliError::Client(format!("{}: not a credentials file: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile::default()),
        Err(e) => Err(CliError::io(path.display().to_string(), e)),
    }
}

fn write(path: &PathBuf, file: &AuthFile) -> Result<(), CliError> {
    let io = |e| CliError::io(path.display().to_string(), e);
    let dir = path.parent().ok_or_else(|| CliError::Client(format!("{}: no parent", path.display())))?;
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(".auth.json.tmp");
    let mut f =
        std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp).map_err(io)?;
    let body = serde_json::to_vec_pretty(file).map_err(|e| CliError::Client(e.to_string()))?;
    f.write_all(&body).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// The config.json key of an image's registry.
pub fn registry_of(image: &str) -> String {
    match ImageRef::parse(image) {
        Ok(r) if r.registry != DEFAULT_REGISTRY => r.registry,
        _ => DOCKER_HUB.into(),
    }
}

fn normalize_server(server: Option<&str>) -> String {
    match server {
        None | Some("docker.io") | Some("index.docker.io") => DOCKER_HUB.into(),
        Some(s) => s.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/').to_string(),
    }
}

fn decode(entry: &AuthEntry) -> Option<(String, String)> {
    let raw = base64::engine::general_purpose::STANDARD.decode(entry.auth.as_deref()?).ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// Credentials for an image's registry: berth's file, then Docker's.
pub fn credentials_for(image: &str) -> Option<DockerCredentials> {
    let server = registry_of(image);
    for path in [berth_file(), docker_file()] {
        if let Ok(file) = read(&path)
            && let Some((username, password)) = file.auths.get(&server).and_then(decode)
        {
            return Some(DockerCredentials {
                username: Some(username),
                password: Some(password),
                serveraddress: Some(server),
                ..Default::default()
            });
        }
    }
    None
}

fn prompt(label: &str) -> Result<String, CliError> {
    eprint!("{label}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| CliError::io("stdin", e))?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

pub async fn login(ctx: &Ctx, args: LoginArgs) -> Result<u8, CliError> {
    let server = normalize_server(args.server.as_deref());
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username")?,
    };
    let password = if args.password_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| CliError::io("stdin", e))?;
        s.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p
    } else {
        // No echo suppression without a TTY library; say so.
        prompt("Password (shown as typed)")?
    };
    if username.is_empty() || password.is_empty() {
        return Err(CliError::Usage("username and password are required".into()));
    }
    let body = serde_json::json!({"username": username, "password": password, "serveraddress": server});
    let reply = super::raw_http::post_json(&ctx.endpoint, "/auth", &body, Duration::from_secs(60)).await?;
    if reply.status != 200 {
        let message = serde_json::from_slice::<serde_json::Value>(&reply.body)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&reply.body).into_owned());
        return Err(CliError::Engine { status: reply.status, message });
    }
    let path = berth_file();
    let mut file = read(&path)?;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    file.auths.insert(server, AuthEntry { auth: Some(auth) });
    write(&path, &file)?;
    println!("Login Succeeded");
    Ok(0)
}

pub fn logout(args: LogoutArgs) -> Result<u8, CliError> {
    let server = normalize_server(args.server.as_deref());
    let path = berth_file();
    let mut file = read(&path)?;
    if file.auths.remove(&server).is_none() {
        println!("Not logged in to {server}");
        return Ok(0);
    }
    write(&path, &file)?;
    println!("Removing login credentials for {server}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_keys_match_docker_config_json() {
        assert_eq!(registry_of("busybox"), DOCKER_HUB);
        assert_eq!(registry_of("me/app"), DOCKER_HUB);
        assert_eq!(registry_of("127.0.0.1:5000/app:1"), "127.0.0.1:5000");
        assert_eq!(registry_of("docker.io/library/x"), DOCKER_HUB);
        assert_eq!(normalize_server(Some("http://127.0.0.1:5000/")), "127.0.0.1:5000");
    }

    #[test]
    fn files_round_trip_and_keep_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("auth.json");
        std::fs::write(&p, r#"{"auths":{},"credsStore":"x"}"#).unwrap();
        let mut f = read(&p).unwrap();
        let auth = base64::engine::general_purpose::STANDARD.encode("u:p:w");
        f.auths.insert("r".into(), AuthEntry { auth: Some(auth) });
        write(&p, &f).unwrap();
        let back = read(&p).unwrap();
        assert_eq!(decode(&back.auths["r"]), Some(("u".into(), "p:w".into())));
        assert_eq!(back.other["credsStore"], "x");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::write(&p, "not json").unwrap();
        assert!(read(&p).is_err());
    }
}
