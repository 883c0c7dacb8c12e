//! The runtime against the real kernel: busybox containers under real
//! shims, namespaces, cgroups and overlayfs. Needs root (as CI runs).

mod interactive;
mod leaks;
mod lifecycle;
mod security;
mod unreachable;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bollard_stubs::models::{ContainerConfig, HostConfig, ImageConfig};
use tokio::io::AsyncReadExt;

use super::{AttachIo, ContainerRequest, Runtime};

/// A one-layer busybox rootfs built from Debian's static busybox, shared by
/// every test of this process (it is only ever a lower layer).
pub fn busybox_layer() -> &'static Path {
    static LAYER: OnceLock<tempfile::TempDir> = OnceLock::new();
    LAYER
        .get_or_init(|| {
            let d = tempfile::tempdir().expect("tempdir");
            let root = d.path();
            for sub in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
                std::fs::create_dir_all(root.join(sub)).expect("mkdir");
            }
            std::fs::copy("/bin/busybox", root.join("bin/busybox")).expect("Debian's busybox-static at /bin/busybox");
            let list = std::process::Command::new("/bin/busybox").arg("--list").output().expect("busybox --list");
            for applet in String::from_utf8_lossy(&list.stdout).lines() {
                if applet != "busybox" {
                    let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
                }
            }
            std::fs::write(
                root.join("etc/passwd"),
                "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            )
            .expect("passwd");
            std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
            d
        })
        .path()
}

/// The agent binary that runs as the shim: the test harness itself is not
/// it. Cargo builds it next to the test binary's `deps/` directory.
pub fn agent_exe() -> PathBuf {
    let me = std::env::current_exe().expect("current_exe");
    let p = me.parent().and_then(Path::parent).map(|d| d.join("berth-agent")).expect("target dir");
    assert!(p.exists(), "{} missing: build it with `cargo build -p berth-agent`", p.display());
    p
}

pub fn new_id() -> String {
    let mut b = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").expect("urandom"), &mut b).expect("random");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Whether the process at `/proc/PID` has a descriptor open on a file
/// under `dir`.
pub fn holds_a_file_under(proc_dir: &Path, dir: &Path) -> bool {
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(dir)))
}

pub struct Fixture {
    pub rt: Runtime,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let mut dir = tempfile::tempdir().expect("tempdir");
        // BERTH_TEST_KEEP=1 keeps the state (shim.log) of failed tests.
        if std::env::var_os("BERTH_TEST_KEEP").is_some() {
            dir.disable_cleanup(true);
        }
        let rt = Runtime::with_shim_exe(dir.path().join("runtime"), agent_exe()).expect("runtime");
        Fixture { rt, dir }
    }

    pub fn request(&self, cmd: &[&str]) -> ContainerRequest {
        let id = new_id();
        ContainerRequest {
            log_path: Some(self.dir.path().join("logs").join(format!("{id}.log"))),
            rw_dir: None,
            netns: None,
            embedded_dns: false,
            own_addresses: Vec::new(),
            mounts: Vec::new(),
            id,
            name: "test".into(),
            config: ContainerConfig { cmd: Some(cmd.iter().map(|s| s.to_string()).collect()), ..Default::default() },
            host_config: HostConfig::default(),
            image: ImageConfig::default(),
            layers: vec![busybox_layer().to_path_buf()],
        }
    }
}

/// A failed test must not leave its containers behind for the next runs
/// (their overlay mounts make every later read of mountinfo slower, and
/// their cgroups pile up): kill what still runs, unmount, remove cgroups.
impl Drop for Fixture {
    fn drop(&mut self) {
        if std::env::var_os("BERTH_TEST_KEEP").is_some() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.dir.path().join("runtime")) else { return };
        for entry in entries.flatten() {
            let dir = entry.path();
            let id = entry.file_name().to_string_lossy().into_owned();
            if !dir.join("config.json").exists() {
                continue;
            }
            let shim_pid = std::fs::read_to_string(dir.join("shim.pid")).ok().and_then(|p| p.trim().parse().ok());
            // Still this container's shim (not a reused pid): it holds its shim.log.
            let mut pids: Vec<i32> =
                shim_pid.into_iter().filter(|&p| holds_a_file_under(Path::new(&format!("/proc/{p}")), &dir)).collect();
            let rel = crate::runtime::spec::cgroup_path(&id);
            for hierarchy in ["pids", "memory", "unified", ""] {
                let procs =
                    Path::new("/sys/fs/cgroup").join(hierarchy).join(rel.trim_start_matches('/')).join("cgroup.procs");
                pids.extend(
                    std::fs::read_to_string(procs).unwrap_or_default().lines().filter_map(|l| l.parse::<i32>().ok()),
                );
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
            let _ = nix::mount::umount2(&dir.join("rootfs"), nix::mount::MntFlags::MNT_DETACH);
            // The killed processes leave their cgroups within moments.
            for _ in 0..20 {
                crate::runtime::shim::teardown::delete_container(&id, &dir);
                if !Path::new("/sys/fs/cgroup/memory").join(rel.trim_start_matches('/')).exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        }
    }
}

/// Reads Docker frames until EOF: (stdout, stderr).
pub async fn read_frames(mut io: AttachIo) -> (String, String) {
    let mut all = Vec::new();
    io.read_to_end(&mut all).await.expect("read attach stream");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut rest = all.as_slice();
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        assert!(rest.len() >= 8 + len, "truncated frame");
        let payload = &rest[8..8 + len];
        match rest[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            s => panic!("unexpected stream {s}"),
        }
        rest = &rest[8 + len..];
    }
    assert!(rest.is_empty(), "trailing bytes after frames");
    (String::from_utf8_lossy(&out).into_owned(), String::from_utf8_lossy(&err).into_owned())
}

pub const OUT_ERR: crate::runtime::AttachStreams =
    crate::runtime::AttachStreams { stdin: false, stdout: true, stderr: true };

/// Runs a request to its end: (exit code, stdout, stderr, oom_killed).
pub async fn run(f: &Fixture, req: ContainerRequest) -> (i32, String, String, bool) {
    let shim = f.rt.create(req).await.expect("create");
    let io = shim.attach(OUT_ERR).await.expect("attach");
    shim.start().await.expect("start");
    let (out, err) = read_frames(io).await;
    let exit = shim.wait_exit().await.expect("wait");
    shim.delete().await.expect("delete");
    (exit.code, out, err, exit.oom_killed)
}
