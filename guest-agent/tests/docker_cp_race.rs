//! CVE-2018-15664 as a test: a running busybox container swaps its
//! directory `/d` for a symlink to `/` in a tight loop while the engine
//! copies into and out of `d/` through the archive API a thousand times.
//! The engine (root, in the host's mount namespace) must never write
//! outside the container's root (a canary in the host's `/` stays as it
//! was, no file of the copies appears there) and never read outside it
//! (what comes back is the container's, never a host-only file).
//!
//! Against the engine before `crate::confined` this fails within a few
//! dozen rounds: a GET returned the host-only file and a PUT left its file
//! in the host's `/`.
//!
//! Needs what docker_cli_containers.rs needs: root, `/bin/busybox`,
//! `skopeo`, `docker-registry` and the docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use containers_fixture::Daemon;

/// One request on a fresh connection; the status and the (de-chunked) body.
fn request(sock: &Path, method: &str, target: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let mut s = UnixStream::connect(sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "{method} {target} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The engine may answer (404) and close before reading a PUT's body.
    let _ = s.write_all(head.as_bytes()).and_then(|()| s.write_all(body));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut rest = &raw[split + 4..];
    if !head.contains("transfer-encoding: chunked") {
        return (status, rest.to_vec());
    }
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size = usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).trim(), 16).unwrap();
        rest = &rest[eol + 2..];
        if size == 0 {
            return (status, out);
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = containers_fixture::header();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Every (name, content) of a tar.
fn entries(t: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut ar = tar::Archive::new(t);
    ar.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            (name, data)
        })
        .collect()
}

/// The host files this test plants in `/`, removed however it ends.
struct HostFiles(Vec<PathBuf>);

impl Drop for HostFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

const COPIES: usize = 1000;

#[test]
fn cp_into_and_out_of_a_directory_swapped_for_a_symlink_to_root() {
    let d = Daemon::start();
    let tag = format!("berth-race-{}", std::process::id());
    let canary = PathBuf::from(format!("/{tag}-canary"));
    let host_only = PathBuf::from(format!("/{tag}-host-only"));
    // Also what an escaping PUT would leave in the host's `/`.
    let escaped = PathBuf::from(format!("/{tag}-put"));
    let _cleanup = HostFiles(vec![canary.clone(), host_only.clone(), escaped.clone()]);
    std::fs::write(&canary, "host canary\n").unwrap();
    std::fs::write(&host_only, "host secret\n").unwrap();
    let host_root_before: std::collections::BTreeSet<_> =
        std::fs::read_dir("/").unwrap().map(|e| e.unwrap().file_name()).collect();

    let id = d.ok(&[
        "run",
        "-d",
        "--name",
        "racer",
        "busybox",
        "sh",
        "-c",
        "mkdir /d && echo inside > /d/f && cd / && while :; do mv d d.x; ln -s / d; rm d; mv d.x d; done",
    ]);
    let id = id.trim().to_string();
    d.wait_inspect("racer", "{{.State.Status}}", "running");

    let put_tar = tar_of(&[(&format!("{tag}-canary"), b"container copy\n"), (&format!("{tag}-put"), b"p\n")]);
    let (mut puts_ok, mut gets_ok) = (0, 0);
    let started = Instant::now();
    for i in 0..COPIES {
        let (status, body) = request(&d.sock, "PUT", &format!("/containers/{id}/archive?path=/d"), &put_tar);
        assert!(matches!(status, 200 | 400 | 404), "PUT {i}: {status} {}", String::from_utf8_lossy(&body));
        puts_ok += usize::from(status == 200);

        // Reading the canary back gives the container's copy, never the host's.
        let (status, body) = request(&d.sock, "GET", &format!("/containers/{id}/archive?path=/d/{tag}-canary"), b"");
        if status == 200 {
            gets_ok += 1;
            let got = entries(&body);
            assert_eq!(got, [(format!("{tag}-canary"), b"container copy\n".to_vec())], "GET {i}");
        } else {
            assert_eq!(status, 404, "GET {i}: {}", String::from_utf8_lossy(&body));
        }
        // A host-only file is never found through d/.
        let (status, body) = request(&d.sock, "GET", &format!("/containers/{id}/archive?path=/d/{tag}-host-only"), b"");
        assert_eq!(status, 404, "read a host file through the swapped directory: {}", String::from_utf8_lossy(&body));
        // Now and then the whole directory (the container's `/` when the
        // link is in place): only the container's files.
        if i % 100 == 0 {
            let (status, body) = request(&d.sock, "GET", &format!("/containers/{id}/archive?path=/d/"), b"");
            if status == 200 {
                for (name, data) in entries(&body) {
                    assert!(!name.contains("host-only"), "a host file in the tar: {name}");
                    assert!(!data.starts_with(b"host "), "host content in the tar under {name}");
                }
            }
        }
    }
    let took = started.elapsed();
    eprintln!("{COPIES} PUT+GET rounds in {took:?}: {puts_ok} PUTs and {gets_ok} GETs found d/");
    assert!(puts_ok > 0 && gets_ok > 0, "the copies must have reached d/ at least sometimes");

    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host canary\n", "the engine wrote the host's canary");
    let host_root_after: std::collections::BTreeSet<_> =
        std::fs::read_dir("/").unwrap().map(|e| e.unwrap().file_name()).collect();
    let new: Vec<_> = host_root_after.difference(&host_root_before).collect();
    assert!(new.is_empty(), "new files in the host's /: {new:?}");
    assert!(!escaped.exists(), "a copy landed in the host's /");
    // The container did get the copies, in d/ or (through its link) its /.
    let (ok, out, _) =
        d.docker(&["exec", "racer", "sh", "-c", &format!("cat /d.x/{tag}-put /d/{tag}-put /{tag}-put 2>/dev/null")]);
    let _ = ok; // cat fails for the names that are missing
    assert!(out.contains("p\n"), "the container's own copies: {out:?}");
    d.ok(&["rm", "-f", "racer"]);
}
