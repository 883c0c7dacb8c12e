//! The shim's only contact with youki's libcontainer and libcgroups:
//! create+start the container, exec into it, freeze/thaw, read its cgroup.
//!
//! libcontainer clones from its caller and runs Rust code in the children
//! without exec, so every call that creates a process checks that the shim
//! is single-threaded first (a second thread could hold a lock the child
//! needs: the deadlock Kata's agent hit).

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcgroups::common::{CgroupConfig, CgroupManager};
use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use oci_spec::runtime::{Capability, Process, Spec, UserBuilder};
use std::collections::HashSet;

use super::seccomp_executor::{BORROWED_CAPABILITY, SeccompExecutor};
use super::seccomp_filter::Filter;

use crate::runtime::{BlkioEntry, CgroupStats};

/// Why a process could not be started: `exec_code` is Docker's exit code
/// for "cannot invoke" (126) or "not found" (127) when that was the cause.
#[derive(Debug)]
pub struct StartFailure {
    pub message: String,
    pub exec_code: Option<i32>,
}

/// The stdio a new process gets: pipes' child ends, or a console socket
/// (for a TTY) on which libcontainer sends back the pty master.
pub enum Stdio {
    Pipes { stdin: OwnedFd, stdout: OwnedFd, stderr: OwnedFd },
    Console { socket: PathBuf },
}

fn ensure_single_threaded() -> Result<(), StartFailure> {
    let n = std::fs::read_dir("/proc/self/task").map(|d| d.count()).unwrap_or(0);
    if n != 1 {
        return Err(StartFailure {
            message: format!("the shim has {n} threads: refusing to clone a container from it"),
            exec_code: None,
        });
    }
    Ok(())
}

fn builder(id: &str, lc_root: &Path, stdio: Stdio) -> Result<ContainerBuilder, StartFailure> {
    let b = ContainerBuilder::new(id.to_string(), SyscallType::default())
        .with_root_path(lc_root)
        .map_err(|e| other(e.to_string()))?;
    Ok(match stdio {
        Stdio::Pipes { stdin, stdout, stderr } => b.with_stdin(stdin).with_stdout(stdout).with_stderr(stderr),
        Stdio::Console { socket } => b.with_console_socket(Some(socket)),
    })
}

fn other(message: String) -> StartFailure {
    StartFailure { message, exec_code: None }
}

/// Creates the container from the bundle `dir` and starts it: its init's
/// host pid. libcontainer runs `dir/lc-bundle/config.json`: the bundle's
/// spec without its seccomp profile, which [`SeccompExecutor`] loads.
pub fn create_and_start(id: &str, dir: &Path, stdio: Stdio) -> Result<i32, StartFailure> {
    ensure_single_threaded()?;
    let mut spec =
        Spec::load(dir.join("config.json")).map_err(|e| other(format!("the container's config.json: {e}")))?;
    let mut process =
        spec.process().clone().ok_or_else(|| other("the container's config.json has no process".into()))?;
    let executor = seccomp_plan(&spec, &mut process, dir)?;
    spec.set_process(Some(process));
    if let Some(mut linux) = spec.linux().clone() {
        linux.set_seccomp(None);
        spec.set_linux(Some(linux));
    }
    let bundle = dir.join("lc-bundle");
    std::fs::create_dir_all(&bundle).map_err(|e| other(format!("create {}: {e}", bundle.display())))?;
    spec.save(bundle.join("config.json")).map_err(|e| other(format!("write libcontainer's config.json: {e}")))?;
    let mut container = builder(id, &dir.join("lc"), stdio)?
        .with_executor(executor)
        .as_init(&bundle)
        .with_systemd(false)
        .with_detach(true)
        .build()
        .map_err(|e| classify(&e.to_string()))?;
    if has_new_network_namespace(&spec)
        && let Some(pid) = container.pid()
    {
        loopback_up(pid.as_raw());
    }
    container.start().map_err(|e| classify(&e.to_string()))?;
    container.pid().map(|p| p.as_raw()).ok_or_else(|| other("the container has no pid after start".into()))
}

/// The spec asks for a network namespace of the container's own (no path:
/// libcontainer makes it), which is what an engine that does not plumb
/// networks gives every container but `--network host`.
fn has_new_network_namespace(spec: &Spec) -> bool {
    let namespaces = spec.linux().as_ref().and_then(|l| l.namespaces().clone()).unwrap_or_default();
    namespaces.iter().any(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network && n.path().is_none())
}

/// A new network namespace's loopback is down; Docker brings it up in
/// every sandbox (`--network none` included), and programs expect
/// 127.0.0.1 to answer. Done between create and start, while the init
/// waits, on a thread that joins the init's namespace (and ends before
/// anything clones again). A failure is logged, not fatal: the container
/// runs as before.
fn loopback_up(pid: i32) {
    let ns = format!("/proc/{pid}/ns/net");
    let done = std::fs::File::open(&ns).and_then(|f| {
        std::thread::spawn(move || {
            nix::sched::setns(std::os::fd::AsFd::as_fd(&f), nix::sched::CloneFlags::CLONE_NEWNET)?;
            crate::loopback::up()
        })
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the loopback thread panicked")))
    });
    if let Err(e) = done {
        tracing::warn!(pid, error = %e, "bringing up the container's loopback");
    }
}

/// How a process of this container gets its seccomp filter: compiled from
/// the bundle's profile (cached for every container of this runtime in
/// `<state root>/.seccomp/`), and CAP_SYS_ADMIN borrowed in `process`'s
/// effective and permitted sets when loading the filter needs it.
fn seccomp_plan(spec: &Spec, process: &mut Process, dir: &Path) -> Result<SeccompExecutor, StartFailure> {
    let Some(profile) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok(SeccompExecutor { filter: None, drop_borrowed: false });
    };
    let cache = dir.parent().unwrap_or(dir).join(".seccomp");
    let filter = Filter::for_profile(&profile, &cache).map_err(|e| other(e.to_string()))?;
    let sys_admin = parse_capability(BORROWED_CAPABILITY).ok_or_else(|| other("CAP_SYS_ADMIN unknown".into()))?;
    let mut set = process.capabilities().clone().unwrap_or_default();
    let has_it = set.effective().as_ref().is_some_and(|e| e.contains(&sys_admin));
    let nnp = process.no_new_privileges().unwrap_or(false);
    let drop_borrowed = !has_it && !nnp;
    if drop_borrowed {
        let mut effective = set.effective().clone().unwrap_or_default();
        effective.insert(sys_admin);
        let mut permitted = set.permitted().clone().unwrap_or_default();
        permitted.insert(sys_admin);
        set.set_effective(Some(effective)).set_permitted(Some(permitted));
        process.set_capabilities(Some(set));
    }
    Ok(SeccompExecutor { filter: Some(filter), drop_borrowed })
}

/// What `docker exec` runs.
pub struct ExecSpec {
    pub args: Vec<String>,
    pub env: HashMap<String, String>,
    pub cwd: Option<PathBuf>,
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// All capabilities (`--privileged`); None keeps the container's.
    pub capabilities: Option<Vec<Capability>>,
}

pub fn exec(id: &str, dir: &Path, stdio: Stdio, spec: ExecSpec) -> Result<i32, StartFailure> {
    ensure_single_threaded()?;
    let init = Spec::load(dir.join("config.json")).map_err(|e| other(format!("the container's config.json: {e}")))?;
    // The whole process goes to a process.json (the tenant builder takes
    // `terminal` only from there, and its flag-built process cannot hold the
    // borrowed capability that loading seccomp needs).
    let (process, executor) = exec_process(&init, &spec, matches!(stdio, Stdio::Console { .. }), dir)?;
    let path = match &stdio {
        Stdio::Console { socket } => {
            let mut p = socket.as_os_str().to_owned();
            p.push(".json");
            PathBuf::from(p)
        }
        Stdio::Pipes { .. } => dir.join("exec.json"),
    };
    let json = serde_json::to_vec(&process).map_err(|e| other(format!("exec process: {e}")))?;
    std::fs::write(&path, json).map_err(|e| other(format!("write {}: {e}", path.display())))?;
    let result = builder(id, &dir.join("lc"), stdio)?
        .with_executor(executor)
        .as_tenant()
        .with_detach(true)
        .with_process(Some(&path))
        .build()
        .map(|p| p.as_raw())
        .map_err(|e| classify(&e.to_string()));
    let _ = std::fs::remove_file(&path);
    result
}

/// The OCI process of an exec: the container's own (so its rlimits,
/// no_new_privileges and capabilities carry over) with the exec's args,
/// env, cwd, user and terminal; and the executor that gives it the
/// container's seccomp profile.
fn exec_process(
    init: &Spec,
    spec: &ExecSpec,
    terminal: bool,
    dir: &Path,
) -> Result<(Process, SeccompExecutor), StartFailure> {
    let mut process =
        init.process().clone().ok_or_else(|| other("the container's config.json has no process".into()))?;
    let mut env: Vec<String> = process
        .env()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|kv| !spec.env.contains_key(kv.split('=').next().unwrap_or("")))
        .collect();
    let mut extra: Vec<String> = spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    extra.sort();
    env.extend(extra);
    let user = UserBuilder::default()
        .uid(spec.uid)
        .gid(spec.gid)
        .additional_gids(spec.additional_gids.clone())
        .build()
        .map_err(|e| other(format!("exec user: {e}")))?;
    process
        .set_terminal(Some(terminal))
        .set_console_size(None)
        .set_args(Some(spec.args.clone()))
        .set_env(Some(env))
        .set_user(user);
    if let Some(cwd) = &spec.cwd {
        process.set_cwd(cwd.clone());
    }
    let mut set = process.capabilities().clone().unwrap_or_default();
    if let Some(caps) = &spec.capabilities {
        // As libcontainer's tenant builder: the extra capabilities join the
        // bounding, effective and permitted sets; inheritable and ambient stay.
        let extra: HashSet<Capability> = caps.iter().copied().collect();
        let join = |s: &Option<HashSet<Capability>>| s.clone().unwrap_or_default().union(&extra).copied().collect();
        let (b, e, p) = (join(set.bounding()), join(set.effective()), join(set.permitted()));
        set.set_bounding(Some(b)).set_effective(Some(e)).set_permitted(Some(p));
    }
    process.set_capabilities(Some(set));
    let executor = seccomp_plan(init, &mut process, dir)?;
    Ok((process, executor))
}

fn parse_capability(name: &str) -> Option<Capability> {
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok()
}

/// Docker's texts and codes for an entrypoint that cannot be run.
fn classify(err: &str) -> StartFailure {
    if let Some(name) = between(err, "executable '", "' not found in $PATH") {
        return StartFailure {
            message: format!("exec: \"{name}\": executable file not found in $PATH"),
            exec_code: Some(127),
        };
    }
    if let Some(name) = between(err, "executable '", "' at path") {
        return StartFailure { message: format!("exec: \"{name}\": permission denied"), exec_code: Some(126) };
    }
    if err.contains("No such file or directory") && err.contains("execvp") {
        return StartFailure { message: format!("exec failed: {err}"), exec_code: Some(127) };
    }
    if err.contains("Permission denied") && err.contains("execvp") {
        return StartFailure { message: format!("exec failed: {err}"), exec_code: Some(126) };
    }
    other(err.to_string())
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = s.find(start)? + start.len();
    let len = s[from..].find(end)?;
    Some(&s[from..from + len])
}

fn load(id: &str, dir: &Path) -> Result<Container, String> {
    Container::load(dir.join("lc").join(id)).map_err(|e| e.to_string())
}

pub fn pause(id: &str, dir: &Path) -> Result<(), String> {
    load(id, dir)?.pause().map_err(|e| e.to_string())
}

pub fn resume(id: &str, dir: &Path) -> Result<(), String> {
    load(id, dir)?.resume().map_err(|e| e.to_string())
}

fn manager(id: &str) -> Result<libcgroups::common::AnyCgroupManager, String> {
    libcgroups::common::create_cgroup_manager(CgroupConfig {
        cgroup_path: PathBuf::from(crate::runtime::spec::cgroup_path(id)),
        systemd_cgroup: false,
        container_name: id.to_string(),
    })
    .map_err(|e| e.to_string())
}

pub fn pids(id: &str) -> Result<Vec<i32>, String> {
    let mut p: Vec<i32> =
        manager(id)?.get_all_pids().map_err(|e| e.to_string())?.into_iter().map(|p| p.as_raw()).collect();
    p.sort_unstable();
    Ok(p)
}

pub fn stats(id: &str) -> Result<CgroupStats, String> {
    let host_mem = host_memory();
    if crate::runtime::spec::cgroup_v2() {
        let rel = crate::runtime::spec::cgroup_path(id);
        let dir = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
        if !dir.is_dir() {
            return Err(format!("no cgroup {}", dir.display()));
        }
        let mut s = super::stats_v2::read(&dir, host_mem);
        s.system_cpu_ns = system_cpu_ns();
        s.online_cpus = online_cpus();
        return Ok(s);
    }
    let s = manager(id)?.stats().map_err(|e| e.to_string())?;
    let limit = s.memory.memory.limit;
    Ok(CgroupStats {
        read_at: Some(std::time::SystemTime::now()),
        cpu_total_ns: s.cpu.usage.usage_total,
        cpu_user_ns: s.cpu.usage.usage_user,
        cpu_system_ns: s.cpu.usage.usage_kernel,
        cpu_percpu_ns: s.cpu.usage.per_core_usage_total.clone(),
        system_cpu_ns: system_cpu_ns(),
        online_cpus: online_cpus(),
        throttling_periods: s.cpu.throttling.periods,
        throttled_periods: s.cpu.throttling.throttled_periods,
        throttled_time_ns: s.cpu.throttling.throttled_time,
        memory_usage: s.memory.memory.usage,
        memory_limit: if limit == 0 || limit > host_mem { host_mem } else { limit },
        memory_max_usage: s.memory.memory.max_usage,
        memory_stats: s.memory.stats.into_iter().collect(),
        pids_current: s.pids.current,
        pids_limit: s.pids.limit,
        blkio_service_bytes: s
            .blkio
            .service_bytes
            .into_iter()
            .map(|d| BlkioEntry {
                major: d.major,
                minor: d.minor,
                op: d.op_type.unwrap_or_default().to_ascii_lowercase(),
                value: d.value,
            })
            .collect(),
    })
}

/// Host CPU time since boot in nanoseconds, from /proc/stat's `cpu` line.
fn system_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    // SAFETY: sysconf has no memory effects.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let ticks: u64 = line.split_whitespace().skip(1).take(8).filter_map(|v| v.parse::<u64>().ok()).sum();
    ticks.saturating_mul(1_000_000_000 / hz)
}

fn online_cpus() -> u32 {
    // SAFETY: sysconf has no memory effects.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    u32::try_from(n).unwrap_or(1).max(1)
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(u64::MAX, |kb| kb * 1024)
}

/// Did the cgroup's OOM killer kill something in it? v2: `memory.events`
/// `oom_kill`; v1: `memory.oom_control`'s `oom_kill` (kernels ≥ 4.13).
pub fn oom_killed(id: &str) -> bool {
    let rel = crate::runtime::spec::cgroup_path(id);
    let rel = rel.trim_start_matches('/');
    let v2 = Path::new("/sys/fs/cgroup").join(rel).join("memory.events");
    let v1 = Path::new("/sys/fs/cgroup/memory").join(rel).join("memory.oom_control");
    for p in [v2, v1] {
        if let Ok(text) = std::fs::read_to_string(&p) {
            return text.lines().any(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some("oom_kill") && w.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) > 0
            });
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_get_dockers_codes_and_text() {
        let f = classify("failed to create container: exec error: executable 'foo' not found in $PATH");
        assert_eq!((f.exec_code, f.message.as_str()), (Some(127), "exec: \"foo\": executable file not found in $PATH"));
        let f = classify("executable '/etc' at path '\"/etc\"' does not have correct permissions");
        assert_eq!(f.exec_code, Some(126));
        assert_eq!(classify("cgroup failure").exec_code, None);
    }
}
