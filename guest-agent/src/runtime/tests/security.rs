//! Docker's default confinement, tried from inside a default container.

use super::*;

/// Runs `script` in a default container; its stdout+stderr and exit code.
async fn inside(f: &Fixture, script: &str) -> (i32, String) {
    let (code, out, err, _) = run(f, f.request(&["sh", "-c", script])).await;
    (code, format!("{out}{err}"))
}

#[tokio::test]
async fn a_default_container_cannot_escape() {
    let f = Fixture::new();
    let (code, out) = inside(&f, "mkdir -p /mnt/x && mount -t tmpfs none /mnt/x").await;
    assert_ne!(code, 0, "mount must fail: {out}");

    let (code, out) = inside(&f, "echo 0 > /proc/sys/kernel/sysrq 2>&1; echo h > /proc/sysrq-trigger").await;
    assert_ne!(code, 0, "sysrq-trigger is read-only: {out}");

    // No CAP_SYS_MODULE, and seccomp denies the call: EPERM either way.
    let (code, out) = inside(&f, "insmod /nonexistent.ko").await;
    assert_ne!(code, 0, "{out}");
    let (code, out) = inside(&f, "modprobe dummy").await;
    assert_ne!(code, 0, "{out}");

    // CAP_MKNOD lets it create the node; the device cgroup refuses the open.
    let (code, out) = inside(&f, "mknod /tmp/sda b 8 0 && dd if=/tmp/sda of=/dev/null bs=512 count=1").await;
    assert_ne!(code, 0, "raw block device opened: {out}");

    let (code, out) = inside(&f, "ps -o pid | tail -n +2 | wc -l; cat /proc/1/cmdline | tr '\\0' ' '").await;
    assert_eq!(code, 0, "{out}");
    let mut lines = out.lines();
    let count: usize = lines.next().and_then(|l| l.trim().parse().ok()).expect("a count");
    assert!(count <= 4, "only the container's own processes are visible: {out}");
    assert!(out.contains("sh -c"), "PID 1 is the container's sh: {out}");

    let host_name = nix::unistd::gethostname().expect("hostname");
    let (code, out) = inside(&f, "hostname evil").await;
    assert_ne!(code, 0, "sethostname must fail: {out}");
    assert_eq!(nix::unistd::gethostname().expect("hostname"), host_name, "the host's name is untouched");

    // Masked: /proc/keys and /proc/timer_list (both exist on the host) read
    // as empty files.
    assert!(std::path::Path::new("/proc/timer_list").exists());
    let (code, out) = inside(&f, "cat /proc/keys /proc/timer_list | wc -c").await;
    assert_eq!((code, out.trim()), (0, "0"), "{out}");
}

#[tokio::test]
async fn seccomp_unconfined_and_privileged_relax_it() {
    let f = Fixture::new();
    let mut req = f.request(&["sh", "-c", "mkdir -p /mnt/x && mount -t tmpfs none /mnt/x && echo mounted"]);
    req.host_config.privileged = Some(true);
    let (code, out, err, _) = run(&f, req).await;
    assert_eq!((code, out.as_str()), (0, "mounted\n"), "{err}");

    let mut req = f.request(&["sh", "-c", "grep CapEff /proc/self/status"]);
    req.host_config.cap_drop = Some(vec!["ALL".into()]);
    req.host_config.cap_add = Some(vec!["CHOWN".into()]);
    let (code, out, _, _) = run(&f, req).await;
    assert_eq!((code, out.trim()), (0, "CapEff:\t0000000000000001"));

    let mut req = f.request(&["sh", "-c", "grep NoNewPrivs /proc/self/status"]);
    req.host_config.security_opt = Some(vec!["no-new-privileges".into()]);
    let (code, out, _, _) = run(&f, req).await;
    assert_eq!((code, out.trim()), (0, "NoNewPrivs:\t1"));

    let mut req = f.request(&["sh", "-c", "grep Seccomp: /proc/self/status"]);
    req.host_config.security_opt = Some(vec!["seccomp=unconfined".into()]);
    let (code, out, _, _) = run(&f, req).await;
    assert_eq!((code, out.trim()), (0, "Seccomp:\t0"));
    let (code, out, _, _) = run(&f, f.request(&["sh", "-c", "grep Seccomp: /proc/self/status"])).await;
    assert_eq!((code, out.trim()), (0, "Seccomp:\t2"), "filtered by default");
}

#[tokio::test]
async fn pids_limit_stops_forks_and_memory_limit_ooms() {
    let f = Fixture::new();
    let mut req = f.request(&["sh", "-c", "i=0; while [ $i -lt 40 ]; do sleep 1 & i=$((i+1)); done; wait"]);
    req.host_config.pids_limit = Some(10);
    let (code, out, err, _) = run(&f, req).await;
    assert!(err.contains("can't fork"), "forks beyond the limit fail: {code} {out} {err}");

    let mut req = f.request(&["sh", "-c", "dd if=/dev/zero bs=1M count=200 | cat > /dev/shm/fill; tail /dev/zero"]);
    req.host_config.memory = Some(32 << 20);
    req.host_config.shm_size = Some(512 << 20);
    let (code, _, _, oom) = run(&f, req).await;
    assert_eq!(code, 137, "killed");
    assert!(oom, "OOMKilled");

    let mut req = f.request(&["sh", "-c", "touch /x"]);
    req.host_config.readonly_rootfs = Some(true);
    let (code, _, err, _) = run(&f, req).await;
    assert_ne!(code, 0, "read-only rootfs: {err}");
}

#[tokio::test]
async fn binds_tmpfs_user_and_workdir() {
    let f = Fixture::new();
    let host = tempfile::tempdir().expect("tempdir");
    std::fs::write(host.path().join("in"), "from host").expect("write");
    let mut req =
        f.request(&["sh", "-c", "cat /data/in; echo x > /data/out; id -u; pwd; grep -c /scratch /proc/mounts"]);
    req.host_config.binds = Some(vec![format!("{}:/data", host.path().display())]);
    req.host_config.tmpfs = Some([("/scratch".to_string(), "size=1m".to_string())].into());
    req.config.user = Some("nobody".into());
    req.config.working_dir = Some("/work/dir".into());
    std::os::unix::fs::chown(host.path(), Some(65534), Some(65534)).expect("chown");
    let (code, out, err, _) = run(&f, req).await;
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out, "from host65534\n/work/dir\n1\n");
    assert_eq!(std::fs::read_to_string(host.path().join("out")).expect("written through the bind"), "x\n");

    let mut req = f.request(&["true"]);
    req.config.user = Some("ghost".into());
    let err = f.rt.create(req).await.expect_err("unknown user");
    assert!(err.to_string().contains("unable to find user ghost"), "{err}");
}

/// `--network host`: the host's /sys (its network devices show), bound
/// without its submounts and read-only.
#[tokio::test]
async fn host_network_sees_the_hosts_sys_read_only() {
    let f = Fixture::new();
    let host_nets: Vec<String> = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    let mut req =
        f.request(&["sh", "-c", "ls /sys/class/net; touch /sys/kernel/x 2>/dev/null && echo WRITABLE || echo ro"]);
    req.host_config.network_mode = Some("host".into());
    let (code, out, err, _) = run(&f, req).await;
    assert_eq!(code, 0, "{out} {err}");
    for n in &host_nets {
        assert!(out.lines().any(|l| l == n), "host interface {n} visible: {out}");
    }
    assert!(out.ends_with("ro\n"), "{out}");
    // The default network namespace has only its loopback.
    let (_, out, _, _) = run(&f, f.request(&["ls", "/sys/class/net"])).await;
    assert_eq!(out, "lo\n");
}
