//! The guest's end: [`Ports`], through which the engine asks the host for
//! listeners on the control stream, and [`serve_data`], which connects
//! one data stream to the container it names.
//!
//! Owns the bindings the engine holds (a [`Binding`] dropped is unbound)
//! and the check that a data stream names a published target. It must
//! never accept vsock connections itself: the agent hands it the streams.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::sync::{mpsc, oneshot, watch};

use crate::wire::{self, Header, Proto, ToGuest, ToHost, WireError};

/// How long a data stream may take to name its target.
const HEADER_WAIT: Duration = Duration::from_secs(5);
/// How long the container may take to accept.
const CONNECT_WAIT: Duration = Duration::from_secs(10);
/// How long the host may take to answer a bind.
const ANSWER_WAIT: Duration = Duration::from_secs(10);
/// How long a UDP client's stream lives without traffic.
pub const UDP_IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("the machine's port forwarder on the host is not connected")]
    NotConnected,
    #[error("the host did not answer the bind")]
    NoAnswer,
    #[error("port is already allocated")]
    InUse,
    #[error("{0}")]
    Failed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("{0}")]
    Wire(#[from] WireError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the data stream named no target in time")]
    NoHeader,
    #[error("{0:?} is not a published target")]
    NotPublished(Header),
    #[error("the container at {0} did not accept in time")]
    ConnectTimeout(SocketAddr),
}

/// The control stream's state: the current connection (the host opens one
/// per machine process), the binds waiting for an answer and the targets
/// that are published.
#[derive(Default)]
pub struct Ports {
    state: Mutex<State>,
    /// Counts connections, so `bind` can wait for the first one.
    connected: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    next_id: u64,
    to_host: Option<mpsc::UnboundedSender<ToHost>>,
    waiting: HashMap<u64, oneshot::Sender<ToGuest>>,
    active: HashMap<u64, Header>,
}

/// A listener the host holds for the engine; dropped, it is closed.
pub struct Binding {
    /// The port the host bound (the one it chose for port 0).
    pub port: u16,
    id: u64,
    ports: Weak<Ports>,
}

impl Drop for Binding {
    fn drop(&mut self) {
        if let Some(ports) = self.ports.upgrade() {
            let mut st = ports.lock();
            st.active.remove(&self.id);
            if let Some(tx) = &st.to_host {
                let _ = tx.send(ToHost::Unbind { id: self.id });
            }
        }
    }
}

impl Ports {
    pub fn new() -> Arc<Ports> {
        Arc::new(Ports::default())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves a control stream the host opened until it ends. It replaces
    /// any earlier one; the host closes a stream's listeners when it ends,
    /// so bindings made on an earlier stream are gone (their [`Binding`]s
    /// stay harmless).
    pub async fn attach<S>(self: &Arc<Self>, stream: S)
    where
        S: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rx, mut tx) = tokio::io::split(stream);
        let (send, mut outgoing) = mpsc::unbounded_channel::<ToHost>();
        {
            let mut st = self.lock();
            st.to_host = Some(send.clone());
            st.waiting.clear();
        }
        self.connected.send_modify(|n| *n += 1);
        let writer = async move {
            while let Some(msg) = outgoing.recv().await {
                if wire::write_message(&mut tx, &msg).await.is_err() {
                    break;
                }
            }
        };
        let me = self.clone();
        let reader = async move {
            let mut rx = BufReader::new(rx);
            loop {
                match wire::read_message::<ToGuest, _>(&mut rx).await {
                    Ok(Some(answer)) => {
                        let id = match &answer {
                            ToGuest::Bound { id, .. } | ToGuest::Failed { id, .. } => *id,
                        };
                        if let Some(w) = me.lock().waiting.remove(&id) {
                            let _ = w.send(answer);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "the host's port forwarder sent a bad message; closing its stream");
                        break;
                    }
                }
            }
        };
        tokio::select! {
            () = writer => {}
            () = reader => {}
        }
        let mut st = self.lock();
        if st.to_host.as_ref().is_some_and(|t| t.same_channel(&send)) {
            st.to_host = None;
            st.waiting.clear();
        }
    }

    /// Asks the host to listen on `host` for `target`; waits up to `wait`
    /// for a control stream when none is connected yet (a machine that is
    /// still starting).
    pub async fn bind(
        self: &Arc<Self>,
        proto: Proto,
        host: SocketAddr,
        target: SocketAddr,
        wait: Duration,
    ) -> Result<Binding, BindError> {
        let mut connected = self.connected.subscribe();
        if self.lock().to_host.is_none() {
            let _ = tokio::time::timeout(wait, connected.wait_for(|n| *n > 0)).await;
        }
        let (id, answer) = {
            let mut st = self.lock();
            let to_host = st.to_host.clone().ok_or(BindError::NotConnected)?;
            st.next_id += 1;
            let id = st.next_id;
            let (tx, rx) = oneshot::channel();
            st.waiting.insert(id, tx);
            // Published before the answer, so a connection that arrives the
            // moment the host listens finds its target.
            st.active.insert(id, Header { proto, target });
            to_host.send(ToHost::Bind { id, proto, host, target }).map_err(|_| BindError::NotConnected)?;
            (id, rx)
        };
        // From here on, a failure must unpublish: the Binding's drop does.
        let mut binding = Binding { port: 0, id, ports: Arc::downgrade(self) };
        match tokio::time::timeout(ANSWER_WAIT, answer).await {
            Ok(Ok(ToGuest::Bound { port, .. })) => {
                binding.port = port;
                Ok(binding)
            }
            Ok(Ok(ToGuest::Failed { in_use: true, .. })) => Err(BindError::InUse),
            Ok(Ok(ToGuest::Failed { message, .. })) => Err(BindError::Failed(message)),
            Ok(Err(_)) => Err(BindError::NotConnected),
            Err(_) => Err(BindError::NoAnswer),
        }
    }

    /// Whether a data stream's header names a published target.
    pub fn allows(&self, h: &Header) -> bool {
        self.lock().active.values().any(|a| a == h)
    }

    /// How many bindings are held (for leak checks).
    pub fn active(&self) -> usize {
        self.lock().active.len()
    }
}

/// Serves one data stream: reads its header, checks it with `allowed`,
/// connects to the target and relays until either side ends.
pub async fn serve_data<S>(mut stream: S, allowed: impl Fn(&Header) -> bool) -> Result<(), RelayError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let header =
        tokio::time::timeout(HEADER_WAIT, wire::read_header(&mut stream)).await.map_err(|_| RelayError::NoHeader)??;
    if !allowed(&header) {
        return Err(RelayError::NotPublished(header));
    }
    match header.proto {
        Proto::Tcp => {
            let mut upstream = tokio::time::timeout(CONNECT_WAIT, tokio::net::TcpStream::connect(header.target))
                .await
                .map_err(|_| RelayError::ConnectTimeout(header.target))??;
            let _ = upstream.set_nodelay(true);
            tokio::io::copy_bidirectional(&mut stream, &mut upstream).await?;
            Ok(())
        }
        Proto::Udp => {
            let any: SocketAddr = match header.target {
                SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
                SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
            };
            let sock = tokio::net::UdpSocket::bind(any).await?;
            sock.connect(header.target).await?;
            relay_datagrams(stream, sock).await
        }
    }
}

/// Framed datagrams from the stream to the container's socket and its
/// replies back, until the stream ends or both are idle for [`UDP_IDLE`].
async fn relay_datagrams<S>(stream: S, sock: tokio::net::UdpSocket) -> Result<(), RelayError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut rx, mut tx) = tokio::io::split(stream);
    let mut frame = Vec::new();
    let mut reply = vec![0u8; 65535];
    loop {
        tokio::select! {
            got = wire::read_datagram(&mut rx, &mut frame) => {
                if !got? {
                    return Ok(());
                }
                // A container that is not listening answers ICMP; the next
                // send reports it. Datagrams may be lost: go on.
                let _ = sock.send(&frame).await;
            }
            got = sock.recv(&mut reply) => {
                if let Ok(n) = got {
                    wire::write_datagram(&mut tx, &reply[..n]).await?;
                }
            }
            () = tokio::time::sleep(UDP_IDLE) => return Ok(()),
        }
    }
}
