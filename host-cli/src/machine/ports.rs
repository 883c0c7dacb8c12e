//! The machine's published ports on the user's host: the machine process
//! keeps the port relay's control stream open to the engine (reconnecting
//! while the guest boots), and each listener the engine asks for carries
//! its connections over a vsock data stream of its own
//! (`berth_port_relay::host`). `curl 127.0.0.1:8080` then reaches a
//! container in the VM with no privileges, whatever the VM's network.
//!
//! Owns the reconnect loop and the vsock opener only; it must never bind
//! an address the engine did not ask for.

use std::path::PathBuf;
use std::time::Duration;

use berth_port_relay::{CONTROL_PORT, DATA_PORT, host};
use tokio::net::UnixStream;

use super::proxy::{ConnectError, connect_guest, connect_guest_patiently};

/// How often the machine process tries the control stream while the
/// engine is not listening yet (it boots in well under a second).
const RETRY: Duration = Duration::from_millis(250);

/// Data streams over the VMM's hybrid vsock socket.
#[derive(Clone)]
struct Vsock(PathBuf);

impl host::Opener for Vsock {
    type Stream = UnixStream;
    async fn open(&self) -> std::io::Result<UnixStream> {
        connect_guest_patiently(&self.0, DATA_PORT).await.map_err(std::io::Error::other)
    }
}

/// Serves the engine's port requests for as long as the machine runs.
pub async fn serve(vsock: PathBuf) {
    loop {
        match connect_guest(&vsock, CONTROL_PORT).await {
            Ok(stream) => {
                tracing::info!("the port relay is connected to the engine");
                match host::serve_control(stream, Vsock(vsock.clone())).await {
                    Ok(()) => tracing::info!("the engine closed the port relay"),
                    Err(e) => tracing::warn!(error = %e, "the port relay's control stream failed"),
                }
            }
            // The engine is not listening yet, or the VM is going.
            Err(ConnectError::Refused(_) | ConnectError::Socket(..)) => {}
            Err(e) => tracing::warn!(error = %e, "connecting the port relay"),
        }
        tokio::time::sleep(RETRY).await;
    }
}
