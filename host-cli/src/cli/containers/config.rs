//! `docker create`/`run` flags and the container configuration they make.
//! Only the translation lives here: flags → `ContainerCreateBody`; bad
//! values are refused before anything is sent.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding, RestartPolicy, RestartPolicyNameEnum};
use clap::Args;

use super::health::HealthFlags;
use crate::cli::error::CliError;

/// The flags `create` and `run` share.
#[derive(Args, Debug, Clone, Default)]
pub struct CreateFlags {
    /// Assign a name to the container.
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables (KEY=VALUE, or KEY to pass this shell's value).
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Bind mount a volume (SRC:DST[:ro]).
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Publish a container's port(s) to the host. Accepted and recorded;
    /// berth does not forward ports yet.
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Restart policy (no, always, unless-stopped, on-failure[:N]).
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Memory limit (e.g. 512m, 1g).
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs (e.g. 1.5).
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Tune the container's pids limit (-1 for unlimited).
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// Mount the container's root filesystem as read only.
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Give extended privileges to this container.
    #[arg(long)]
    pub privileged: bool,
    /// Add Linux capabilities.
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities.
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Security options.
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Container host name.
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Set metadata on a container (KEY=VALUE).
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Keep STDIN open even if not attached.
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    pub tty: bool,
    #[command(flatten)]
    pub health: HealthFlags,
    /// The image to run.
    pub image: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Docker's memory sizes (`--memory 64m`): go-units' `RAMInBytes`, binary
/// units, `b`/`ib` optional.
pub fn parse_bytes(s: &str) -> Result<i64, CliError> {
    docker_vocab::units::ram_in_bytes(s).map_err(|e| CliError::Usage(format!("invalid argument {s:?}: {e}")))
}

pub fn restart_policy(s: &str) -> Result<RestartPolicy, CliError> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => {
            let c: i64 = c.parse().map_err(|_| CliError::Usage(format!("invalid restart policy {s:?}")))?;
            (n, Some(c))
        }
        None => (s, None),
    };
    let name = match name {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        _ => return Err(CliError::Usage(format!("invalid restart policy {s:?}"))),
    };
    if count.is_some() && name != RestartPolicyNameEnum::ON_FAILURE {
        return Err(CliError::Usage(format!("invalid restart policy {s:?}: only on-failure takes a count")));
    }
    Ok(RestartPolicy { name: Some(name), maximum_retry_count: count })
}

/// `[IP:][HOSTPORT:]CPORT[/PROTO]` → ("CPORT/proto", binding).
fn port_binding(s: &str) -> Result<(String, PortBinding), CliError> {
    let bad = || CliError::Usage(format!("invalid port specification: {s:?}"));
    let (spec, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
    let parts: Vec<&str> = spec.rsplitn(3, ':').collect();
    let (cport, hport, ip) = match parts.as_slice() {
        [c] => (*c, "", ""),
        [c, h] => (*c, *h, ""),
        [c, h, ip] => (*c, *h, *ip),
        _ => return Err(bad()),
    };
    if cport.parse::<u16>().is_err() || !(hport.is_empty() || hport.parse::<u16>().is_ok()) {
        return Err(bad());
    }
    if !matches!(proto, "tcp" | "udp" | "sctp") {
        return Err(bad());
    }
    let binding = PortBinding { host_ip: Some(ip.to_string()), host_port: Some(hport.to_string()) };
    Ok((format!("{cport}/{proto}"), binding))
}

fn key_values(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect()
}

/// `-e KEY` takes the value from this process's environment, as docker does
/// (and drops the variable if it is unset).
fn env(items: &[String]) -> Vec<String> {
    items
        .iter()
        .filter_map(
            |e| {
                if e.contains('=') { Some(e.clone()) } else { std::env::var(e).ok().map(|v| format!("{e}={v}")) }
            },
        )
        .collect()
}

/// One `--security-opt` as the docker CLI sends it: `seccomp=FILE` becomes
/// `seccomp=` and the file's JSON, compacted (the engine never reads the
/// client's files); `unconfined` and `builtin` name built-in profiles.
fn security_opt(opt: &str) -> Result<String, CliError> {
    let (key, value) = match opt.split_once('=') {
        Some(kv) => kv,
        None if opt == "no-new-privileges" => return Ok(opt.to_string()),
        None => opt.split_once(':').unwrap_or((opt, "")),
    };
    if value.is_empty() && key != "no-new-privileges" {
        return Err(CliError::Usage(format!("Invalid --security-opt: {opt:?}")));
    }
    if key != "seccomp" || value == "unconfined" || value == "builtin" {
        return Ok(opt.to_string());
    }
    let text = std::fs::read_to_string(value)
        .map_err(|e| CliError::Usage(format!("opening seccomp profile ({value}) failed: {e}")))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::Usage(format!("compacting json for seccomp profile ({value}) failed: {e}")))?;
    Ok(format!("seccomp={json}"))
}

impl CreateFlags {
    /// The create request. `attach` says whether a client will attach
    /// stdio (run without -d).
    pub fn body(&self, attach: bool) -> Result<ContainerCreateBody, CliError> {
        let mut port_bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &self.publish {
            let (port, b) = port_binding(p)?;
            port_bindings.entry(port).or_insert_with(|| Some(Vec::new())).get_or_insert_with(Vec::new).push(b);
        }
        if !self.publish.is_empty() {
            eprintln!(
                "berth: warning: -p is recorded but ports are not published yet (a later berth release forwards them)"
            );
        }
        if self.volume.iter().any(|v| !v.contains(':')) {
            return Err(CliError::Usage("anonymous volumes (-v /path) are not supported yet; use -v SRC:DST".into()));
        }
        let host_config = HostConfig {
            binds: (!self.volume.is_empty()).then(|| self.volume.clone()),
            port_bindings: (!port_bindings.is_empty()).then_some(port_bindings.clone()),
            restart_policy: Some(restart_policy(&self.restart)?),
            memory: self.memory.as_deref().map(parse_bytes).transpose()?,
            nano_cpus: match self.cpus {
                Some(c) if !(0.0..=1024.0).contains(&c) => {
                    return Err(CliError::Usage(format!("invalid --cpus {c}: the range is 0-1024")));
                }
                Some(c) => Some((c * 1e9) as i64),
                None => None,
            },
            pids_limit: self.pids_limit,
            readonly_rootfs: self.read_only.then_some(true),
            privileged: self.privileged.then_some(true),
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            security_opt: match self.security_opt.is_empty() {
                true => None,
                false => Some(self.security_opt.iter().map(|o| security_opt(o)).collect::<Result<_, _>>()?),
            },
            ..Default::default()
        };
        Ok(ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: (!self.command.is_empty()).then(|| self.command.clone()),
            entrypoint: self.entrypoint.as_ref().map(|e| if e.is_empty() { vec![] } else { vec![e.clone()] }),
            env: Some(env(&self.env)),
            working_dir: self.workdir.clone(),
            user: self.user.clone(),
            hostname: self.hostname.clone(),
            labels: Some(key_values(&self.label)),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(self.interactive && attach),
            attach_stdin: Some(self.interactive && attach),
            attach_stdout: Some(attach),
            attach_stderr: Some(attach),
            exposed_ports: (!port_bindings.is_empty()).then(|| port_bindings.keys().cloned().collect()),
            healthcheck: self.health.config()?,
            host_config: Some(host_config),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(image: &str) -> CreateFlags {
        CreateFlags { image: image.into(), restart: "no".into(), ..Default::default() }
    }

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1g").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("1GB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("100").unwrap(), 100);
        assert!(parse_bytes("lots").is_err());
    }

    #[test]
    fn flags_become_the_create_body() {
        let mut f = flags("busybox");
        f.command = vec!["echo".into(), "hi".into()];
        f.env = vec!["A=1".into()];
        f.memory = Some("64m".into());
        f.cpus = Some(0.5);
        f.restart = "on-failure:3".into();
        f.publish = vec!["127.0.0.1:8080:80".into()];
        let b = f.body(true).unwrap();
        assert_eq!(b.cmd.unwrap(), ["echo", "hi"]);
        assert_eq!(b.env.unwrap(), ["A=1"]);
        let h = b.host_config.unwrap();
        assert_eq!(h.memory, Some(64 << 20));
        assert_eq!(h.nano_cpus, Some(500_000_000));
        assert_eq!(h.restart_policy.unwrap().maximum_retry_count, Some(3));
        let pb = h.port_bindings.unwrap();
        let b80 = pb["80/tcp"].as_ref().unwrap();
        assert_eq!(b80[0].host_port.as_deref(), Some("8080"));
        assert_eq!(b80[0].host_ip.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn a_seccomp_profile_file_is_sent_as_its_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        std::fs::write(&path, "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\"\n}\n").unwrap();
        let mut f = flags("busybox");
        f.security_opt = vec![
            format!("seccomp={}", path.display()),
            "seccomp=unconfined".into(),
            "no-new-privileges".into(),
            "label:disable".into(),
        ];
        let opts = f.body(false).unwrap().host_config.unwrap().security_opt.unwrap();
        assert_eq!(
            opts,
            [
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#,
                "seccomp=unconfined",
                "no-new-privileges",
                "label:disable"
            ]
        );
        for bad in ["seccomp=/no/such/profile.json", "bogus"] {
            let mut f = flags("busybox");
            f.security_opt = vec![bad.into()];
            assert!(f.body(false).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_values_are_refused_before_sending() {
        let mut f = flags("busybox");
        f.restart = "sometimes".into();
        assert!(f.body(false).is_err());
        let mut f = flags("busybox");
        f.publish = vec!["http".into()];
        assert!(f.body(false).is_err());
        let mut f = flags("busybox");
        f.restart = "always:2".into();
        assert!(f.body(false).is_err());
    }
}
