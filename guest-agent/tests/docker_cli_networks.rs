//! The real docker CLI (28.x) against `berth-agent` making networks real:
//! bridges, veths, addresses, the embedded DNS, IPAM kept across engine
//! restarts, Docker's refusals of bad addressing.
//!
//! The engine runs in a network namespace this test makes for it (its
//! bridges never touch the host's network), and every packet goes only to
//! addresses inside it. The busybox image is loaded from an archive built
//! here (no registry: nothing in the namespace reaches the host's
//! loopback).
//!
//! Needs root (namespaces, mounts, netlink), `/bin/busybox`
//! (busybox-static) and the docker CLI.

mod containers_fixture;
mod engine_fixture;

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use engine_fixture::{docker_cli, wait_for_socket};

/// An engine in a network namespace of its own, with busybox loaded.
struct NetDaemon {
    child: Child,
    /// The engine's network namespace, kept open across engine restarts.
    netns: File,
    dir: tempfile::TempDir,
    sock: PathBuf,
}

/// The engine, in a new network namespace (`netns` None) or in `netns`.
fn spawn(dir: &Path, netns: Option<&File>, log: &str) -> Child {
    let log = File::create(dir.join(log)).unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth-agent"));
    c.arg("--listen")
        .arg(format!("unix://{}", dir.join("docker.sock").display()))
        .arg("--root")
        .arg(dir.join("root"))
        .env("BERTH_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log);
    let ns = netns.map(|f| f.as_raw_fd());
    // SAFETY: unshare and setns are async-signal-safe syscalls; nothing
    // else runs between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let r = match ns {
                None => libc::unshare(libc::CLONE_NEWNET),
                Some(fd) => libc::setns(fd, libc::CLONE_NEWNET),
            };
            if r != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.spawn().expect("start berth-agent")
}

impl NetDaemon {
    fn start() -> NetDaemon {
        let dir = tempfile::tempdir().unwrap();
        let child = spawn(dir.path(), None, "engine.log");
        let sock = dir.path().join("docker.sock");
        wait_for_socket(&sock);
        let netns = File::open(format!("/proc/{}/ns/net", child.id())).expect("the engine's netns");
        let d = NetDaemon { child, netns, dir, sock };
        let archive = d.dir.path().join("busybox.tar");
        containers_fixture::busybox_archive(&archive);
        d.ok(&["load", "-q", "-i", archive.to_str().unwrap()]);
        d
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = Command::new(docker_cli());
        c.args(args)
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .env("DOCKER_CONFIG", self.dir.path().join("docker-config"))
            .stdin(Stdio::null());
        let child = c.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("docker");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(out) => out.expect("wait"),
            Err(_) => {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
                panic!("docker {} did not finish\n{}", args.join(" "), self.log());
            }
        }
    }

    fn docker(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.run(args);
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.success(), s(&out.stdout), s(&out.stderr))
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.docker(args);
        assert!(ok, "docker {} failed: {err}\n{out}\nengine log:\n{}", args.join(" "), self.log());
        out.trim().to_string()
    }

    fn log(&self) -> String {
        let mut log = String::new();
        for f in ["engine.log", "engine2.log"] {
            log += &std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        }
        let lines: Vec<_> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    fn inspect(&self, what: &str, fmt: &str) -> String {
        self.ok(&["inspect", "--format", fmt, what])
    }

    /// kill -9 and a new engine on the same root, in the same namespace.
    fn restart_engine(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.child = spawn(self.dir.path(), Some(&self.netns), "engine2.log");
        wait_for_socket(&self.sock);
    }

    /// Runs `f` on a thread inside the engine's network namespace.
    fn in_netns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = self.netns.try_clone().unwrap();
        std::thread::spawn(move || {
            nix::sched::setns(ns.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .unwrap()
    }

    /// The links of the engine's namespace, by name.
    fn links(&self) -> Vec<String> {
        self.in_netns(|| {
            // /sys shows the namespace of whoever mounted it; /proc/thread-self/net
            // this thread's.
            let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap_or_default();
            let mut v: Vec<String> =
                dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(|n| n.trim().to_string()).collect();
            v.sort();
            v
        })
    }
}

impl NetDaemon {
    /// No link named `prefix…` left (a namespace goes, and its veths with
    /// it, a moment after its last user).
    fn wait_links_gone(&self, prefix: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let left: Vec<String> = self.links().into_iter().filter(|l| l.starts_with(prefix)).collect();
            if left.is_empty() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "links left: {left:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for NetDaemon {
    fn drop(&mut self) {
        if let Ok(out) = Command::new(docker_cli())
            .args(["ps", "-aq"])
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .output()
        {
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = self.run(&["rm", "-f", id]);
            }
        }
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        let _ = self.child.wait();
    }
}

/// A busybox web server on port 8080 answering `hello from NAME`.
fn web_server(name: &str) -> Vec<String> {
    let script = format!("mkdir -p /www && echo hello from {name} > /www/index.html && exec httpd -f -p 8080 -h /www");
    ["busybox", "sh", "-c", &script].iter().map(|s| s.to_string()).collect()
}

fn run_server(d: &NetDaemon, name: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend(extra);
    let cmd = web_server(name);
    args.extend(cmd.iter().map(String::as_str));
    d.ok(&args)
}

/// `wget` from a throwaway container with `net_args`; its output or error.
fn fetch(d: &NetDaemon, net_args: &[&str], url: &str) -> (bool, String) {
    let mut args = vec!["run", "--rm"];
    args.extend(net_args);
    // busybox 1.35's wget crashes with -T and a name: `timeout`, under a
    // shell that stays PID 1 (a signal to the namespace's PID 1 would be ignored).
    let script = format!("timeout 5 wget -qO- {url}; exit $?");
    args.extend(["busybox", "sh", "-c", &script]);
    let (ok, out, err) = d.docker(&args);
    (ok, if ok { out } else { err })
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias() {
    let d = NetDaemon::start();
    d.ok(&["network", "create", "n1"]);
    assert_eq!(
        d.ok(&["network", "inspect", "n1", "--format", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}"]),
        "172.18.0.0/16 172.18.0.1",
        "a subnet from Docker's default pools"
    );
    let srv = run_server(&d, "srv", &["--network", "n1", "--network-alias", "web"]);
    assert_eq!(
        d.inspect("srv", "{{.NetworkSettings.Networks.n1.IPAddress}} {{.NetworkSettings.Networks.n1.Gateway}} {{.NetworkSettings.Networks.n1.IPPrefixLen}} {{.NetworkSettings.Networks.n1.MacAddress}}"),
        "172.18.0.2 172.18.0.1 16 02:42:ac:12:00:02"
    );
    assert_eq!(
        d.ok(&[
            "network",
            "inspect",
            "n1",
            "--format",
            "{{range .Containers}}{{.Name}} {{.IPv4Address}} {{.MacAddress}}{{end}}"
        ]),
        "srv 172.18.0.2/16 02:42:ac:12:00:02"
    );
    let n1 = ["--network", "n1"];
    for url in ["http://srv:8080/", "http://web:8080/", &format!("http://{}:8080/", &srv[..12])] {
        let (ok, out) = fetch(&d, &n1, url);
        assert!(ok && out == "hello from srv\n", "{url}: {out}\n{}", d.log());
    }
    // The container's own view: eth0 with the address, the embedded DNS.
    let (ok, out, err) = d.docker(&[
        "run",
        "--rm",
        "--network",
        "n1",
        "--hostname",
        "me",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf; ip -4 addr show eth0; ip route; cat /etc/hosts",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("172.18.0.3\tme\n"), "its own name and address in /etc/hosts: {out}");
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert!(out.contains("inet 172.18.0.3/16"), "the next address: {out}");
    assert!(out.contains("default via 172.18.0.1"), "{out}");
    // Another network: its own bridge and subnet, no route to n1's name or address.
    d.ok(&["network", "create", "n2"]);
    let n2 = ["--network", "n2"];
    let (ok, out) = fetch(&d, &n2, "http://srv:8080/");
    assert!(!ok, "n1's name does not resolve in n2: {out}");
    let (ok, out) = fetch(&d, &n2, "http://172.18.0.2:8080/");
    assert!(!ok, "n2 cannot reach n1's address: {out}");
    let links = d.links();
    for net in ["n1", "n2"] {
        let bridge = format!("br-{}", &d.ok(&["network", "inspect", net, "--format", "{{.Id}}"])[..12]);
        assert!(links.contains(&bridge), "{bridge} in {links:?}");
    }
    // A running container connected to n1 gets eth1 there, and its name.
    run_server(&d, "late", &n2);
    d.ok(&["network", "connect", "n1", "late"]);
    let (ok, out) = fetch(&d, &n1, "http://late:8080/");
    assert!(ok && out == "hello from late\n", "{out}\n{}", d.log());
    let (ok, out, _) = d.docker(&["exec", "late", "ip", "-4", "addr", "show", "eth1"]);
    assert!(ok && out.contains("inet 172.18.0."), "{out}");
    d.ok(&["rm", "-f", "late"]);
    // --network container:srv shares srv's stack; none has loopback only.
    let (ok, out) = fetch(&d, &["--network", "container:srv"], "http://127.0.0.1:8080/");
    assert!(ok && out == "hello from srv\n", "{out}");
    let (ok, out, err) = d.docker(&["run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net"]);
    assert!(ok && out.trim() == "lo", "{out}{err}");
    // Disconnect takes the interface out; removal leaves no veth behind.
    d.ok(&["network", "disconnect", "n1", "srv"]);
    let (ok, out, _) = d.docker(&["exec", "srv", "ls", "/sys/class/net"]);
    assert!(ok && out.trim() == "lo", "eth0 left with the endpoint: {out}");
    d.ok(&["rm", "-f", "srv"]);
    d.wait_links_gone("veth");
    d.ok(&["network", "rm", "n1", "n2"]);
    d.wait_links_gone("br-");
}

#[test]
fn the_default_bridge_reaches_by_address() {
    let d = NetDaemon::start();
    run_server(&d, "b1", &[]);
    assert_eq!(
        d.inspect("b1", "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.Gateway}} {{.NetworkSettings.MacAddress}} {{.NetworkSettings.Networks.bridge.IPAddress}}"),
        "172.17.0.2 172.17.0.1 02:42:ac:11:00:02 172.17.0.2"
    );
    let (ok, out) = fetch(&d, &[], "http://172.17.0.2:8080/");
    assert!(ok && out == "hello from b1\n", "{out}\n{}", d.log());
    let (ok, out, _) = d.docker(&["run", "--rm", "busybox", "cat", "/etc/resolv.conf"]);
    assert!(ok && !out.contains("127.0.0.11"), "the default bridge has no embedded DNS: {out}");
    // The engine's side: the bridge answers on the gateway address.
    let reached = d.in_netns(|| {
        std::net::TcpStream::connect_timeout(&"172.17.0.2:8080".parse().unwrap(), Duration::from_secs(3)).is_ok()
    });
    assert!(reached, "the container from the engine's namespace");
    // --add-host x:host-gateway names the engine's side (the default
    // bridge's gateway), from the default bridge and from a user network.
    let port = d.in_netns(|| {
        let l = std::net::TcpListener::bind("0.0.0.0:0").expect("a server on the engine's side");
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                let mut req = [0u8; 1024];
                let _ = std::io::Read::read(&mut s, &mut req);
                let _ = std::io::Write::write_all(&mut s, b"HTTP/1.0 200 OK\r\n\r\nhello from the host\n");
            }
        });
        port
    });
    d.ok(&["network", "create", "hg"]);
    for net in [&["--add-host", "x:host-gateway"][..], &["--add-host", "x:host-gateway", "--network", "hg"]] {
        let (ok, out) = fetch(&d, net, &format!("http://x:{port}/"));
        assert!(ok && out == "hello from the host\n", "{net:?}: {out}\n{}", d.log());
    }
    let (ok, out, _) =
        d.docker(&["run", "--rm", "--add-host", "x:host-gateway", "busybox", "awk", "$2 == \"x\"", "/etc/hosts"]);
    assert!(ok && out.trim() == "172.17.0.1\tx", "{out:?}");
}

#[test]
fn ipam_survives_an_engine_restart_and_bad_addressing_is_refused() {
    let mut d = NetDaemon::start();
    d.ok(&[
        "network",
        "create",
        "--subnet",
        "10.50.0.0/24",
        "--ip-range",
        "10.50.0.128/25",
        "--gateway",
        "10.50.0.254",
        "n3",
    ]);
    d.ok(&["run", "-d", "--name", "ca", "--network", "n3", "busybox", "sleep", "1000"]);
    run_server(&d, "fixed", &["--network", "n3", "--ip", "10.50.0.200"]);
    let ip = |d: &NetDaemon, c: &str| d.inspect(c, "{{.NetworkSettings.Networks.n3.IPAddress}}");
    assert_eq!(ip(&d, "ca"), "10.50.0.128", "the range's first address");
    assert_eq!(ip(&d, "fixed"), "10.50.0.200");
    d.restart_engine();
    d.ok(&["run", "-d", "--name", "cb", "--network", "n3", "busybox", "sleep", "1000"]);
    assert_eq!(ip(&d, "cb"), "10.50.0.129", "a's address stays taken across the restart");
    // The restarted engine serves the names of containers that still run.
    let (ok, out) = fetch(&d, &["--network", "n3"], "http://fixed:8080/");
    assert!(ok && out == "hello from fixed\n", "{out}\n{}", d.log());
    // An address of a removed container is free again.
    d.ok(&["rm", "-f", "ca"]);
    d.ok(&["run", "-d", "--name", "cc", "--network", "n3", "busybox", "sleep", "1000"]);
    assert_eq!(ip(&d, "cc"), "10.50.0.128");
    // Bad input: Docker's messages, nothing made.
    let (ok, _, err) = d.docker(&["network", "create", "--subnet", "10.50.0.0/16", "n4"]);
    assert!(!ok && err.contains("invalid pool request: Pool overlaps with other one on this address space"), "{err}");
    assert!(!d.docker(&["network", "inspect", "n4"]).0, "n4 was not made");
    let before = d.ok(&["ps", "-aq"]).lines().count();
    let (ok, _, err) = d.docker(&["run", "--network", "n3", "--ip", "10.99.0.5", "busybox", "true"]);
    assert!(!ok && err.contains("no configured subnet or ip-range contain the IP address 10.99.0.5"), "{err}");
    assert_eq!(d.ok(&["ps", "-aq"]).lines().count(), before, "no container left behind");
    let (ok, _, err) = d.docker(&["run", "--network", "n3", "--ip", "10.50.0.200", "busybox", "true"]);
    assert!(!ok && err.contains("Address already in use"), "{err}");
}

/// An HTTP GET of `/` on `addr` from the engine's namespace: the body.
fn http_get(d: &NetDaemon, addr: String) -> Result<String, String> {
    d.in_netns(move || {
        use std::io::{Read, Write};
        let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("{e}"))?;
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map_err(|e| format!("{e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| format!("{e}"))?;
        s.write_all(b"GET / HTTP/1.0\r\n\r\n").map_err(|e| format!("{e}"))?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| format!("{e}"))?;
        Ok(out.split("\r\n\r\n").nth(1).unwrap_or_default().to_string())
    })
}

/// [`http_get`] retried while the server in the container is starting.
fn http_get_soon(d: &NetDaemon, addr: &str) -> Result<String, String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match http_get(d, addr.to_string()) {
            Ok(b) => return Ok(b),
            Err(e) if std::time::Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

#[test]
fn published_ports_answer_on_the_engines_side() {
    let d = NetDaemon::start();
    d.ok(&["network", "create", "n1"]);
    run_server(&d, "srv", &["--network", "n1", "-p", "127.0.0.1:18080:8080"]);
    assert_eq!(http_get_soon(&d, "127.0.0.1:18080").as_deref(), Ok("hello from srv\n"), "{}", d.log());
    assert_eq!(d.ok(&["port", "srv"]), "8080/tcp -> 127.0.0.1:18080");
    assert_eq!(d.ok(&["ps", "--filter", "name=srv", "--format", "{{.Ports}}"]), "127.0.0.1:18080->8080/tcp");
    assert_eq!(
        d.inspect(
            "srv",
            "{{range $p, $b := .NetworkSettings.Ports}}{{$p}} {{(index $b 0).HostIp}}:{{(index $b 0).HostPort}}{{end}}"
        ),
        "8080/tcp 127.0.0.1:18080"
    );
    // -P: every exposed port on a random one.
    run_server(&d, "any", &["--expose", "8080", "-P"]);
    let port = d.ok(&["port", "any", "8080/tcp"]);
    let port = port.lines().next().unwrap_or_default().rsplit(':').next().unwrap_or_default().to_string();
    assert!(port.parse::<u16>().is_ok_and(|p| p > 0), "{port}");
    assert_eq!(http_get_soon(&d, &format!("127.0.0.1:{port}")).as_deref(), Ok("hello from any\n"));
    // A port in use fails the start with Docker's message; the first still answers.
    let (ok, _, err) =
        d.docker(&["run", "-d", "--name", "dup", "-p", "127.0.0.1:18080:8080", "busybox", "sleep", "100"]);
    assert!(!ok && err.contains("Bind for 127.0.0.1:18080 failed: port is already allocated"), "{err}");
    assert_eq!(d.inspect("dup", "{{.State.Running}}"), "false");
    assert_eq!(http_get(&d, "127.0.0.1:18080".into()).as_deref(), Ok("hello from srv\n"));
    // Stopped, the port is closed; started again, open again.
    d.ok(&["stop", "-t", "1", "srv"]);
    assert!(http_get(&d, "127.0.0.1:18080".into()).is_err(), "closed with the container");
    d.ok(&["start", "srv"]);
    assert_eq!(http_get_soon(&d, "127.0.0.1:18080").as_deref(), Ok("hello from srv\n"));
}

/// A network namespace standing for "the world outside the engine": a
/// veth from the engine's namespace, 10.199.0.1 on the engine's end and
/// 10.199.0.2 on its own, a busybox web server there, and no route back
/// to any container subnet — so an answer reaches a container only if the
/// engine masqueraded the question. Made with `ip`/`nsenter` (the test's
/// tools; the engine runs none).
struct Outside {
    holder: Child,
    server: Child,
    _www: tempfile::TempDir,
}

impl Outside {
    fn new(d: &NetDaemon) -> Outside {
        let holder = Command::new("unshare").args(["--net", "sleep", "600"]).spawn().expect("unshare");
        std::thread::sleep(Duration::from_millis(200));
        let (engine, outside) = (d.child.id().to_string(), holder.id().to_string());
        let sh = |pid: &str, cmd: &str| {
            let out = Command::new("nsenter").args(["-t", pid, "-n", "sh", "-c", cmd]).output().expect("nsenter");
            assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
        };
        sh(&engine, &format!("ip link add ext0 type veth peer name ext1 netns {outside}"));
        sh(&engine, "ip addr add 10.199.0.1/24 dev ext0 && ip link set ext0 up");
        sh(&outside, "ip addr add 10.199.0.2/24 dev ext1 && ip link set ext1 up && ip link set lo up");
        let www = tempfile::tempdir().unwrap();
        std::fs::write(www.path().join("index.html"), "hello from outside\n").unwrap();
        let server = Command::new("nsenter")
            .args(["-t", &outside, "-n", "busybox", "httpd", "-f", "-p", "10.199.0.2:8080", "-h"])
            .arg(www.path())
            .spawn()
            .expect("httpd outside");
        Outside { holder, server, _www: www }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for c in [&mut self.server, &mut self.holder] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn egress_is_masqueraded_and_internal_networks_have_none() {
    let d = NetDaemon::start();
    let _outside = Outside::new(&d);
    let url = "http://10.199.0.2:8080/";
    d.ok(&["network", "create", "n1"]);
    let (ok, out) = fetch(&d, &["--network", "n1"], url);
    assert!(ok && out == "hello from outside\n", "a user network reaches out: {out}\n{}", d.log());
    let (ok, out) = fetch(&d, &[], url);
    assert!(ok && out == "hello from outside\n", "the default bridge reaches out: {out}");
    // --internal: the bridge is the network's whole world.
    d.ok(&["network", "create", "--internal", "closed"]);
    let (ok, out) = fetch(&d, &["--network", "closed"], url);
    assert!(!ok, "an internal network has no egress: {out}");
    // Isolation holds with forwarding on: n2 reaches neither n1 nor out-of-n1 by address.
    run_server(&d, "srv", &["--network", "n1"]);
    let srv_ip = d.inspect("srv", "{{.NetworkSettings.Networks.n1.IPAddress}}");
    d.ok(&["network", "create", "n2"]);
    let (ok, out) = fetch(&d, &["--network", "n2"], &format!("http://{srv_ip}:8080/"));
    assert!(!ok, "n2 cannot reach n1's container: {out}");
    let (ok, out) = fetch(&d, &["--network", "n2"], url);
    assert!(ok && out == "hello from outside\n", "n2 still reaches out: {out}");
    // The engine's table, as the kernel holds it, after the networks go.
    d.ok(&["rm", "-f", "srv"]);
    d.ok(&["network", "rm", "n1", "n2", "closed"]);
    let engine = d.child.id().to_string();
    let table = Command::new("nsenter").args(["-t", &engine, "-n", "nft", "list", "table", "ip", "berth"]).output();
    if let Some(t) = table.ok().filter(|o| o.status.success()) {
        let t = String::from_utf8_lossy(&t.stdout);
        assert!(
            t.contains("172.17.0.0/16") && !t.contains("172.18."),
            "only the default bridge's rules are left:\n{t}"
        );
    }
}

/// What the engine's namespace holds: links, IPv4 addresses, listening TCP
/// sockets, and the rules of the engine's nftables table.
#[derive(Debug, PartialEq)]
struct KernelCounts {
    links: usize,
    addresses: usize,
    listeners: usize,
    rules: usize,
}

impl NetDaemon {
    fn kernel_counts(&self) -> KernelCounts {
        let links = self.links().len();
        let listeners = self.in_netns(|| {
            let tcp = std::fs::read_to_string("/proc/thread-self/net/tcp").unwrap_or_default();
            tcp.lines().skip(1).filter(|l| l.split_whitespace().nth(3) == Some("0A")).count()
        });
        let engine = self.child.id().to_string();
        let count = |args: &[&str], pat: &str| {
            let out = Command::new("nsenter").args(["-t", &engine, "-n"]).args(args).output().expect("nsenter");
            String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(pat)).count()
        };
        let addresses = count(&["ip", "-o", "-4", "addr", "show"], "inet ");
        let rules = count(&["nft", "list", "table", "ip", "berth"], "drop")
            + count(&["nft", "list", "table", "ip", "berth"], "masquerade");
        KernelCounts { links, addresses, listeners, rules }
    }
}

#[test]
fn a_hundred_containers_with_published_ports_leave_nothing_behind() {
    const N: usize = 100;
    let d = NetDaemon::start();
    // What stays for good once any container ran: the default bridge and
    // its masquerade rule (Docker's docker0 stays too).
    d.ok(&["run", "--rm", "busybox", "true"]);
    d.wait_links_gone("veth");
    let before = d.kernel_counts();
    assert_eq!(before.rules, 1, "the default bridge's masquerade: {before:?}");
    d.ok(&["network", "create", "leak"]);
    for i in 0..N {
        let (name, port) = (format!("leak{i}"), format!("127.0.0.1:{}:8080", 21000 + i));
        d.ok(&["run", "-d", "--name", &name, "--network", "leak", "-p", &port, "busybox", "sleep", "600"]);
    }
    let during = d.kernel_counts();
    assert!(during.links > before.links + N, "a veth each and the bridge: {before:?} -> {during:?}");
    assert!(during.listeners >= before.listeners + N, "a listener per published port: {before:?} -> {during:?}");
    assert!(during.addresses > before.addresses, "the bridge's address: {before:?} -> {during:?}");
    assert_eq!(during.rules, before.rules + 3, "leak's masquerade, and no forwarding to or from bridge: {during:?}");
    let ids = d.ok(&["ps", "-aq"]);
    let mut rm = vec!["rm", "-f"];
    rm.extend(ids.split_whitespace());
    d.ok(&rm);
    d.ok(&["network", "rm", "leak"]);
    d.wait_links_gone("veth");
    d.wait_links_gone("br-");
    let after = d.kernel_counts();
    assert_eq!(after, before, "{N} containers started and removed left this behind\n{}", d.log());
}
