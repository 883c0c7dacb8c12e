//! Serving the API on every listen address until SIGTERM, SIGINT or a
//! shutdown request.
//!
//! Owns sockets and their lifetime: a UNIX socket is created with mode 0660
//! and removed on the way out; a stale socket file from a killed engine is
//! replaced (after checking nothing answers on it).

use std::path::Path;
use std::sync::Arc;

use tokio::net::{TcpListener, UnixListener};
use tokio_vsock::{VMADDR_CID_ANY, VsockAddr, VsockListener};

use crate::api;
use crate::engine::Engine;
use crate::listen::ListenAddr;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{addr} is in use by a running engine")]
    InUse { addr: String },
}

enum Bound {
    Unix(UnixListener, std::path::PathBuf),
    Vsock(VsockListener),
    Tcp(TcpListener),
}

pub async fn serve(engine: Arc<Engine>, addrs: &[ListenAddr]) -> Result<(), ServeError> {
    let mut bound = Vec::new();
    for addr in addrs {
        bound.push(bind(addr).await?);
        tracing::info!(%addr, "engine listening");
    }
    engine.recover().await;
    let app = api::app(engine.clone());
    let mut tasks = tokio::task::JoinSet::new();
    for b in bound {
        let (app, engine) = (app.clone(), engine.clone());
        match b {
            Bound::Unix(l, path) => {
                tasks.spawn(async move {
                    let r = axum::serve(l, app).with_graceful_shutdown(stop(engine)).await;
                    let _ = std::fs::remove_file(&path);
                    r
                });
            }
            Bound::Tcp(l) => {
                tasks.spawn(async move { axum::serve(l, app).with_graceful_shutdown(stop(engine)).await });
            }
            Bound::Vsock(l) => {
                let l = VsockIncoming(l);
                tasks.spawn(async move { axum::serve(l, app).with_graceful_shutdown(stop(engine)).await });
            }
        }
    }
    let drained = async {
        while let Some(r) = tasks.join_next().await {
            if let Ok(Err(e)) = r {
                tracing::warn!(error = %e, "a listener stopped");
            }
        }
    };
    // Streams that never end on their own (`docker events`, `logs -f`)
    // must not hold the engine (and a VM's power-off) forever.
    let grace_over = async {
        stop(engine.clone()).await;
        tokio::time::sleep(DRAIN_GRACE).await;
    };
    tokio::select! {
        () = drained => {}
        () = grace_over => tracing::warn!("closing connections still open {DRAIN_GRACE:?} after the stop"),
    }
    Ok(())
}

/// How long open connections may take to finish once the engine stops.
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

async fn bind(addr: &ListenAddr) -> Result<Bound, ServeError> {
    let err = |source| ServeError::Bind { addr: addr.to_string(), source };
    match addr {
        ListenAddr::Unix(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(err)?;
            }
            remove_stale_socket(path, addr).await?;
            let l = UnixListener::bind(path).map_err(err)?;
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(err)?;
            Ok(Bound::Unix(l, path.clone()))
        }
        ListenAddr::Tcp(a) => Ok(Bound::Tcp(TcpListener::bind(a).await.map_err(err)?)),
        ListenAddr::Vsock { port } => {
            Ok(Bound::Vsock(VsockListener::bind(VsockAddr::new(VMADDR_CID_ANY, *port)).map_err(err)?))
        }
    }
}

/// A socket file left by a killed engine blocks bind(); one that still
/// answers belongs to a live engine and must not be taken over.
async fn remove_stale_socket(path: &Path, addr: &ListenAddr) -> Result<(), ServeError> {
    if !path.exists() {
        return Ok(());
    }
    if tokio::net::UnixStream::connect(path).await.is_ok() {
        return Err(ServeError::InUse { addr: addr.to_string() });
    }
    std::fs::remove_file(path).map_err(|source| ServeError::Bind { addr: addr.to_string(), source })
}

/// Lets axum's server accept vsock connections like TCP or UNIX ones.
struct VsockIncoming(VsockListener);

impl axum::serve::Listener for VsockIncoming {
    type Io = tokio_vsock::VsockStream;
    type Addr = VsockAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.0.accept().await {
                Ok(conn) => return conn,
                Err(e) => {
                    // Out of fds or memory: back off instead of spinning;
                    // the listener itself stays usable.
                    tracing::warn!(error = %e, "vsock accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.0.local_addr()
    }
}

/// Resolves on SIGTERM, SIGINT or a shutdown request through the API.
async fn stop(engine: Arc<Engine>) {
    tokio::select! {
        () = shutdown_signal() => {},
        () = engine.shutdown_requested() => {},
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
