//! A real registry for tests: Debian's `docker-registry` (CNCF distribution
//! 2.8) as a plain process on a free loopback port, with its storage in a
//! temporary directory, optionally behind htpasswd basic auth or serving
//! HTTPS with a self-signed certificate (made with the `openssl` CLI).
//! Killed when dropped. Used by the agent's unit and integration tests and by the API
//! benchmark; it must never listen beyond loopback.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BINARY: &str = "/usr/bin/docker-registry";

pub struct TestRegistry {
    child: Child,
    dir: tempfile::TempDir,
    /// `127.0.0.1:PORT`, usable as a reference's registry part.
    pub host: String,
}

impl TestRegistry {
    pub fn start() -> TestRegistry {
        Self::start_with(None)
    }

    /// Behind htpasswd basic auth with one bcrypt user.
    pub fn start_with_basic_auth(user: &str, password: &str) -> TestRegistry {
        Self::start_with(Some((user, password)))
    }

    /// Serving HTTPS only, with a self-signed certificate no client trusts.
    pub fn start_with_self_signed_tls() -> TestRegistry {
        match Self::try_start_with(None, true) {
            Ok(reg) => reg,
            Err(e) => panic!("{e}"),
        }
    }

    fn start_with(auth: Option<(&str, &str)>) -> TestRegistry {
        match Self::try_start_with(auth, false) {
            Ok(reg) => reg,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`TestRegistry::start`], with an error instead of a panic (for
    /// benchmarks, which report and exit).
    pub fn try_start() -> std::io::Result<TestRegistry> {
        Self::try_start_with(None, false)
    }

    fn try_start_with(auth: Option<(&str, &str)>, tls: bool) -> std::io::Result<TestRegistry> {
        if !Path::new(BINARY).exists() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("{BINARY} is missing: install Debian's docker-registry package (.ci/install-deps does)"),
            ));
        }
        let dir = tempfile::tempdir()?;
        let port = free_port()?;
        let host = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n",
            dir.path().join("storage").display()
        );
        // Under `http:`, so before any top-level key that follows.
        if tls {
            let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
            let out = Command::new("openssl")
                .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=berth-test"])
                .arg("-keyout")
                .arg(&key)
                .arg("-out")
                .arg(&cert)
                .output()?;
            if !out.status.success() {
                return Err(std::io::Error::other(format!(
                    "openssl req failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            config.push_str(&format!("  tls:\n    certificate: {}\n    key: {}\n", cert.display(), key.display()));
        }
        if let Some((user, password)) = auth {
            let out = Command::new("htpasswd").args(["-Bbn", user, password]).output()?;
            if !out.status.success() {
                return Err(std::io::Error::other(format!(
                    "htpasswd (apache2-utils) failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )));
            }
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout)?;
            config.push_str(&format!("auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n", file.display()));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::File::create(&config_path).and_then(|mut f| f.write_all(config.as_bytes()))?;
        let log = std::fs::File::create(dir.path().join("registry.log"))?;
        let child = Command::new(BINARY)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let reg = TestRegistry { child, dir, host };
        reg.wait_ready()?;
        Ok(reg)
    }

    fn wait_ready(&self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.host).is_err() {
            if Instant::now() >= deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("registry did not listen on {}: {}", self.host, self.log()),
                ));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Where distribution's filesystem driver keeps a blob's bytes.
    pub fn blob_data_path(&self, digest: &impl std::fmt::Display) -> PathBuf {
        let d = digest.to_string();
        let hex = d.strip_prefix("sha256:").unwrap_or(&d);
        let prefix = hex.get(..2).unwrap_or(hex);
        self.dir.path().join("storage/docker/registry/v2/blobs/sha256").join(prefix).join(hex).join("data")
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
