//! The client against hand-made servers on UNIX sockets and loopback TCP:
//! each writes exact bytes, well-formed or not.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{Client, Endpoint, Error, Request, blocking};

/// Reads one request: its head and as much body as Content-Length says.
fn read_request(s: &mut impl Read) -> Vec<u8> {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap() == 0 {
            return got;
        }
        got.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&got).to_ascii_lowercase();
    let len: usize =
        head.lines().find_map(|l| l.strip_prefix("content-length:")).map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).unwrap();
    got.extend_from_slice(&body);
    got
}

/// A server on a fresh UNIX socket that takes one connection, reads its
/// request and hands the stream to `script`; joining returns the request.
fn serve<F>(script: F) -> (tempfile::TempDir, Endpoint, JoinHandle<Vec<u8>>)
where
    F: FnOnce(&mut UnixStream) + Send + 'static,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("engine.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let handle = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let request = read_request(&mut s);
        script(&mut s);
        request
    });
    (dir, Endpoint::Unix(path), handle)
}

/// A server that answers `reply` and closes.
fn replying(reply: &'static [u8]) -> (tempfile::TempDir, Endpoint, JoinHandle<Vec<u8>>) {
    serve(move |s| s.write_all(reply).unwrap())
}

#[tokio::test]
async fn a_json_post_goes_out_as_http_1_1_and_its_whole_reply_comes_back() {
    let (_dir, ep, server) =
        replying(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}");
    let reply = Client::new(ep)
        .send(Request::post("/auth?x=1").json(&serde_json::json!({"username": "u"})), 1024)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.text(), r#"{"ok":true}"#);
    let request = String::from_utf8(server.join().unwrap()).unwrap();
    let lower = request.to_ascii_lowercase();
    assert!(request.starts_with("POST /auth?x=1 HTTP/1.1\r\n"), "{request}");
    for line in ["host: berth\r\n", "content-type: application/json\r\n", "content-length: 16\r\n"] {
        assert!(lower.contains(line), "{line:?} in {request}");
    }
    assert!(request.ends_with("\r\n\r\n{\"username\":\"u\"}"), "{request}");
}

#[tokio::test]
async fn a_chunked_body_is_reassembled_and_a_close_delimited_one_read_to_its_end() {
    let (_dir, ep, _s) =
        replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n");
    assert_eq!(Client::new(ep).send(Request::get("/x"), 1024).await.unwrap().text(), "abcde");
    let (_dir, ep, _s) = replying(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end");
    assert_eq!(Client::new(ep).send(Request::get("/x"), 1024).await.unwrap().text(), "until the end");
}

/// The old hand-written decoder stopped at a chunk size it could not
/// parse and returned what it had: here "abc", as if the body were whole.
#[tokio::test]
async fn a_bad_chunk_size_is_an_error_not_a_short_body() {
    let (_dir, ep, _s) =
        replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\nmore\r\n0\r\n\r\n");
    let e = Client::new(ep).send(Request::get("/system/df"), 1024).await.unwrap_err();
    assert!(matches!(e, Error::Http { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.starts_with("GET /system/df: ") && text.contains("chunk"), "{text}");
}

#[test]
fn a_bad_chunk_size_ends_a_streamed_body_with_an_error() {
    let (_dir, ep, _s) =
        replying(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n-1\r\nmore\r\n0\r\n\r\n");
    let client = blocking::Client::new(ep).unwrap();
    let mut resp = client.stream(Request::get("/x")).unwrap();
    assert_eq!(resp.chunk(Duration::from_secs(5)).unwrap().as_deref(), Some(&b"abc"[..]));
    assert!(matches!(resp.chunk(Duration::from_secs(5)), Err(Error::Http { .. })));
}

#[tokio::test]
async fn truncated_bodies_and_replies_without_a_status_line_are_errors() {
    let cases: [&'static [u8]; 5] = [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n9\r\nabc",
        b"hello there\r\n\r\n",
        b"",
    ];
    for case in cases {
        let (_dir, ep, _s) = replying(case);
        let got = Client::new(ep).send(Request::get("/x"), 1024).await;
        assert!(matches!(got, Err(Error::Http { .. })), "{:?}: {got:?}", String::from_utf8_lossy(case));
    }
}

#[tokio::test]
async fn a_body_over_the_cap_is_an_error() {
    let (_dir, ep, _s) = replying(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789");
    let e = Client::new(ep).send(Request::get("/x"), 9).await.unwrap_err();
    assert!(matches!(e, Error::TooLarge { limit: 9, .. }), "{e:?}");
}

/// Docker's `/wait` sends its 200 head at once and its body when the
/// container exits: the head must reach the caller before the body exists.
#[test]
fn the_head_arrives_before_the_body_is_sent() {
    let (go, wait) = mpsc::channel::<()>();
    let (_dir, ep, _s) = serve(move |s| {
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap();
        wait.recv_timeout(Duration::from_secs(10)).unwrap();
        s.write_all(b"c\r\n{\"Status\":6}\r\n0\r\n\r\n").unwrap();
    });
    let client = blocking::Client::new(ep).unwrap().timeout(Duration::from_secs(10));
    let mut resp = client.stream(Request::post("/containers/nu/wait")).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    let e = resp.chunk(Duration::from_millis(100)).unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    go.send(()).unwrap();
    assert_eq!(resp.into_reply(1024).unwrap().text(), r#"{"Status":6}"#);
}

#[tokio::test]
async fn an_upgrade_gives_a_raw_stream_that_starts_with_the_bytes_after_the_head() {
    let (_dir, ep, server) = serve(|s| {
        s.write_all(
            b"HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nBerth-Shell-Id: s1\r\n\r\nearly;",
        )
        .unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(&buf).unwrap();
    });
    let resp = Client::new(ep).stream(Request::post("/berth/v1/shell").upgrade("tcp").json("{}")).await.unwrap();
    assert_eq!(resp.status(), 101);
    assert_eq!(resp.header("berth-shell-id"), Some("s1"));
    let mut io = resp.upgrade().await.unwrap();
    io.write_all(b"hello").await.unwrap();
    let mut out = String::new();
    io.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "early;hello");
    let request = String::from_utf8(server.join().unwrap()).unwrap().to_ascii_lowercase();
    assert!(request.contains("connection: upgrade\r\n") && request.contains("upgrade: tcp\r\n"), "{request}");
}

#[tokio::test]
async fn a_refused_upgrade_keeps_its_status_and_body() {
    let (_dir, ep, _s) = replying(b"HTTP/1.1 501 Not Implemented\r\nContent-Length: 16\r\n\r\n{\"message\":\"no\"}");
    let client = Client::new(ep);
    let resp = client.stream(Request::post("/berth/v1/shell").upgrade("tcp")).await.unwrap();
    assert_eq!(resp.status(), 501);
    assert_eq!(resp.into_reply(1024).await.unwrap().text(), r#"{"message":"no"}"#);

    let (_dir, ep, _s) = replying(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    let resp = Client::new(ep).stream(Request::post("/berth/v1/shell").upgrade("tcp")).await.unwrap();
    let e = resp.upgrade().await.unwrap_err();
    assert!(matches!(e, Error::NotUpgraded { status: 400, .. }), "{e:?}");
}

#[tokio::test]
async fn a_silent_server_times_out_and_a_missing_socket_is_a_connect_error() {
    let (go, wait) = mpsc::channel::<()>();
    let (_dir, ep, _s) = serve(move |_| {
        let _ = wait.recv_timeout(Duration::from_secs(10));
    });
    let started = Instant::now();
    let e = Client::new(ep).timeout(Duration::from_millis(200)).send(Request::get("/_ping"), 64).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    go.send(()).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let e = Client::new(Endpoint::Unix(dir.path().join("none.sock"))).send(Request::get("/_ping"), 64).await;
    let e = e.unwrap_err();
    assert!(e.is_connect(), "{e:?}");
    assert!(e.to_string().starts_with("cannot connect to unix://"), "{e}");
}

#[test]
fn tcp_on_loopback_sends_its_address_as_host() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let request = read_request(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").unwrap();
        request
    });
    let client = blocking::Client::new(Endpoint::from_url(&format!("tcp://{addr}")).unwrap()).unwrap();
    let reply = client.send(Request::get("/_ping"), 64).unwrap();
    assert_eq!((reply.status, reply.text().as_str()), (200, "OK"));
    let request = String::from_utf8(server.join().unwrap()).unwrap().to_ascii_lowercase();
    assert!(request.contains(&format!("host: {addr}\r\n")), "{request}");
}

/// A hybrid-vsock socket as berth-vmm's: the CONNECT line first, `OK`,
/// then the guest's stream; the request follows the answer, not the line.
#[test]
fn a_hybrid_vsock_socket_is_asked_for_the_port_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vsock.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let server = std::thread::spawn(move || {
        // The first client is refused (the guest does not listen yet), as
        // the VMM does: it closes the stream without an answer.
        let (mut refused, _) = listener.accept().unwrap();
        let mut line = [0u8; 13];
        refused.read_exact(&mut line).unwrap();
        drop(refused);
        let (mut s, _) = listener.accept().unwrap();
        let mut line = [0u8; 13];
        s.read_exact(&mut line).unwrap();
        s.write_all(b"OK 1073741824\n").unwrap();
        let req = read_request(&mut s);
        s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").unwrap();
        (line, req)
    });
    let endpoint = Endpoint::HybridVsock { uds: path, port: 2375 };
    let client = blocking::Client::new(endpoint.clone()).unwrap();
    let err = client.send(Request::get("/_ping"), 1024).unwrap_err();
    assert!(err.to_string().contains("CONNECT 2375 answered"), "{err}");
    let reply = client.send(Request::get("/_ping"), 1024).unwrap();
    assert_eq!((reply.status, reply.text().as_str()), (200, "OK"));
    let (line, req) = server.join().unwrap();
    assert_eq!(&line, b"CONNECT 2375\n");
    assert!(req.starts_with(b"GET /_ping HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&req));
    assert!(endpoint.to_string().ends_with("(hybrid vsock, port 2375)"));
}
