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

/// `--sysctl` sets namespaced kernel parameters in the container's own
/// namespaces (IPC and network here), and only there, as Docker's do.
#[tokio::test]
async fn sysctls_are_set_in_the_containers_namespaces() {
    let f = Fixture::new();
    let host_shmmni = std::fs::read_to_string("/proc/sys/kernel/shmmni").expect("host shmmni");
    let mut req = f.request(&["sh", "-c", "cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward"]);
    req.host_config.sysctls = Some(
        [("kernel.shmmni".to_string(), "1234".to_string()), ("net.ipv4.ip_forward".to_string(), "1".to_string())]
            .into(),
    );
    let (code, out, err, _) = run(&f, req).await;
    assert_eq!((code, out.as_str()), (0, "1234\n1\n"), "{err}");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/shmmni").expect("host shmmni"),
        host_shmmni,
        "the host's untouched"
    );
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
    req.mounts = vec![crate::runtime::spec::UserMount::bind(host.path(), "/data", false)];
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

/// The profile used where no device cgroup exists (cgroup v2), loaded by
/// libcontainer for real here (on this v1 host it is not the default):
/// FIFOs and regular files may still be made, device nodes not; and the
/// rootfs is nodev, so a node that got there anyway (an image layer)
/// would not open either.
#[tokio::test]
async fn the_v2_profile_refuses_device_nodes_and_keeps_fifos() {
    let f = Fixture::new();
    let script = "mkfifo /tmp/f && echo fifo; mknod /dev/c c 1 3 2>&1 || echo no-char; \
                  mknod /dev/b b 7 0 2>&1 || echo no-block; grep -c ' / overlay .*nodev' /proc/mounts";
    let req = f.request(&["sh", "-c", script]);
    let shim = f.rt.create(req).await.expect("create");
    let cfg_path = f.rt.container_dir(shim.id()).join("config.json");
    let mut spec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&cfg_path).expect("config.json")).expect("json");
    let caps: Vec<oci_spec::runtime::Capability> =
        serde_json::from_value(spec["process"]["capabilities"]["bounding"].clone()).expect("caps");
    assert!(caps.contains(&oci_spec::runtime::Capability::Mknod), "Docker's default keeps CAP_MKNOD");
    let profile = crate::runtime::spec::seccomp::default_profile(&caps, true).expect("profile");
    spec["linux"]["seccomp"] = serde_json::to_value(profile).expect("encode");
    std::fs::write(&cfg_path, serde_json::to_vec(&spec).expect("encode")).expect("write");
    let io = shim.attach(OUT_ERR).await.expect("attach");
    shim.start().await.expect("start");
    let (out, err) = read_frames(io).await;
    let exit = shim.wait_exit().await.expect("wait");
    shim.delete().await.expect("delete");
    assert_eq!(exit.code, 0, "{out} {err}");
    assert!(out.starts_with("fifo\n"), "{out}");
    assert!(out.contains("no-char") && out.contains("no-block"), "device nodes refused: {out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.ends_with("1\n"), "the rootfs is nodev: {out}");
}

/// `docker exec` gets the container's confinement too: its seccomp filter
/// (libcontainer's tenant path alone would drop it) and its capabilities,
/// with nothing left of the CAP_SYS_ADMIN borrowed to load the filter; a
/// container that was given CAP_SYS_ADMIN keeps it in its execs.
#[tokio::test]
async fn exec_gets_the_containers_seccomp_filter_and_capabilities() {
    let f = Fixture::new();
    let exec_status = async |shim: &crate::runtime::Shim, id: &str, user: &str| {
        let req = crate::runtime::ExecRequest {
            cmd: vec![
                "sh".into(),
                "-c".into(),
                "grep -E '^(Seccomp|CapEff|CapPrm|CapBnd):' /proc/self/status; \
                     mkdir -p /mnt/y && mount -t tmpfs none /mnt/y 2>&1 && echo MOUNTED; true"
                    .into(),
            ],
            user: user.into(),
            attach: OUT_ERR,
            ..Default::default()
        };
        let (handle, io) = shim.exec(id, req).await.expect("exec");
        let (out, err) = read_frames(io).await;
        assert_eq!(handle.wait_exit().await.expect("exec exit").code, 0, "{out}{err}");
        out
    };
    let field = |out: &str, name: &str| -> String {
        out.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string()).unwrap_or_default()
    };
    let sys_admin = 1u64 << 21;

    let shim = f.rt.create(f.request(&["sleep", "100"])).await.expect("create");
    shim.start().await.expect("start");
    for (id, user) in [("root", ""), ("nobody", "65534")] {
        let out = exec_status(&shim, id, user).await;
        assert_eq!(field(&out, "Seccomp:"), "2", "{user:?}: filtered like the container: {out}");
        for set in ["CapEff:", "CapPrm:", "CapBnd:"] {
            let caps = u64::from_str_radix(&field(&out, set), 16).expect("a capability mask");
            assert_eq!(caps & sys_admin, 0, "{user:?}: no CAP_SYS_ADMIN in {set} {out}");
        }
        assert!(!out.contains("MOUNTED"), "{user:?}: mount refused: {out}");
    }
    shim.kill(libc::SIGKILL).await.expect("kill");
    shim.wait_exit().await.expect("wait");
    shim.delete().await.expect("delete");

    let mut req = f.request(&["sleep", "100"]);
    req.host_config.cap_add = Some(vec!["SYS_ADMIN".into()]);
    let shim = f.rt.create(req).await.expect("create");
    shim.start().await.expect("start");
    let out = exec_status(&shim, "admin", "").await;
    assert_eq!(field(&out, "Seccomp:"), "2", "{out}");
    let caps = u64::from_str_radix(&field(&out, "CapEff:"), 16).expect("a capability mask");
    assert_ne!(caps & sys_admin, 0, "the container's own CAP_SYS_ADMIN stays: {out}");
    assert!(out.contains("MOUNTED"), "with CAP_SYS_ADMIN the profile allows mount: {out}");
    shim.kill(libc::SIGKILL).await.expect("kill");
    shim.wait_exit().await.expect("wait");
    shim.delete().await.expect("delete");
}
