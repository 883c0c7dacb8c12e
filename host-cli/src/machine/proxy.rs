//! The host's docker.sock for a machine: each connection is carried to the
//! engine in the guest over the VMM's hybrid vsock (Firecracker's protocol:
//! write `CONNECT <port>\n`, read `OK <host port>\n`, then the stream is the
//! guest's). Bytes are copied unchanged both ways, so upgraded (hijacked)
//! Docker connections work too.
//!
//! Owns no state of the engine; it must never parse or alter the HTTP
//! stream.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

/// The engine's vsock port in the guest.
pub const ENGINE_PORT: u32 = 2375;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot reach the VMM's vsock socket {0}: {1}")]
    Socket(PathBuf, #[source] std::io::Error),
    #[error("the guest refused vsock port {0} (is the engine up?)")]
    Refused(u32),
    #[error("unexpected vsock handshake reply {0:?}")]
    Handshake(String),
}

/// Opens a stream to `port` in the guest.
pub async fn connect_guest(vsock: &Path, port: u32) -> Result<UnixStream, ConnectError> {
    let mut stream = UnixStream::connect(vsock).await.map_err(|e| ConnectError::Socket(vsock.into(), e))?;
    stream
        .write_all(format!("CONNECT {port}\n").as_bytes())
        .await
        .map_err(|e| ConnectError::Socket(vsock.into(), e))?;
    // Read the reply byte by byte: anything after the newline is the
    // guest's data and must stay in the socket.
    let mut reader = BufReader::with_capacity(1, &mut stream);
    let mut line = String::new();
    match reader.read_line(&mut line).await {
        Ok(0) | Err(_) => return Err(ConnectError::Refused(port)),
        Ok(_) => {}
    }
    if !line.starts_with("OK ") {
        return Err(ConnectError::Handshake(line.trim_end().to_string()));
    }
    Ok(stream)
}

/// How long a client's connection waits for the guest to accept it. The
/// hybrid-vsock socket answers a CONNECT the guest does not accept at once
/// (its accept queue momentarily full, as under a busy nested emulation) by
/// closing; Firecracker's and Kata's clients retry, and so does the proxy,
/// briefly, before it answers 502.
const CONNECT_ATTEMPTS: u32 = 20;
const CONNECT_PAUSE: Duration = Duration::from_millis(50);

/// `connect_guest`, retried while the guest refuses (not when the VMM's
/// socket itself is gone or answers nonsense).
pub(super) async fn connect_guest_patiently(vsock: &Path, port: u32) -> Result<UnixStream, ConnectError> {
    let mut attempt = 1;
    loop {
        match connect_guest(vsock, port).await {
            Err(ConnectError::Refused(_)) if attempt < CONNECT_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(CONNECT_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// Copies one connection both ways until the guest's side ends.
///
/// The two directions are independent: when the guest stops taking the
/// client's bytes (the engine answered without reading the whole body, and
/// the VMM closed the stream with them unread), what the guest already sent
/// is still delivered. `copy_bidirectional` would give up on the first
/// error and drop the engine's answer with it, leaving the client only
/// `connection reset by peer`.
async fn carry(client: UnixStream, guest: UnixStream) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut guest_rx, mut guest_tx) = guest.into_split();
    let upload = async move {
        match tokio::io::copy(&mut client_rx, &mut guest_tx).await {
            // The client is done sending: pass the half-close on.
            Ok(_) => {
                let _ = guest_tx.shutdown().await;
            }
            Err(e) => tracing::debug!(error = %e, "a docker.sock upload ended early"),
        }
        // Keep the client's read side open either way; its answer follows.
        std::future::pending::<()>().await;
    };
    let download = async move {
        if let Err(e) = tokio::io::copy(&mut guest_rx, &mut client_tx).await {
            tracing::warn!(error = %e, "a docker.sock connection ended with an error from the guest's side");
        }
        let _ = client_tx.shutdown().await;
    };
    tokio::select! {
        () = upload => {}
        () = download => {}
    }
}

/// Serves `listener` until the task is dropped.
pub async fn serve(listener: UnixListener, vsock: PathBuf) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let vsock = vsock.clone();
        tokio::spawn(async move {
            let mut client = client;
            match connect_guest_patiently(&vsock, ENGINE_PORT).await {
                Ok(guest) => carry(client, guest).await,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot carry a docker.sock connection to the engine");
                    let body = format!("{{\"message\":\"{}\"}}", e.to_string().replace('"', "'"));
                    let reply = format!(
                        "HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = client.write_all(reply.as_bytes()).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A hybrid-vsock socket that closes the first `refusals` CONNECTs
    /// unanswered, as the VMM does when the guest does not accept, then
    /// answers `OK`.
    fn fake_vmm(dir: &Path, refusals: usize) -> PathBuf {
        let path = dir.join("vsock.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                let mut conn = conn.unwrap();
                let mut buf = [0u8; 64];
                let _ = std::io::Read::read(&mut conn, &mut buf);
                if n >= refusals {
                    let _ = std::io::Write::write_all(&mut conn, b"OK 1024\n");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
        path
    }

    /// A hybrid-vsock socket whose guest answers after reading only the
    /// start of a request, then closes with the rest unread, as the engine
    /// did for `docker load` (a tar's trailing blocks left unread).
    fn vmm_answering_early(dir: &Path) -> PathBuf {
        let path = dir.join("vsock.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let mut conn = conn.unwrap();
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut conn, &mut buf[..13]);
                std::io::Write::write_all(&mut conn, b"OK 1024\n").unwrap();
                let _ = std::io::Read::read(&mut conn, &mut buf);
                std::io::Write::write_all(&mut conn, b"HTTP/1.1 200 OK\r\n\r\nloaded").unwrap();
                drop(conn);
            }
        });
        path
    }

    #[tokio::test]
    async fn the_answer_reaches_the_client_when_the_guest_leaves_the_body_unread() {
        let dir = tempfile::tempdir().unwrap();
        let vsock = vmm_answering_early(dir.path());
        let sock = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        tokio::spawn(serve(listener, vsock));
        for round in 0..20 {
            let client = UnixStream::connect(&sock).await.unwrap();
            let (mut rx, mut tx) = client.into_split();
            // The client keeps sending its (large) body while it reads.
            let sender = tokio::spawn(async move {
                let chunk = vec![0u8; 64 * 1024];
                for _ in 0..64 {
                    if tx.write_all(&chunk).await.is_err() {
                        break;
                    }
                }
            });
            let mut answer = Vec::new();
            let r = tokio::io::AsyncReadExt::read_to_end(&mut rx, &mut answer).await;
            assert!(
                String::from_utf8_lossy(&answer).ends_with("loaded"),
                "round {round}: the client got {:?} ({r:?})",
                String::from_utf8_lossy(&answer)
            );
            sender.abort();
        }
    }

    #[tokio::test]
    async fn a_connect_the_guest_refuses_for_a_moment_is_retried() {
        let dir = tempfile::tempdir().unwrap();
        let vsock = fake_vmm(dir.path(), 3);
        assert!(matches!(connect_guest(&vsock, ENGINE_PORT).await, Err(ConnectError::Refused(2375))));
        // Two refusals left, then the guest accepts.
        connect_guest_patiently(&vsock, ENGINE_PORT).await.expect("retried until accepted");
    }

    #[tokio::test]
    async fn a_guest_that_never_accepts_is_refused_after_the_attempts() {
        let dir = tempfile::tempdir().unwrap();
        let vsock = fake_vmm(dir.path(), usize::MAX);
        let started = std::time::Instant::now();
        assert!(matches!(connect_guest_patiently(&vsock, ENGINE_PORT).await, Err(ConnectError::Refused(2375))));
        assert!(started.elapsed() >= CONNECT_PAUSE * (CONNECT_ATTEMPTS - 1));
    }

    #[tokio::test]
    async fn a_missing_vmm_socket_is_not_retried() {
        let dir = tempfile::tempdir().unwrap();
        let e = connect_guest_patiently(&dir.path().join("none.sock"), ENGINE_PORT).await.err().unwrap();
        assert!(matches!(e, ConnectError::Socket(..)), "{e}");
    }
}
