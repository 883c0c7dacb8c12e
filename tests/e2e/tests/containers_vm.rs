//! Containers inside a berth machine on real KVM (the test bed), with the
//! real docker CLI: the engine's core on the guest's cgroup v2 (run, exit
//! codes, logs, exec, ps, pause through the v2 freezer, stats from v2
//! files, stop/kill/wait/rm, memory limit → OOMKilled from memory.events,
//! pids limit), published ports answered on the test bed's side (the
//! machine's host), user networks (DNS by name and alias, isolation
//! between networks, `container:` and `none`), egress through the
//! machine's uplink (passt) to the test bed's loopback, `host-gateway`
//! naming the user's host, and Docker's confinement in
//! the VM (mount, module load, sysrq, raw block device with and without
//! seccomp, PIDs, hostname), and
//! `docker cp`'s symlink-swap race (CVE-2018-15664) closed in the VM: 300
//! PUT/GET rounds through the machine's docker.sock against a container
//! swapping a directory for a symlink to `/`; and `docker build` in the
//! machine (`scripts/build_steps.sh`): every kind of step, the cache,
//! `--target`, `--build-arg`, `-f` outside the context, a failing RUN;
//! and host folders over virtio-fs (`scripts/shares_steps.sh`), driven by
//! an unprivileged user: `-v "$PWD":/src` both ways with the user's
//! ownership, a read-only share, a path outside every share, host edits,
//! virtiofsd killed with -9, a stop/start.
//!
//! One test-bed run; every step prints a `key: value` line that the
//! assertions read, so a failure shows the whole console.

use std::time::Duration;

use xtask::testbed::{self, Options};

const SCRIPT: &str = r#"
set -e
# The test bed has no network: a veth pair with the default route gives
# passt (the machine's uplink) an interface to call the way out; nothing
# leaves the test bed.
ip link add bup0 type veth peer name bup1
ip addr add 192.0.2.1/24 dev bup0 && ip link set bup0 up && ip link set bup1 up
ip route add default via 192.0.2.254 dev bup0
mkdir -p /tmp/hw && echo hello-from-host > /tmp/hw/index.html
busybox httpd -p 127.0.0.1:18181 -h /tmp/hw
# No shares here (private guest RAM): the shares' steps run in a machine
# of their own, of an unprivileged user, below.
berth machine create --cpus 2 --memory 768M --disk 2G --no-mounts m
berth machine start m
eval "$(berth docker-env --machine m)"
docker load -i "$BERTH_FIXTURE_BUSYBOX" >/dev/null
echo "cgroupfs: $(berth machine shell m -- awk '$2 == "/sys/fs/cgroup" { print $3 }' /proc/mounts)"
disk=$(berth machine shell m -- sh -c 'for d in /sys/block/vd*; do cat $d/dev; break; done')
echo "vm disk: $disk"
echo "vm resolv: $(berth machine shell m -- grep nameserver /etc/resolv.conf)"

echo "run: $(docker run --rm busybox echo hi)"
echo "berth run: $(berth --machine m run --rm busybox echo hi)"
rc=0; docker run --rm busybox sh -c 'exit 3' || rc=$?; echo "exit code: $rc"
rc=0; docker run --rm busybox no-such-cmd 2>/dev/null || rc=$?; echo "not found: $rc"

docker run -d --name d1 busybox sh -c 'echo started; while true; do echo tick; sleep 1; done' >/dev/null
sleep 2
echo "ps: $(docker ps -a --format '{{.Names}}={{.State}}' | tr '\n' ' ')"
echo "logs: $(docker logs d1 | head -n 1)"
echo "exec: $(docker exec d1 sh -c 'echo in-$(hostname | cut -c1-4)')"
rc=0; docker exec d1 sh -c 'exit 5' || rc=$?; echo "exec exit: $rc"
echo "exec seccomp: $(docker exec d1 sh -c 'grep Seccomp: /proc/self/status | tr -d "\t "')"
id=$(docker inspect -f '{{.Id}}' d1)
docker pause d1 >/dev/null
echo "paused: $(docker inspect -f '{{.State.Status}}' d1) $(berth machine shell m -- grep frozen /sys/fs/cgroup/berth/$id/cgroup.events)"
docker unpause d1 >/dev/null
echo "unpaused: $(docker inspect -f '{{.State.Status}}' d1)"
echo "stats: $(docker stats --no-stream --format '{{.Name}} {{.PIDs}} {{.MemUsage}}' d1)"
echo "pids file: $(berth machine shell m -- cat /sys/fs/cgroup/berth/$id/pids.current)"
docker stop -t 1 d1 >/dev/null
echo "stopped: $(docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' d1)"
docker start d1 >/dev/null
docker kill d1 >/dev/null
echo "wait: $(docker wait d1)"
docker rm -f d1 >/dev/null
echo "after rm: $(docker ps -a -q | wc -l) cgroup=$(berth machine shell m -- sh -c "test -d /sys/fs/cgroup/berth/$id && echo left || echo gone")"

web="mkdir -p /w && echo hello-from-web > /w/index.html && exec httpd -f -p 8080 -h /w"
docker run -d --name web -p 127.0.0.1:18080:8080 busybox sh -c "$web" >/dev/null
docker run -d --name web2 --expose 8080 -P busybox sh -c "$web" >/dev/null
sleep 2
echo "published: $(curl -s --max-time 10 http://127.0.0.1:18080/index.html)"
echo "port: $(docker port web 8080/tcp)"
p2=$(docker port web2 8080/tcp | head -n 1 | sed 's/.*://')
echo "random port: $(curl -s --max-time 10 "http://127.0.0.1:$p2/index.html")"
rc=0; out=$(docker run -d --name web-dup -p 127.0.0.1:18080:8080 busybox sleep 30 2>&1) || rc=$?
echo "in use: $rc $(echo "$out" | grep -o 'Bind for 127.0.0.1:18080 failed: port is already allocated' | head -n 1) $(docker inspect -f '{{.State.Status}}' web-dup)"
docker stop -t 1 web >/dev/null
rc=0; curl -s --max-time 5 http://127.0.0.1:18080/ >/dev/null || rc=$?
echo "after stop: $rc"
docker start web >/dev/null; sleep 2
echo "restarted: $(curl -s --max-time 10 http://127.0.0.1:18080/index.html)"
docker rm -f web web2 web-dup >/dev/null
rc=0; curl -s --max-time 5 "http://127.0.0.1:$p2/" >/dev/null || rc=$?
echo "after rm: $rc"

docker network create n1 >/dev/null
docker run -d --name srv --network n1 --network-alias web busybox sh -c "$web" >/dev/null
get="timeout 5 wget -qO- http://\$0:8080/index.html; exit \$?"
echo "by name: $(docker run --rm --network n1 busybox sh -c "$get" srv 2>&1)"
echo "by alias: $(docker run --rm --network n1 busybox sh -c "$get" web 2>&1)"
srv_ip=$(docker inspect -f '{{.NetworkSettings.Networks.n1.IPAddress}}' srv)
echo "bridge by address: $(docker run --rm busybox sh -c "$get" "$srv_ip" 2>&1 | head -c 40)"
docker network create n2 >/dev/null
rc=0; docker run --rm --network n2 busybox sh -c "$get" "$srv_ip" >/dev/null 2>&1 || rc=$?
echo "n2 to n1: $rc"
echo "shared stack: $(docker run --rm --network container:srv busybox sh -c "$get" 127.0.0.1 2>&1)"
echo "none: $(docker run --rm --network none busybox ls /sys/class/net | tr '\n' ' ')"
docker rm -f srv >/dev/null
docker network rm n1 n2 >/dev/null
host_get="timeout 10 wget -qO- http://\$0:18181/index.html; exit \$?"
echo "egress to the host: $(docker run --rm busybox sh -c "$host_get" 10.0.2.2 2>&1)"
echo "host-gateway: $(docker run --rm --add-host hg:host-gateway busybox sh -c "$host_get" hg 2>&1)"
docker network create --internal ni >/dev/null
rc=0; docker run --rm --network ni busybox sh -c "$host_get" 10.0.2.2 >/dev/null 2>&1 || rc=$?
echo "internal egress: $rc"
docker network rm ni >/dev/null
for i in 1 2 3 4 5 6 7 8 9 10; do
  veths=$(berth machine shell m -- sh -c 'ls /sys/class/net | grep -c ^veth || true')
  [ "$veths" = 0 ] && break; sleep 1
done
echo "veths left: $veths"

rc=0; docker run --name oom -m 16m busybox sh -c 'tail /dev/zero' || rc=$?
echo "oom: $rc $(docker inspect -f '{{.State.OOMKilled}}' oom)"
docker rm oom >/dev/null
echo "pids limit: $(docker run --rm --pids-limit 8 busybox sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 3 & done; wait' 2>&1 | grep -c "can't fork" || true)"

echo "mount: $(docker run --rm busybox sh -c 'mount -t tmpfs none /mnt >/dev/null 2>&1 && echo MOUNTED || echo refused')"
echo "module: $(docker run --rm busybox sh -c 'modprobe loop 2>&1 || insmod /x.ko 2>&1 || echo refused' | tail -n 1)"
echo "sysrq: $(docker run --rm busybox sh -c 'echo h > /proc/sysrq-trigger 2>/dev/null && echo WRITTEN || echo refused')"
maj=${disk%:*}; min=${disk#*:}
raw="mknod /dev/d b $maj $min 2>/dev/null && dd if=/dev/d of=/dev/null bs=512 count=1 2>/dev/null && echo OPENED || echo refused"
echo "raw block: $(docker run --rm busybox sh -c "$raw")"
echo "raw block unconfined: $(docker run --rm --security-opt seccomp=unconfined busybox sh -c "$raw")"
rootraw="mknod /d b $maj $min 2>/dev/null && dd if=/d of=/dev/null bs=512 count=1 2>/dev/null && echo OPENED || echo refused"
echo "raw block on rootfs unconfined: $(docker run --rm --security-opt seccomp=unconfined busybox sh -c "$rootraw")"
echo "raw block privileged: $(docker run --rm --privileged busybox sh -c "$raw")"
devtmpfs='mkdir -p /m && mount -t devtmpfs none /m || exit 0; for d in /m/vd*; do dd if=$d of=/dev/null bs=512 count=1 2>/dev/null && echo OPENED && exit 0; done; echo refused'
echo "devtmpfs with SYS_ADMIN: $(docker run --rm --cap-add SYS_ADMIN busybox sh -c "$devtmpfs" 2>&1 | tail -n 1)"
echo "fifo: $(docker run --rm busybox sh -c 'mkfifo /tmp/f && echo made')"
echo "pids seen: $(docker run --rm busybox sh -c 'ls -d /proc/[0-9]* | wc -l')"
vmname=$(berth machine shell m -- hostname)
rc=0; docker run --rm busybox hostname evil 2>/dev/null || rc=$?
echo "hostname: $rc $( [ "$(berth machine shell m -- hostname)" = "$vmname" ] && echo kept || echo CHANGED)"
echo "host network sys: $(docker run --rm --network host busybox sh -c 'ls /sys/kernel/debug 2>/dev/null | wc -l; touch /sys/x 2>/dev/null && echo WRITABLE || echo ro')" | tr '\n' ' '
echo

"#;

/// The cp race's steps, shared with the by-hand `scripts/cp_race_vm.sh`;
/// they run in the machine named by `$machine`.
const CP_RACE: &str = include_str!("../scripts/cp_race_steps.sh");
/// `docker build` against the machine named by `$machine`.
const BUILD: &str = include_str!("../scripts/build_steps.sh");
/// What a failing step prints about the machine before the script exits.
const DIAGNOSTICS: &str = include_str!("../scripts/machine_diagnostics.sh");
/// Host folders: root's part (the user, read access to the images)...
const SHARES: &str = include_str!("../scripts/shares_steps.sh");
/// ... and what the user runs.
const SHARES_USER: &str = include_str!("../scripts/shares_user_steps.sh");

/// The shares' steps, handed to uid 1000 with the diagnostics defined.
fn shares_script() -> String {
    format!(
        "{SHARES}cat > /tmp/shares_user.sh <<'USER_STEPS'\n{DIAGNOSTICS}{SHARES_USER}USER_STEPS\n\
         env HOME=/home/berthu USER=berthu setpriv --reuid=1000 --regid=1000 --clear-groups sh /tmp/shares_user.sh\n"
    )
}

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn containers_in_a_machine_on_cgroup_v2() {
    let opts = Options::suite(Duration::from_secs(600));
    // The busybox docker-archive (built offline from busybox-static); the
    // test bed sees the host's files.
    let fixtures =
        xtask::fixtures::build_locked(xtask::fixtures::Set::Busybox).unwrap_or_else(|e| panic!("busybox fixture: {e}"));
    let script = format!(
        "export BERTH_FIXTURE_BUSYBOX='{}'\n{DIAGNOSTICS}machine=m\ntrap machine_diagnostics_on_exit EXIT\n{SCRIPT}{BUILD}{CP_RACE}berth machine rm --force m\n{}echo containers-vm-done\n",
        fixtures.busybox.display(),
        shares_script()
    );
    let cmd = ["sh".to_string(), "-c".to_string(), script];
    let o = testbed::run(&opts, &cmd).unwrap_or_else(|e| panic!("test bed failed: {e}"));
    let c = &o.console;
    let has = |s: &str| c.contains(s);
    assert_eq!(o.status, 0, "console:\n{c}");
    assert!(has("cgroupfs: cgroup2\n"), "the guest runs cgroup v2 only:\n{c}");
    // Core lifecycle with Docker's exit codes.
    assert!(has("\nrun: hi"), "{c}");
    assert!(has("berth run: hi"), "the berth CLI against the machine:\n{c}");
    assert!(has("exit code: 3"), "{c}");
    assert!(has("not found: 127"), "{c}");
    assert!(has("ps: d1=running"), "{c}");
    assert!(has("logs: started"), "{c}");
    assert!(has("exec: in-"), "{c}");
    assert!(has("exec exit: 5"), "{c}");
    assert!(has("exec seccomp: Seccomp:2"), "an exec is under its container's seccomp filter:\n{c}");
    // The v2 freezer, v2 stats files.
    assert!(has("paused: paused frozen 1"), "{c}");
    assert!(has("unpaused: running"), "{c}");
    // sh and its sleep, or sh alone when the sample falls between two
    // sleeps (seen once in the test bed): counted from pids.current.
    assert!(has("stats: d1 2 ") || has("stats: d1 1 "), "the processes counted from pids.current:\n{c}");
    assert!(has("stopped: exited 143") || has("stopped: exited 137"), "{c}");
    assert!(has("wait: 137"), "{c}");
    assert!(has("after rm: 0 cgroup=gone"), "{c}");
    // Published ports listen on the test bed's side (the user's host) and
    // are carried over vsock to the container; they go with the container.
    assert!(has("published: hello-from-web"), "-p 127.0.0.1:18080:8080 answered from the host:\n{c}");
    assert!(has("port: 127.0.0.1:18080"), "{c}");
    assert!(has("random port: hello-from-web"), "-P on a port the host chose:\n{c}");
    assert!(
        has("in use: 125 Bind for 127.0.0.1:18080 failed: port is already allocated created"),
        "a host port in use fails the start with Docker's message:\n{c}"
    );
    assert!(has("after stop: 7"), "the host's listener closes when the container stops:\n{c}");
    assert!(has("restarted: hello-from-web"), "and opens again when it starts:\n{c}");
    assert!(has("after rm: 7"), "{c}");
    // Limits: memory.events says oom_kill; pids.max stops forks.
    assert!(has("oom: 137 true"), "{c}");
    assert!(!has("pids limit: 0"), "forks beyond --pids-limit must fail:\n{c}");
    // Confinement in the VM.
    assert!(has("mount: refused"), "{c}");
    assert!(has("module: refused"), "{c}");
    assert!(has("sysrq: refused"), "{c}");
    assert!(has("raw block: refused"), "{c}");
    assert!(has("raw block unconfined: refused"), "seccomp=unconfined keeps the device-node guard on v2:\n{c}");
    assert!(has("raw block on rootfs unconfined: refused"), "the rootfs is nodev:\n{c}");
    assert!(has("raw block privileged: OPENED"), "--privileged keeps device access:\n{c}");
    // The cgroup v2 device rules (an eBPF program, libcontainer's
    // cgroupsv2_devices): a node from a devtmpfs that CAP_SYS_ADMIN lets a
    // container mount still cannot be opened.
    assert!(has("devtmpfs with SYS_ADMIN: refused"), "the v2 device rules refuse the VM's disk:\n{c}");
    assert!(has("fifo: made"), "FIFOs are still allowed:\n{c}");
    assert!(!has("hostname: 0") && has(" kept"), "sethostname fails and the VM keeps its name:\n{c}");
    assert!(has("host network sys: 0 ro"), "the host's /sys without submounts, read-only:\n{c}");
    let seen: usize =
        c.lines().find_map(|l| l.strip_prefix("pids seen: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(usize::MAX);
    assert!(seen <= 3, "only the container's own processes are visible: {seen}\n{c}");
    // The cp race (CVE-2018-15664) in the VM: nothing read from or written
    // to the VM's own root through the swapped directory, while the swap
    // really raced with the copies.
    assert!(has("race leaked reads: 0\n"), "a GET read the VM's file through the symlink:\n{c}");
    assert!(has("race canary: vm-secret vm root: clean"), "a PUT wrote outside the container:\n{c}");
    assert!(has("race gets: 300\n"), "every GET was answered:\n{c}");
    let landed: usize = c
        .split("race puts into d/: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(landed > 0 && landed < 300, "the swap did not race the copies ({landed} of 300 PUTs landed):\n{c}");
    // User networks in the machine: names and aliases by the embedded
    // DNS, the default bridge kept from n1's address (the engine's
    // nftables isolation, forwarding on), n2 kept from n1, shared stacks,
    // `none`, nothing left after removal.
    assert!(has("by name: hello-from-web\n"), "{c}");
    assert!(has("by alias: hello-from-web\n"), "{c}");
    assert!(!has("bridge by address: hello-from-web"), "the default bridge reached n1's container:\n{c}");
    assert!(!has("n2 to n1: 0\n"), "n2 reached n1's container:\n{c}");
    assert!(has("shared stack: hello-from-web\n"), "{c}");
    assert!(has("none: lo \n"), "{c}");
    assert!(has("veths left: 0\n"), "{c}");
    // The machine's uplink (passt): a container reaches the user's host
    // (the test bed's loopback, through passt's gateway address),
    // masqueraded; host-gateway names it; --internal has no way out.
    assert!(has("vm resolv: nameserver 10.0.2.3\n"), "the VM's DNS is passt's forwarder:\n{c}");
    assert!(has("egress to the host: hello-from-host\n"), "{c}");
    assert!(has("host-gateway: hello-from-host\n"), "{c}");
    assert!(!has("internal egress: 0\n"), "an --internal network reached the host:\n{c}");
    // docker build in the machine.
    assert!(has("build: 16 steps, 1 tagged"), "{c}");
    assert!(has("build run: main hi in /srv as 1000"), "CMD, WORKDIR, ENV and USER:\n{c}");
    assert!(
        has("build files: built for vm tarred keep.log \n"),
        "COPY --from, --build-arg, ADD of a tar, .dockerignore's `!`:\n{c}"
    );
    assert!(has("build config: 1000:1000|[CMD-SHELL true]|[RUN echo triggered > /tmp/triggered]"), "{c}");
    assert!(has("rebuild: 13 cached, 0 run, same image yes"), "every step from the cache:\n{c}");
    assert!(has("one file: 6 cached, new image yes, changed"), "the changed COPY and what follows ran again:\n{c}");
    assert!(has("target: built for world"), "{c}");
    assert!(has("outside dockerfile: #!/bin/sh"), "{c}");
    assert!(has("onbuild: triggered"), "{c}");
    assert!(
        has("failing run: 3, The command '/bin/sh -c exit 3' returned a non-zero code: 3, tag none, containers left 0"),
        "{c}"
    );
    assert!(has(r#"history: /bin/sh -c #(nop)  CMD ["sh" "app/main.sh"]"#), "{c}");
    // Host folders (virtio-fs) in a machine of an unprivileged user.
    assert!(has("share states: 2\n"), "inspect lists both shares as served:\n{c}");
    assert!(has("share read: from-host 0:0 \n"), "the host's file, the user's ids seen as root's:\n{c}");
    assert!(has("share owner: 1000:1000 out\n"), "the container's file is the host user's:\n{c}");
    assert!(has("host edit: changed\n"), "a host edit shows in the guest:\n{c}");
    assert!(has("ro share: ro-file refused \n"), "a read-only share refuses writes:\n{c}");
    assert!(has("outside: 125 berth machine create --mount /srv/nowhere 0\n"), "{c}");
    assert!(has("volume ls: keep\n"), "volume filters in the machine:\n{c}");
    assert!(has("volume in use: 1 volume is in use\n"), "the 409 for a volume in use:\n{c}");
    assert!(has("volumes-from: kept-in-volume ro \n"), "--volumes-from with :ro:\n{c}");
    assert!(has("tmpfs mount: 1024\n"), "--mount type=tmpfs with tmpfs-size:\n{c}");
    assert!(has("volume mountpoint: /var/lib/berth/volumes/keep/_data\n"), "{c}");
    assert!(has("copy-up: from-image rm -v: 0\n"), "the image's VOLUME copied up; rm -v removed it:\n{c}");
    assert!(has("prune: 1 keep \n"), "prune removed the unused volume and kept the used one:\n{c}");
    assert!(has("after kill: 125 is not answering\n"), "virtiofsd killed: a clear error:\n{c}");
    assert!(has("machine after kill: up\n"), "the machine keeps running:\n{c}");
    assert!(has("ls after kill: is not served: virtiofsd (pid N) was killed by signal 9"), "{c}");
    assert!(has("restarted share: changed\n"), "a restart serves the share again:\n{c}");
    assert!(has("vanished folder: is not served: the host folder /ro-data no longer exists\n"), "{c}");
    assert!(has("bind of the vanished: 125 which the machine could not mount\n"), "{c}");
    assert!(has("volume after restart: kept-in-volume\n"), "a volume outlives machine stop/start:\n{c}");
    assert!(has("shares-done"), "{c}");
    assert!(has("containers-vm-done"), "{c}");
}
