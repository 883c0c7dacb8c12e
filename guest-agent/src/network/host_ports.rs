//! In a machine, published ports listen on the user's host, not in the
//! VM: the machine process opens the port relay's control stream to
//! [`CONTROL_PORT`] and a data stream to [`DATA_PORT`] per carried
//! connection. This module accepts both on vsock and hands them to the
//! relay's guest end (`berth_port_relay::guest`).
//!
//! Owns the two vsock listeners only; which ports are published is the
//! engine's, and the relaying the relay crate's. It must never connect
//! to a target that no binding publishes (the relay checks each header).

use std::sync::Arc;

use berth_port_relay::guest::{Ports, serve_data};
use berth_port_relay::{CONTROL_PORT, DATA_PORT};
use tokio_vsock::{VMADDR_CID_ANY, VsockAddr, VsockListener};

/// Accepts the host's streams until the engine ends. A listener that
/// cannot be bound is logged: containers then run without published ports.
pub async fn serve(ports: Arc<Ports>) {
    let bind = |port| {
        VsockListener::bind(VsockAddr::new(VMADDR_CID_ANY, port))
            .inspect_err(|e| tracing::error!(port, error = %e, "cannot listen for the host's port relay"))
    };
    let (Ok(control), Ok(data)) = (bind(CONTROL_PORT), bind(DATA_PORT)) else { return };
    loop {
        tokio::select! {
            accepted = control.accept() => match accepted {
                Ok((stream, _)) => {
                    tracing::info!("the host's port relay connected");
                    let ports = ports.clone();
                    tokio::spawn(async move { ports.attach(stream).await });
                }
                Err(e) => backoff(e).await,
            },
            accepted = data.accept() => match accepted {
                Ok((stream, _)) => {
                    let ports = ports.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_data(stream, |h| ports.allows(h)).await {
                            tracing::debug!(error = %e, "a published port's connection ended");
                        }
                    });
                }
                Err(e) => backoff(e).await,
            },
        }
    }
}

/// Out of fds or memory: wait instead of spinning.
async fn backoff(e: std::io::Error) {
    tracing::warn!(error = %e, "accepting the host's port relay stream");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}
