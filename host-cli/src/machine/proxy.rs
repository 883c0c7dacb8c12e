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
            match connect_guest(&vsock, ENGINE_PORT).await {
                Ok(mut guest) => {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut guest).await;
                }
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
