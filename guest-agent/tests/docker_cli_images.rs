//! The real docker CLI against the engine in process mode, for images:
//! import, push, pull, images, tag, rmi, history, inspect, save | load,
//! login against Debian's docker-registry (plain and htpasswd), hostile
//! archives, and the engine killed with SIGKILL in the middle of a pull.
//!
//! Images are made here from Debian's busybox-static (/bin/busybox) and
//! from generated data, so nothing needs the network or a prepared cache.

mod engine_fixture;
use engine_fixture::{docker_cli, spawn_engine, wait_for_socket};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use berth_test_support::registry::TestRegistry;
use sha2::{Digest as _, Sha256};

struct Engine {
    child: Child,
    sock: PathBuf,
    root: PathBuf,
    dir: tempfile::TempDir,
}

impl Engine {
    fn start() -> Engine {
        let dir = tempfile::tempdir().expect("tempdir");
        let sock = dir.path().join("docker.sock");
        let root = dir.path().join("root");
        let child = spawn_engine(&sock, &root, Stdio::null());
        wait_for_socket(&sock);
        Engine { child, sock, root, dir }
    }

    /// SIGKILL, then a new engine on the same root and socket.
    fn kill_and_restart(&mut self) {
        self.child.kill().expect("SIGKILL the engine");
        self.child.wait().expect("reap");
        self.child = spawn_engine(&self.sock, &self.root, Stdio::null());
        wait_for_socket(&self.sock);
    }

    /// A docker command bounded in time (coreutils `timeout`): a CLI that
    /// waits for something that never comes fails the test instead of
    /// hanging it.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("timeout");
        c.arg("120")
            .arg(docker_cli())
            .args(args)
            .stdin(Stdio::null())
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"));
        c
    }

    fn docker(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run docker")
    }

    /// Runs docker, fails the test with its stderr if it fails, returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs docker expecting failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(!out.status.success(), "docker {args:?} should have failed: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    fn with_stdin(&self, args: &[&str], input: &[u8]) -> Output {
        let mut child =
            self.cmd(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("docker");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("docker");
        let _ = writer.join();
        out
    }

    fn image_lines(&self) -> Vec<String> {
        self.ok(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).lines().map(str::to_string).collect()
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A busybox root filesystem as a tar: the static binary and a few applets.
fn busybox_rootfs() -> Vec<u8> {
    let bin = std::fs::read("/bin/busybox").expect("/bin/busybox: install Debian's busybox-static");
    let mut b = tar::Builder::new(Vec::new());
    for d in ["bin", "etc", "tmp"] {
        let mut h = header();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        b.append_data(&mut h, d, std::io::empty()).expect("dir");
    }
    let mut h = header();
    h.set_mode(0o755);
    h.set_size(bin.len() as u64);
    b.append_data(&mut h, "bin/busybox", &bin[..]).expect("busybox");
    for applet in ["sh", "ls", "cat", "echo"] {
        let mut h = header();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        b.append_link(&mut h, format!("bin/{applet}"), "busybox").expect("applet");
    }
    let passwd = b"root:x:0:0:root:/root:/bin/sh\n";
    let mut h = header();
    h.set_mode(0o644);
    h.set_size(passwd.len() as u64);
    b.append_data(&mut h, "etc/passwd", &passwd[..]).expect("passwd");
    b.into_inner().expect("tar")
}

/// A header with every numeric field filled, as real tar writers leave them.
fn header() -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

fn import_busybox(e: &Engine, name: &str) -> String {
    let out = e.with_stdin(
        &["import", "--change", "CMD [\"sh\"]", "--message", "busybox for tests", "-", name],
        &busybox_rootfs(),
    );
    assert!(out.status.success(), "import: {}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("sha256:") && id.len() == 71, "import printed {id:?}");
    id
}

#[test]
fn import_push_pull_tag_history_inspect_rmi_through_the_cli() {
    let reg = TestRegistry::start();
    let e = Engine::start();
    let name = format!("{}/berth/busybox:v1", reg.host);
    let id = import_busybox(&e, &name);

    assert_eq!(
        e.ok(&["inspect", "--format", "{{.Id}} {{json .Config.Cmd}} {{.Comment}}", &name]).trim(),
        format!("{id} [\"sh\"] busybox for tests")
    );
    let history = e.ok(&["history", "--no-trunc", "--format", "{{.ID}} {{.Comment}}", &name]);
    assert_eq!(history.trim(), format!("{id} busybox for tests"));

    let pushed = e.ok(&["push", &name]);
    assert!(pushed.contains("v1: digest: sha256:"), "{pushed}");
    let out = e.ok(&["rmi", &name]);
    assert!(out.contains(&format!("Untagged: {name}")) && out.contains(&format!("Deleted: {id}")), "{out}");
    assert!(e.image_lines().is_empty(), "{:?}", e.image_lines());

    let pulled = e.ok(&["pull", &name]);
    assert!(pulled.contains(&format!("Status: Downloaded newer image for {name}")), "{pulled}");
    let pulled_again = e.ok(&["pull", &name]);
    assert!(pulled_again.contains("Image is up to date"), "{pulled_again}");
    let short = &id["sha256:".len().."sha256:".len() + 12];
    assert_eq!(e.image_lines(), vec![format!("{name} {short}")]);

    // Tag, push the tag, pull it by digest.
    let v2 = format!("{}/berth/busybox:v2", reg.host);
    e.ok(&["tag", &name, &v2]);
    let pushed = e.ok(&["push", &v2]);
    let digest = pushed.split("digest: ").nth(1).and_then(|s| s.split_whitespace().next()).expect("digest").to_string();
    assert_eq!(e.image_lines().len(), 2);
    e.ok(&["rmi", &name, &v2]);
    let by_digest = format!("{}/berth/busybox@{digest}", reg.host);
    e.ok(&["pull", &by_digest]);
    assert_eq!(e.ok(&["inspect", "--format", "{{.Id}}", &by_digest]).trim(), id);

    // Filters and prune: a dangling image goes, the tagged one stays.
    let dangling = e.with_stdin(&["import", "-"], &busybox_rootfs());
    assert!(dangling.status.success());
    let dangling_id = String::from_utf8_lossy(&dangling.stdout).trim().to_string();
    let listed = e.ok(&["images", "--filter", "dangling=true", "--quiet", "--no-trunc"]);
    assert_eq!(listed.trim(), dangling_id);
    let listed = e.ok(&["images", "--filter", "reference=*/berth/*", "--format", "{{.Repository}}"]);
    assert_eq!(listed.trim(), format!("{}/berth/busybox", reg.host));
    let pruned = e.ok(&["image", "prune", "--force"]);
    assert!(
        pruned.contains(&format!("deleted: {dangling_id}")) && pruned.contains("Total reclaimed space"),
        "{pruned}"
    );
    assert_eq!(e.image_lines().len(), 1);

    let err = e.fails(&["pull", &format!("{}/berth/nothing:v1", reg.host)]);
    assert!(err.contains("not found"), "{err}");
    let err = e.fails(&["rmi", "nothing-here:v1"]);
    assert!(err.contains("No such image"), "{err}");
}

#[test]
fn save_then_load_gives_back_the_same_image() {
    let e = Engine::start();
    let id = import_busybox(&e, "busybox:latest");
    e.ok(&["tag", "busybox:latest", "shop/bb:2"]);
    let file = e.dir.path().join("saved.tar");
    e.ok(&["save", "-o", file.to_str().expect("utf-8 path"), "busybox:latest", "shop/bb:2"]);
    e.ok(&["rmi", "busybox:latest", "shop/bb:2"]);
    assert!(e.image_lines().is_empty());
    let out = e.ok(&["load", "-i", file.to_str().expect("utf-8 path")]);
    assert!(out.contains("Loaded image: busybox:latest") && out.contains("Loaded image: shop/bb:2"), "{out}");
    assert_eq!(e.ok(&["inspect", "--format", "{{.Id}}", "shop/bb:2"]).trim(), id);

    // `docker save | docker load` between two engines, as a shell pipes it.
    let other = Engine::start();
    let pipe = format!(
        "DOCKER_HOST=unix://{} {cli} save busybox:latest | DOCKER_HOST=unix://{} {cli} load",
        e.sock.display(),
        other.sock.display(),
        cli = docker_cli().display()
    );
    let out = Command::new("sh").args(["-c", &pipe]).output().expect("sh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Loaded image: busybox:latest");
    assert_eq!(other.ok(&["inspect", "--format", "{{.Id}}", "busybox"]).trim(), id);
}

#[test]
fn hostile_archive_is_refused_and_leaves_nothing() {
    let e = Engine::start();
    let mut h = header();
    {
        let gnu = h.as_gnu_mut().expect("gnu");
        let name = b"../../../../tmp/berth-escaped";
        gnu.name[..name.len()].copy_from_slice(name);
    }
    h.set_size(1);
    h.set_mode(0o644);
    h.set_cksum();
    let mut b = tar::Builder::new(Vec::new());
    b.append(&h, &b"x"[..]).expect("append");
    let evil = b.into_inner().expect("tar");
    let out = e.with_stdin(&["load"], &evil);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("leaves the archive"), "{err}");
    assert!(!Path::new("/tmp/berth-escaped").exists());
    assert!(e.image_lines().is_empty());
    let out = e.with_stdin(&["import", "-"], b"");
    assert!(!out.status.success(), "an empty import is an error");
}

#[test]
fn login_against_a_registry_with_basic_auth() {
    let reg = TestRegistry::start_with_basic_auth("alice", "s3cret");
    let e = Engine::start();
    let name = format!("{}/private/bb:1", reg.host);
    import_busybox(&e, &name);

    let err = e.fails(&["push", &name]);
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    let err = e.fails(&["login", "-u", "alice", "-p", "wrong", &reg.host]);
    assert!(err.contains("unauthorized: incorrect username or password"), "{err}");
    let out = e.ok(&["login", "-u", "alice", "-p", "s3cret", &reg.host]);
    assert!(out.contains("Login Succeeded"), "{out}");

    e.ok(&["push", &name]);
    e.ok(&["rmi", &name]);
    e.ok(&["pull", &name]);
    e.ok(&["logout", &reg.host]);
    e.ok(&["rmi", &name]);
    let err = e.fails(&["pull", &name]);
    assert!(err.contains("pull access denied") && err.contains("unauthorized"), "{err}");
}

/// A docker-archive with `layers` layers of `size` bytes of incompressible
/// data each, and its image ID.
fn big_archive(layers: usize, size: usize, tag: &str) -> (Vec<u8>, String) {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut layer_tars = Vec::new();
    for i in 0..layers {
        let mut data = vec![0u8; size];
        for chunk in data.chunks_mut(8) {
            // xorshift64: fast, and incompressible enough for gzip.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let bytes = seed.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, format!("data{i}.bin"), &data[..]).expect("append");
        layer_tars.push(b.into_inner().expect("tar"));
    }
    let hex = |d: &[u8]| format!("{:x}", Sha256::digest(d));
    let diff_ids: Vec<String> = layer_tars.iter().map(|t| hex(t)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids.iter().map(|d| format!("sha256:{d}")).collect::<Vec<_>>()},
    });
    let config = serde_json::to_vec(&config).expect("config");
    let config_hex = hex(&config);
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"), "RepoTags": [tag],
        "Layers": diff_ids.iter().map(|d| format!("{d}/layer.tar")).collect::<Vec<_>>(),
    }]);
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = header();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        b.append_data(&mut h, name, data).expect("append");
    };
    add(&format!("{config_hex}.json"), &config);
    for (t, d) in layer_tars.iter().zip(&diff_ids) {
        add(&format!("{d}/layer.tar"), t);
    }
    add("manifest.json", &serde_json::to_vec(&manifest).expect("manifest"));
    (b.into_inner().expect("tar"), format!("sha256:{config_hex}"))
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default()
}

#[test]
fn engine_killed_mid_pull_leaves_no_half_image_and_the_pull_succeeds_again() {
    let reg = TestRegistry::start();
    let name = format!("{}/berth/big:v1", reg.host);
    // Seed the registry through one engine ...
    let seeder = Engine::start();
    let (archive, id) = big_archive(4, 24 << 20, &name);
    let out = seeder.with_stdin(&["load"], &archive);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    seeder.ok(&["push", &name]);
    drop(seeder);

    // ... and pull with another, killed while layers stream.
    let mut e = Engine::start();
    let image_dir = e.root.join("image");
    let mut pull = e.cmd(&["pull", &name]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("docker pull");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let staged = entries(&image_dir.join("tmp")).iter().any(|p| p.metadata().is_ok_and(|m| m.len() > 1 << 20));
        let some_blobs = !entries(&image_dir.join("blobs/sha256")).is_empty();
        if staged && some_blobs {
            break;
        }
        assert!(pull.try_wait().expect("poll").is_none(), "the pull ended before it could be interrupted");
        assert!(Instant::now() < deadline, "no layer ever streamed");
        std::thread::sleep(Duration::from_millis(2));
    }
    e.kill_and_restart();
    let status = pull.wait().expect("pull exits");
    assert!(!status.success(), "the pull was cut off by the kill");

    assert!(e.image_lines().is_empty(), "half image listed: {:?}", e.image_lines());
    assert!(e.fails(&["inspect", &name]).contains("No such"), "nothing to inspect");
    for d in ["tmp", "blobs/sha256", "layers/sha256"] {
        assert!(entries(&image_dir.join(d)).is_empty(), "{d} keeps {:?} after restart", entries(&image_dir.join(d)));
    }

    let out = e.ok(&["pull", &name]);
    assert!(out.contains("Downloaded newer image"), "{out}");
    assert_eq!(e.ok(&["inspect", "--format", "{{.Id}} {{len .RootFS.Layers}}", &name]).trim(), format!("{id} 4"));
}
