//! `berth machine` on real KVM in the test bed: berth-vmm boots berth's
//! kernel and the agent, the machine's docker.sock reaches the engine over
//! vsock, stop powers the guest off through the agent (Ctrl-Alt-Del →
//! SIGINT), the data disk keeps the engine's state across stop/start, a
//! machine process killed with -9 leaves nothing that blocks the next
//! start, two concurrent starts have one winner, and `berth machine shell`
//! runs commands and an interactive shell in the VM, and `berth machine logs
//! --engine` reads the engine's log kept on the data disk across boots.

use std::time::Duration;

use xtask::testbed::{self, Options};

/// What a failing step prints about the machine before the script exits.
const DIAGNOSTICS: &str = include_str!("../scripts/machine_diagnostics.sh");

const SCRIPT: &str = r#"
set -e
berth machine create --cpus 2 --memory 512M --disk 2G m1
berth machine start m1
eval "$(berth docker-env --machine m1)"
echo "ping: $(curl -s --unix-socket "${DOCKER_HOST#unix://}" http://x/_ping)"
docker version --format 'server {{.Server.Version}} api {{.Server.APIVersion}}'
id1=$(docker info --format '{{.ID}}')
rc=0; berth machine shell m1 -- sh -c 'echo "in vm: $(hostname) pid1=$(cat /proc/1/comm) tools=$(ls /usr/bin | wc -l)"; exit 7' || rc=$?
echo "shell exit: $rc"
rc=0; printf 'echo typed-$((6*7)); tty; exit 4\n' | script -qec "berth machine shell m1" /dev/null || rc=$?
echo "interactive shell exit: $rc"
docker load -i "$BERTH_FIXTURE_BUSYBOX" >/dev/null
docker run -d --name keeper --restart always busybox \
  sh -c 'trap "echo got TERM; exit 0" TERM; echo up; while :; do sleep 1; done' >/dev/null
sleep 2
berth machine stop m1
grep -q "stopped 1 containers" ~/.local/share/berth/machines/m1/console.log && echo "containers stopped before power-off"
berth machine ls | grep -q 'm1 .*stopped'
grep -q "engine stopped; powering off" ~/.local/share/berth/machines/m1/console.log && echo "stopped gracefully"
berth machine start m1
id2=$(docker info --format '{{.ID}}')
test -n "$id1" && test "$id1" = "$id2" && echo "data disk kept the engine id"
echo "engine log: $(berth machine logs --engine m1 | grep -c 'engine listening') boots"
docker logs keeper 2>&1 | grep -q "got TERM" && echo "the container got its stop signal"
sleep 2
echo "keeper after boot: $(docker inspect -f '{{.State.Running}}' keeper) ups=$(docker logs keeper 2>&1 | grep -c up)"
kill -9 "$(cat ~/.local/share/berth/machines/m1/machine.lock)"
sleep 1
berth machine ls | grep -q 'm1 .*stopped' && echo "killed machine shows stopped"
berth machine start m1 >/dev/null && echo "restarted after kill -9"
berth machine stop m1 >/dev/null
berth machine start m1 > /tmp/a.log 2>&1 & a=$!
berth machine start m1 > /tmp/b.log 2>&1 & b=$!
ra=0; wait $a || ra=$?
rb=0; wait $b || rb=$?
echo "concurrent starts: $ra $rb"
cat /tmp/a.log /tmp/b.log
berth machine rm --force m1
machine=d1
berth machine create --memory 512M --disk 1G --kernel debian d1 >/dev/null
berth machine start d1 >/dev/null
echo "debian kernel: $(berth machine shell d1 -- uname -r)"
eval "$(berth docker-env --machine d1)"
docker version --format 'debian machine server {{.Server.Version}}'
berth machine rm --force d1
echo machine-flow-done
"#;

#[test]
#[ignore = "boots the nested-KVM test bed (full tier: cargo xtask test)"]
fn machine_lifecycle_on_real_kvm() {
    let opts = Options::suite(Duration::from_secs(600));
    let script = format!("{DIAGNOSTICS}machine=m1\ntrap machine_diagnostics_on_exit EXIT\n{SCRIPT}");
    let cmd = ["sh".to_string(), "-c".to_string(), script];
    let o = testbed::run(&opts, &cmd).unwrap_or_else(|e| panic!("test bed failed: {e}"));
    let c = &o.console;
    assert_eq!(o.status, 0, "console:\n{c}");
    assert!(c.contains("ping: OK"), "{c}");
    assert!(c.contains(&format!("server {} api 1.50", env!("CARGO_PKG_VERSION"))), "{c}");
    // `berth machine shell`: a command in the VM with its exit code, and an
    // interactive shell on a pty (driven through `script`).
    assert!(c.contains("in vm: m1 pid1=init"), "{c}");
    assert!(c.contains("shell exit: 7"), "{c}");
    assert!(c.contains("typed-42") && c.contains("/dev/pts/"), "{c}");
    assert!(c.contains("interactive shell exit: 4"), "{c}");
    assert!(c.contains("stopped gracefully"), "stop should power the guest off through the agent:\n{c}");
    assert!(c.contains("data disk kept the engine id"), "{c}");
    // The engine's own log lives on the data disk: both boots are in it.
    assert!(c.contains("engine log: 2 boots"), "{c}");
    // Power-off stops containers with their stop signal first; an `always`
    // container is back after the next boot.
    assert!(c.contains("containers stopped before power-off"), "{c}");
    assert!(c.contains("the container got its stop signal"), "{c}");
    assert!(c.contains("keeper after boot: true ups=2"), "{c}");
    assert!(c.contains("killed machine shows stopped"), "{c}");
    assert!(c.contains("restarted after kill -9"), "{c}");
    // One start wins; the other says the machine is already running.
    let one_won = c.contains("concurrent starts: 0 1") || c.contains("concurrent starts: 1 0");
    assert!(one_won, "{c}");
    assert!(c.contains("is already running"), "{c}");
    // Debian's stock kernel finds its virtio-mmio devices through ACPI.
    assert!(c.contains("debian kernel: 6.1.0-"), "{c}");
    assert!(c.contains("debian machine server"), "{c}");
    assert!(c.contains("machine-flow-done"), "{c}");
}
