//! A shim whose control socket is gone stops its container, cleans up and
//! exits, instead of running a container nobody can reach.

use std::time::{Duration, Instant};

use super::*;

fn alive(pid: i32) -> bool {
    // A zombie still answers kill(0): look at its state too.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_shim_without_its_socket_kills_its_container_and_exits() {
    let f = Fixture::new();
    let shim = f.rt.create(f.request(&["sleep", "1000"])).await.expect("create");
    let pid = shim.start().await.expect("start");
    let shim_pid = shim.ping().await.expect("ping");
    let dir = f.rt.state_root().join(shim.id());
    assert!(alive(pid) && alive(shim_pid));
    std::fs::remove_file(dir.join("shim.sock")).expect("remove the socket");
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(shim_pid) || alive(pid) {
        assert!(Instant::now() < deadline, "shim {shim_pid} or container {pid} still alive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(!dir.exists(), "the abandoned state is removed");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(shim.id()), "no mount left for the container");
}

#[tokio::test]
async fn a_shim_whose_directory_is_replaced_leaves_it_alone() {
    let f = Fixture::new();
    let shim = f.rt.create(f.request(&["sleep", "1000"])).await.expect("create");
    let pid = shim.start().await.expect("start");
    let shim_pid = shim.ping().await.expect("ping");
    let dir = f.rt.state_root().join(shim.id());
    // Another directory now holds the name (as if a newer shim took it).
    let moved = f.dir.path().join("moved");
    std::fs::rename(&dir, &moved).expect("move the state away");
    std::fs::create_dir(&dir).expect("a new dir");
    std::fs::write(dir.join("marker"), "newer").expect("marker");
    let deadline = Instant::now() + Duration::from_secs(15);
    while alive(shim_pid) || alive(pid) {
        assert!(Instant::now() < deadline, "shim {shim_pid} or container {pid} still alive");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(std::fs::read_to_string(dir.join("marker")).expect("marker"), "newer", "the new directory is untouched");
    // What the moved-away shim left: its rootfs mount, cleaned as the engine's cleanup would.
    crate::runtime::leftovers::remove_leftovers(&moved).expect("cleanup");
    crate::runtime::shim::teardown::remove_cgroups(shim.id());
}
