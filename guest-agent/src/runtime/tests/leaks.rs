//! 100 containers at once, then removed: nothing may be left behind.

use std::path::Path;

use super::*;

const N: usize = 100;

/// Mounts, cgroup directories and shim processes that belong to this
/// fixture's state root, plus this process's open fds.
fn census(root: &Path, ids: &[String]) -> (usize, usize, usize, usize) {
    let root_s = root.to_string_lossy().into_owned();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .filter(|l| l.contains(&root_s))
        .count();
    let mut cgroups = 0;
    for ctrl in std::fs::read_dir("/sys/fs/cgroup").expect("cgroup fs").flatten() {
        for id in ids {
            if ctrl.path().join("berth").join(id).exists() || Path::new("/sys/fs/cgroup/berth").join(id).exists() {
                cgroups += 1;
            }
        }
    }
    // A shim holds its state dir's shim.log (its stdout and stderr) for
    // its whole life; a forked shim's command line is the launcher's.
    let shims = std::fs::read_dir("/proc")
        .expect("proc")
        .flatten()
        .filter(|p| p.file_name().to_str().is_some_and(|n| n.parse::<u32>().is_ok()))
        .filter(|p| holds_a_file_under(&p.path(), root))
        .count();
    let fds = std::fs::read_dir("/proc/self/fd").expect("fds").count();
    (mounts, cgroups, shims, fds)
}

#[tokio::test]
async fn a_hundred_containers_leave_nothing_behind() {
    let f = Fixture::new();
    let root = f.rt.state_root().to_path_buf();
    let before = census(&root, &[]);
    let reqs: Vec<_> = (0..N).map(|_| f.request(&["sleep", "60"])).collect();
    let ids: Vec<String> = reqs.iter().map(|r| r.id.clone()).collect();
    let started = std::time::Instant::now();
    let shims = futures_util::future::join_all(reqs.into_iter().map(|r| {
        let rt = f.rt.clone();
        async move {
            let shim = rt.create(r).await.expect("create");
            shim.start().await.expect("start");
            shim
        }
    }))
    .await;
    let up = started.elapsed();
    let during = census(&root, &ids);
    assert_eq!(during.0, N, "one rootfs mount per container");
    assert_eq!(during.2, N, "one shim per container");
    assert!(during.1 >= N, "cgroups exist while running");
    for s in &shims {
        s.kill(libc::SIGKILL).await.expect("kill");
    }
    futures_util::future::join_all(shims.iter().map(|s| async move {
        assert_eq!(s.wait_exit().await.expect("wait").code, 137);
        s.delete().await.expect("delete");
    }))
    .await;
    // Shims exit right after answering delete.
    let mut after = census(&root, &ids);
    for _ in 0..100 {
        if after.2 == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        after = census(&root, &ids);
    }
    eprintln!(
        "{N} containers up in {up:?}; mounts/cgroups/shims/fds before {before:?}, running {during:?}, after {after:?}"
    );
    assert_eq!((after.0, after.1, after.2), (0, 0, 0), "mounts, cgroups, shims left");
    // Other tests run concurrently in this process: allow their few fds,
    // but not one per container.
    assert!(after.3 < before.3 + 10, "fds: {} before, {} after", before.3, after.3);
    // Only the compiled seccomp filters, shared by all containers, stay.
    let left: Vec<_> = std::fs::read_dir(&root)
        .expect("state root")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".seccomp")
        .collect();
    assert_eq!(left, Vec::<String>::new(), "no runtime state left");
    let filters = std::fs::read_dir(root.join(".seccomp")).expect("the filter cache").count();
    assert_eq!(filters, 1, "one compiled filter for a hundred containers of the same profile");
}
