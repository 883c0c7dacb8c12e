//! Creating a container's runtime state and starting its shim; finding the
//! shims of an earlier engine; cleaning what a dead shim left.
//!
//! Layout of `state_root/<id>/`: `config.json` (the OCI bundle is this
//! directory), `shim.json`, `rootfs/` (the overlay mount), `upper/` and
//! `work/` (unless the engine keeps them in its own `rw_dir`), `hosts`, `hostname`, `resolv.conf`, `lc/` (libcontainer's
//! state), `shim.sock`, `shim.pid`, `shim.log`, `exit.json`.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::launcher::Launcher;
use super::leftovers::remove_leftovers;
use super::overlay::unmount;
use super::shim::config::ShimConfig;
use super::spec::{self, SpecInput, UserMount};
use super::{ContainerRequest, ExitInfo, Runtime, RuntimeError, Shim, process};

impl Runtime {
    /// Writes the bundle, starts the container's shim (which mounts the
    /// rootfs) and returns a handle to it: the container is "created".
    /// Nothing runs in it until [`Shim::start`].
    pub async fn create(&self, req: ContainerRequest) -> Result<Shim, RuntimeError> {
        create(self, req).await
    }

    /// Finds the shim of a container created by an earlier engine (shims
    /// outlive the engine). `None` when no shim of that id is alive; its
    /// leftovers are then cleaned with [`Runtime::cleanup`].
    pub async fn reconnect(&self, id: &str) -> Result<Option<Shim>, RuntimeError> {
        reconnect(self, id).await
    }

    /// Ids that have runtime state (live shims or leftovers).
    pub fn list_ids(&self) -> Result<Vec<String>, RuntimeError> {
        list_ids(self)
    }

    /// The exit of a container whose shim is gone, if it recorded one.
    pub fn recorded_exit(&self, id: &str) -> Option<ExitInfo> {
        recorded_exit(self, id)
    }

    /// Removes what a dead shim left (rootfs mount, cgroup, state dir).
    /// Refuses while the shim lives.
    pub async fn cleanup(&self, id: &str) -> Result<(), RuntimeError> {
        cleanup(self, id).await
    }
}

/// How long a shim may take to report that it listens.
const SHIM_READY_TIMEOUT: Duration = Duration::from_secs(30);

async fn create(rt: &Runtime, req: ContainerRequest) -> Result<Shim, RuntimeError> {
    // Before any path is made from it: a bad id must not name a directory
    // that the failure path below would remove.
    if !is_container_id(&req.id) {
        return Err(RuntimeError::InvalidRequest(format!("invalid container id {:?}", req.id)));
    }
    tracing::debug!(id = %req.id, name = %req.name, "preparing the container's bundle");
    let dir = rt.container_dir(&req.id);
    let id = req.id.clone();
    let exe = rt.shim_exe.clone();
    let launcher = rt.launcher.clone();
    let work_dir = dir.clone();
    // One blocking task for the whole creation: under load every hand-off
    // between threads costs a scheduling delay (milliseconds on a busy
    // host), and this is on the path of every `docker run`.
    tokio::task::spawn_blocking(move || {
        // Another container's state must survive a create that reuses its
        // id: only what this call made is removed on failure.
        if work_dir.exists() {
            return Err(RuntimeError::InvalidRequest(format!("container {} already has runtime state", req.id)));
        }
        let made = prepare(&work_dir, &req).and_then(|()| spawn_shim(&launcher, &exe, &req.id, &work_dir));
        if made.is_err() {
            let _ = remove_leftovers(&work_dir);
        }
        made
    })
    .await
    .map_err(|e| RuntimeError::ShimStart { id: id.clone(), reason: e.to_string() })??;
    Ok(Shim::new(id, dir))
}

/// Everything on disk before the shim starts: directories, the overlay
/// mount, the /etc files and the bundle's config.json.
fn prepare(dir: &Path, req: &ContainerRequest) -> Result<(), RuntimeError> {
    if !is_container_id(&req.id) {
        return Err(RuntimeError::InvalidRequest(format!("invalid container id {:?}", req.id)));
    }
    if req.layers.is_empty() {
        return Err(RuntimeError::InvalidRequest("an image needs at least one layer".into()));
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(RuntimeError::InvalidRequest(format!("container {} already has runtime state", req.id)));
        }
        Err(e) => return Err(RuntimeError::io("create", dir)(e)),
    }
    let process = process::resolve(&req.config, &req.image)?;
    let user_mounts = UserMount::all(&req.mounts, &req.host_config)?;
    spec::security_opts(&req.host_config)?;
    for sub in ["rootfs", "lc"] {
        let p = dir.join(sub);
        std::fs::create_dir(&p).map_err(RuntimeError::io("create", &p))?;
    }
    let (upper, work) = writable_layer(dir, req.rw_dir.as_deref())?;
    let rootfs = dir.join("rootfs");
    // nodev unless privileged: a device node in an image layer or made
    // with CAP_MKNOD on the rootfs cannot be opened (on cgroup v2 nothing
    // else stops it; libcontainer's bind of the rootfs keeps the flag).
    let nodev = req.host_config.privileged != Some(true);
    // A layer that outlives this run is synced at unmount as Docker's;
    // a throwaway one (`--rm`, or in the state dir) need not be.
    let volatile = req.rw_dir.is_none() || req.host_config.auto_remove == Some(true);
    super::overlay::mount(&req.layers, &upper, &work, &rootfs, nodev, volatile)?;
    let result = (|| {
        copy_up(&rootfs, &user_mounts)?;
        let mut user = spec::user::resolve(&rootfs, &process.user)?;
        let group_add = req.host_config.group_add.as_deref().unwrap_or_default();
        for gid in spec::user::additional_groups(&rootfs, group_add)? {
            if gid != user.gid && !user.additional_gids.contains(&gid) {
                user.additional_gids.push(gid);
            }
        }
        ensure_workdir(&rootfs, &process.cwd, user.uid, user.gid)?;
        let hostname = hostname_of(&req.id, &req.config);
        let domainname = req.config.domainname.clone().unwrap_or_default();
        write_etc_files(dir, &hostname, &req.own_addresses, &req.host_config, req.embedded_dns)?;
        let tty = req.config.tty == Some(true);
        let spec = spec::build(&SpecInput {
            id: &req.id,
            rootfs: &rootfs,
            dir,
            process: &process,
            user: &user,
            hostname: &hostname,
            domainname: &domainname,
            tty,
            host_config: &req.host_config,
            user_mounts: &user_mounts,
            netns: req.netns.as_deref(),
        })?;
        let cfg_path = dir.join("config.json");
        let bytes = serde_json::to_vec_pretty(&spec).map_err(|e| RuntimeError::io("encode", &cfg_path)(e.into()))?;
        crate::runtime::state_file::write_replace(&cfg_path, &bytes).map_err(RuntimeError::io("write", &cfg_path))?;
        let shim_cfg = ShimConfig {
            id: req.id.clone(),
            tty,
            open_stdin: req.config.open_stdin == Some(true),
            stdin_once: req.config.stdin_once == Some(true),
            log_path: req.log_path.clone(),
            // Checked at create; a record from before that check rotates not.
            log_rotation: crate::runtime::log_rotation::LogRotation::from_opts(
                req.host_config.log_config.as_ref().and_then(|l| l.config.as_ref()),
            )
            .unwrap_or(None),
            console_size: req
                .host_config
                .console_size
                .as_ref()
                .filter(|s| s.len() == 2)
                .map(|s| (s[1].min(u16::MAX as usize) as u16, s[0].min(u16::MAX as usize) as u16)),
        };
        shim_cfg.save(dir)
    })();
    if result.is_err() {
        let _ = unmount(&rootfs);
    }
    result
}

/// Docker's copy-up: each volume that asks for it and is still empty takes
/// what the image has at its destination (inside the container's root as
/// the container resolves it; symlinks below it copied as links, never
/// followed: `crate::confined`).
fn copy_up(rootfs: &Path, mounts: &[UserMount]) -> Result<(), RuntimeError> {
    let wanted: Vec<_> = mounts
        .iter()
        .filter_map(|m| match m {
            UserMount::Bind { source, destination, copy_up: true, .. } => Some((source, destination)),
            _ => None,
        })
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let root = crate::confined::Root::open(rootfs).map_err(|e| RuntimeError::io("open", rootfs)(e.into()))?;
    for (source, destination) in wanted {
        match crate::confined::copy_up(&root, Path::new(destination), source) {
            Ok(copied) => tracing::debug!(%destination, copied, "volume copy-up"),
            Err(e) => return Err(RuntimeError::io("copy the image's content into the volume at", source)(e.into())),
        }
    }
    Ok(())
}

/// The overlay's upper and work dirs: in the engine's `rw_dir` when given
/// (the upper kept as it is; the work dir emptied, as overlayfs's scratch
/// space, which also drops a `volatile` marker of an earlier mount), else
/// fresh in the state dir.
fn writable_layer(dir: &Path, rw_dir: Option<&Path>) -> Result<(PathBuf, PathBuf), RuntimeError> {
    let base = rw_dir.unwrap_or(dir);
    let (upper, work) = (base.join("upper"), base.join("work"));
    std::fs::create_dir_all(&upper).map_err(RuntimeError::io("create", &upper))?;
    match std::fs::remove_dir_all(&work) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(RuntimeError::io("empty", &work)(e)),
    }
    std::fs::create_dir(&work).map_err(RuntimeError::io("create", &work))?;
    Ok((upper, work))
}

fn is_container_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Docker creates a missing working directory, owned by the user, inside
/// the container's root as the container resolves it (its symlinks
/// followed in the root: `crate::confined`).
fn ensure_workdir(rootfs: &Path, cwd: &str, uid: u32, gid: u32) -> Result<(), RuntimeError> {
    if cwd.split('/').any(|c| c == "..") {
        return Err(RuntimeError::InvalidRequest(format!("working directory {cwd:?} contains '..'")));
    }
    let root = crate::confined::Root::open(rootfs).map_err(|e| RuntimeError::io("open", rootfs)(e.into()))?;
    match root.mkdir_all(Path::new(cwd), 0o755, Some((uid, gid))) {
        Ok(_) => Ok(()),
        Err(e) if e.errno() == Some(libc::ENOTDIR) => {
            Err(RuntimeError::InvalidRequest(format!("working directory {cwd:?} is not a directory")))
        }
        Err(e) => Err(RuntimeError::io("create", &rootfs.join(cwd.trim_start_matches('/')))(e.into())),
    }
}

/// The container's hostname: `Config.Hostname`, else its short id.
fn hostname_of(id: &str, config: &bollard_stubs::models::ContainerConfig) -> String {
    config.hostname.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| id.chars().take(12).collect())
}

impl Runtime {
    /// Rewrites the `/etc/hosts` of a container that has not started yet
    /// with its addresses, known only once it joined its networks (after
    /// create). Written in place: the container's bind mount keeps the
    /// same file.
    pub fn rewrite_hosts(
        &self,
        id: &str,
        config: &bollard_stubs::models::ContainerConfig,
        hc: &bollard_stubs::models::HostConfig,
        own_addresses: &[std::net::Ipv4Addr],
    ) -> Result<(), RuntimeError> {
        let p = self.container_dir(id).join("hosts");
        let text = hosts_file(&hostname_of(id, config), own_addresses, hc)?;
        std::fs::write(&p, text).map_err(RuntimeError::io("write", &p))
    }
}

fn write_etc_files(
    dir: &Path,
    hostname: &str,
    own_addresses: &[std::net::Ipv4Addr],
    hc: &bollard_stubs::models::HostConfig,
    embedded_dns: bool,
) -> Result<(), RuntimeError> {
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(RuntimeError::io("write", &p))
    };
    write("hostname", format!("{hostname}\n"))?;
    write("hosts", hosts_file(hostname, own_addresses, hc)?)?;
    write("resolv.conf", resolv_conf(hc, embedded_dns))
}

/// Docker's `/etc/hosts`: loopback and IPv6 names, `--add-host`s, then
/// the container's own addresses with its hostname.
fn hosts_file(
    hostname: &str,
    own_addresses: &[std::net::Ipv4Addr],
    hc: &bollard_stubs::models::HostConfig,
) -> Result<String, RuntimeError> {
    let mut hosts = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    for eh in hc.extra_hosts.as_deref().unwrap_or_default() {
        let (name, ip) = eh
            .split_once([':', '='])
            .ok_or_else(|| RuntimeError::InvalidRequest(format!("invalid extra host {eh:?}: want host:ip")))?;
        hosts.push_str(&format!("{ip}\t{name}\n"));
    }
    for ip in own_addresses {
        hosts.push_str(&format!("{ip}\t{hostname}\n"));
    }
    Ok(hosts)
}

/// Docker's rule: the request's DNS settings, else the host's file without
/// loopback nameservers (unreachable from the container's own network),
/// else Google's public servers.
fn resolv_conf(hc: &bollard_stubs::models::HostConfig, embedded_dns: bool) -> String {
    let dns = if embedded_dns { vec!["127.0.0.11".to_string()] } else { hc.dns.clone().unwrap_or_default() };
    let search = hc.dns_search.clone().unwrap_or_default();
    let options = hc.dns_options.clone().unwrap_or_default();
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let host_network = hc.network_mode.as_deref() == Some("host");
    let mut out = String::new();
    let mut servers: Vec<String> = dns.clone();
    if servers.is_empty() {
        for line in host.lines() {
            let mut w = line.split_whitespace();
            if w.next() == Some("nameserver")
                && let Some(ip) = w.next()
                && (host_network || !(ip.starts_with("127.") || ip == "::1"))
            {
                servers.push(ip.to_string());
            }
        }
    }
    if servers.is_empty() {
        servers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    }
    let host_lines = |key: &str| -> Vec<String> {
        host.lines()
            .filter(|l| l.split_whitespace().next() == Some(key))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let search: Vec<String> = if search.is_empty() { host_lines("search") } else { vec![search.join(" ")] };
    let options: Vec<String> = if options.is_empty() { host_lines("options") } else { vec![options.join(" ")] };
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    for s in search.iter().filter(|s| !s.is_empty()) {
        out.push_str(&format!("search {s}\n"));
    }
    for o in options.iter().filter(|o| !o.is_empty()) {
        out.push_str(&format!("options {o}\n"));
    }
    if embedded_dns {
        // Docker's: the embedded server answers single-label names itself.
        out.push_str("options ndots:0\n");
    }
    out
}

/// Starts the shim of `dir` with a pipe on which it says `ok` once it
/// listens (or why it failed): forked by the launcher, or, when the
/// launcher is gone, as `exe shim --dir DIR` with the pipe on fd 3. The
/// shim daemonizes: the process that is started exits at once.
fn spawn_shim(launcher: &Launcher, exe: &Path, id: &str, dir: &Path) -> Result<(), RuntimeError> {
    let fail = |reason: String| RuntimeError::ShimStart { id: id.to_string(), reason };
    let (read_end, write_end): (OwnedFd, OwnedFd) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| fail(format!("pipe: {e}")))?;
    match launcher.launch(dir, &write_end) {
        Ok(()) => drop(write_end),
        Err(e) => {
            tracing::warn!(error = %e, "the shim launcher is gone: exec'ing the shim");
            exec_shim(exe, dir, write_end).map_err(fail)?;
        }
    }
    let answer =
        read_answer(read_end, SHIM_READY_TIMEOUT).map_err(|e| fail(format!("reading the shim's answer: {e}")))?;
    match answer.trim() {
        "ok" => Ok(()),
        "" => {
            let log = std::fs::read_to_string(dir.join("shim.log")).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            Err(fail(format!(
                "it exited without a word{}",
                if tail.is_empty() { String::new() } else { format!(": {}", tail.join(" / ")) }
            )))
        }
        other => Err(fail(other.trim_start_matches("error: ").to_string())),
    }
}

/// `exe shim --dir DIR` with `write_end` as its fd 3; returns once the
/// first process (which forks the real shim) has exited.
fn exec_shim(exe: &Path, dir: &Path, write_end: OwnedFd) -> Result<(), String> {
    let write_raw = write_end.as_raw_fd();
    let mut cmd = Command::new(exe);
    cmd.arg("shim").arg("--dir").arg(dir).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // SAFETY: runs in the forked child before exec; move_to_fd3 makes
    // only async-signal-safe calls on the child's fd table.
    unsafe {
        cmd.pre_exec(move || super::launcher::move_to_fd3(write_raw));
    }
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    drop(write_end);
    // The first process exits once it has forked the real shim. In the VM
    // PID 1's reaper may collect it first: ECHILD is fine then.
    let _ = child.wait();
    Ok(())
}

/// Reads the shim's answer: one line, or EOF if it died without one; for at
/// most `timeout`. Polls the pipe here rather than on a helper thread: one
/// hand-off fewer on every create.
fn read_answer(fd: OwnedFd, timeout: Duration) -> std::io::Result<String> {
    let deadline = std::time::Instant::now() + timeout;
    let mut file = std::fs::File::from(fd);
    let mut out = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
        if ms == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer from the shim in time"));
        }
        let ms = i32::from(ms);
        let mut pfd = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd on the stack, for an fd this function owns.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            continue;
        }
        let mut buf = [0u8; 512];
        match file.read(&mut buf)? {
            0 => break,
            n if out.len() + n > 64 * 1024 => {
                return Err(std::io::Error::other("the shim's answer is too long"));
            }
            n => out.extend_from_slice(&buf[..n]),
        }
        // The shim writes its answer in one write(2) ending in a newline.
        if out.ends_with(b"\n") {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

async fn reconnect(rt: &Runtime, id: &str) -> Result<Option<Shim>, RuntimeError> {
    let dir = rt.container_dir(id);
    if !Shim::socket_path(&dir).exists() {
        return Ok(None);
    }
    let shim = Shim::new(id.to_string(), dir);
    match shim.ping().await {
        Ok(_) => Ok(Some(shim)),
        Err(RuntimeError::ShimGone { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

fn list_ids(rt: &Runtime) -> Result<Vec<String>, RuntimeError> {
    let rd = std::fs::read_dir(&rt.state_root).map_err(RuntimeError::io("read", &rt.state_root))?;
    let mut ids: Vec<String> = rd
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(String::from))
        .filter(|n| is_container_id(n))
        .collect();
    ids.sort();
    Ok(ids)
}

fn recorded_exit(rt: &Runtime, id: &str) -> Option<ExitInfo> {
    let bytes = std::fs::read(rt.container_dir(id).join("exit.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

async fn cleanup(rt: &Runtime, id: &str) -> Result<(), RuntimeError> {
    if reconnect(rt, id).await?.is_some() {
        return Err(RuntimeError::WrongState {
            id: id.to_string(),
            state: "running".into(),
            message: "its shim is alive: delete it through the shim".into(),
        });
    }
    let dir = rt.container_dir(id);
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        super::shim::teardown::delete_container(&id, &dir);
        remove_leftovers(&dir)
    })
    .await
    .map_err(|e| RuntimeError::io("clean", "runtime state")(std::io::Error::other(e)))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_from_request() {
        let hc = bollard_stubs::models::HostConfig {
            dns: Some(vec!["1.1.1.1".into()]),
            dns_search: Some(vec!["example.org".into()]),
            ..Default::default()
        };
        let r = resolv_conf(&hc, false);
        assert!(r.starts_with("nameserver 1.1.1.1\nsearch example.org\n"), "{r}");
    }

    #[test]
    fn ids_are_checked() {
        assert!(is_container_id(&"a".repeat(64)));
        assert!(!is_container_id("../x"));
        assert!(!is_container_id(""));
    }
}
