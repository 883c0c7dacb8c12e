//! The host's end: [`serve_control`] answers the engine's bind requests
//! with real listeners on the user's host, and each listener carries its
//! connections (TCP) or its clients' datagrams (UDP) over a data stream
//! that `open` makes to the guest.
//!
//! Owns the listeners of one control stream: they all close when it ends.
//! It must never choose an address itself: it binds what the engine asks,
//! with the host user's own rights.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::guest::UDP_IDLE;
use crate::wire::{self, Header, Proto, ToGuest, ToHost, WireError};

/// The most UDP clients one published port carries at once.
const MAX_UDP_CLIENTS: usize = 1024;
/// Datagrams queued for one UDP client's stream before new ones are dropped.
const UDP_QUEUE: usize = 256;

/// Opens a data stream to the guest.
pub trait Opener: Clone + Send + Sync + 'static {
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    fn open(&self) -> impl Future<Output = std::io::Result<Self::Stream>> + Send;
}

/// A task that ends when dropped.
struct Task(tokio::task::JoinHandle<()>);

impl Drop for Task {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Answers the bind requests on one control stream until it ends; then
/// every listener it opened is closed.
pub async fn serve_control<S, O>(stream: S, open: O) -> Result<(), WireError>
where
    S: AsyncRead + AsyncWrite + Unpin,
    O: Opener,
{
    let (rx, mut tx) = tokio::io::split(stream);
    let mut rx = BufReader::new(rx);
    let mut listeners: HashMap<u64, Task> = HashMap::new();
    while let Some(msg) = wire::read_message::<ToHost, _>(&mut rx).await? {
        match msg {
            ToHost::Bind { id, proto, host, target } => {
                let answer = match listen(proto, host, Header { proto, target }, open.clone()) {
                    Ok((port, task)) => {
                        tracing::info!(%host, port, proto = proto.as_str(), %target, "publishing a port");
                        listeners.insert(id, task);
                        ToGuest::Bound { id, port }
                    }
                    Err(e) => ToGuest::Failed {
                        id,
                        in_use: e.kind() == std::io::ErrorKind::AddrInUse,
                        message: e.to_string(),
                    },
                };
                wire::write_message(&mut tx, &answer).await?;
            }
            ToHost::Unbind { id } => {
                if listeners.remove(&id).is_some() {
                    tracing::info!(id, "a published port closed");
                }
            }
        }
    }
    Ok(())
}

/// Binds `at` and starts carrying what arrives; returns the bound port.
fn listen<O: Opener>(proto: Proto, at: SocketAddr, header: Header, open: O) -> std::io::Result<(u16, Task)> {
    match proto {
        Proto::Tcp => {
            let std = std::net::TcpListener::bind(at)?;
            std.set_nonblocking(true)?;
            let listener = TcpListener::from_std(std)?;
            let port = listener.local_addr()?.port();
            Ok((port, Task(tokio::spawn(carry_tcp(listener, header, open)))))
        }
        Proto::Udp => {
            let std = std::net::UdpSocket::bind(at)?;
            std.set_nonblocking(true)?;
            let sock = Arc::new(UdpSocket::from_std(std)?);
            let port = sock.local_addr()?.port();
            Ok((port, Task(tokio::spawn(carry_udp(sock, header, open)))))
        }
    }
}

/// Each accepted connection gets a data stream of its own.
pub async fn carry_tcp<O: Opener>(listener: TcpListener, header: Header, open: O) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let mut client = match accepted {
                    Ok((c, _)) => c,
                    Err(e) => {
                        // Out of fds: back off rather than spin.
                        tracing::warn!(error = %e, "accepting on a published port");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let open = open.clone();
                conns.spawn(async move {
                    let _ = client.set_nodelay(true);
                    let mut guest = match open.open().await {
                        Ok(g) => g,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot carry a published port's connection to the guest");
                            return;
                        }
                    };
                    if guest.write_all(header.line().as_bytes()).await.is_ok() {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut guest).await;
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Each UDP client (by source address) gets a data stream of its own;
/// the container's replies go back to that client.
pub async fn carry_udp<O: Opener>(sock: Arc<UdpSocket>, header: Header, open: O) {
    let mut clients: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65535];
    loop {
        tokio::select! {
            got = sock.recv_from(&mut buf) => {
                let Ok((n, client)) = got else { continue };
                clients.retain(|_, tx| !tx.is_closed());
                if !clients.contains_key(&client) {
                    if clients.len() >= MAX_UDP_CLIENTS {
                        continue;
                    }
                    let (tx, rx) = mpsc::channel(UDP_QUEUE);
                    tasks.spawn(udp_client(open.clone(), header, rx, sock.clone(), client));
                    clients.insert(client, tx);
                }
                if let Some(tx) = clients.get(&client) {
                    let _ = tx.try_send(buf[..n].to_vec());
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// One UDP client's stream: its datagrams to the guest, the replies back,
/// until both are idle for [`UDP_IDLE`].
async fn udp_client<O: Opener>(
    open: O,
    header: Header,
    mut datagrams: mpsc::Receiver<Vec<u8>>,
    sock: Arc<UdpSocket>,
    client: SocketAddr,
) {
    let mut guest = match open.open().await {
        Ok(g) => g,
        Err(e) => {
            tracing::warn!(error = %e, "cannot carry a published UDP port's client to the guest");
            return;
        }
    };
    if guest.write_all(header.line().as_bytes()).await.is_err() {
        return;
    }
    let (mut rx, mut tx) = tokio::io::split(guest);
    let mut reply = Vec::new();
    loop {
        tokio::select! {
            d = datagrams.recv() => match d {
                Some(d) => if wire::write_datagram(&mut tx, &d).await.is_err() { return },
                None => return,
            },
            got = wire::read_datagram(&mut rx, &mut reply) => match got {
                Ok(true) => { let _ = sock.send_to(&reply, client).await; }
                _ => return,
            },
            () = tokio::time::sleep(UDP_IDLE) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::{BindError, Ports, serve_data};
    use tokio::io::{AsyncReadExt, DuplexStream};

    /// Data streams carried in memory to the guest's end, as the VMM's
    /// vsock would.
    #[derive(Clone)]
    struct ToGuestEnd(Arc<Ports>);

    impl Opener for ToGuestEnd {
        type Stream = DuplexStream;
        async fn open(&self) -> std::io::Result<DuplexStream> {
            let (host, guest) = tokio::io::duplex(64 * 1024);
            let ports = self.0.clone();
            tokio::spawn(async move {
                let _ = serve_data(guest, |h| ports.allows(h)).await;
            });
            Ok(host)
        }
    }

    fn machine() -> Arc<Ports> {
        let ports = Ports::new();
        let (guest, host) = tokio::io::duplex(64 * 1024);
        let p = ports.clone();
        tokio::spawn(async move { p.attach(guest).await });
        let opener = ToGuestEnd(ports.clone());
        tokio::spawn(async move { serve_control(host, opener).await });
        ports
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn tcp_and_udp_reach_the_container_and_close_with_the_binding() {
        let ports = machine();
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut c, _)) = echo.accept().await {
                tokio::spawn(async move {
                    let mut b = [0u8; 5];
                    if c.read_exact(&mut b).await.is_ok() {
                        let _ = c.write_all(&b).await;
                    }
                });
            }
        });
        let any = "127.0.0.1:0".parse().unwrap();
        let b = ports.bind(Proto::Tcp, any, target, WAIT).await.expect("bound");
        assert_ne!(b.port, 0, "the host's chosen port comes back");
        let at: SocketAddr = ([127, 0, 0, 1], b.port).into();
        let mut c = tokio::net::TcpStream::connect(at).await.unwrap();
        c.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        c.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");

        // The same address again: Docker's "port is already allocated".
        let again = ports.bind(Proto::Tcp, at, target, WAIT).await;
        assert!(matches!(again, Err(BindError::InUse)), "{:?}", again.err());
        assert_eq!(ports.active(), 1, "a failed bind publishes nothing");

        drop(b);
        assert_eq!(ports.active(), 0);
        let mut closed = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(at).await.is_err() {
                closed = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(closed, "the host's listener closes with the binding");

        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let target = server.local_addr().unwrap();
        tokio::spawn(async move {
            let mut b = [0u8; 64];
            while let Ok((n, from)) = server.recv_from(&mut b).await {
                let _ = server.send_to(&b[..n], from).await;
            }
        });
        let b = ports.bind(Proto::Udp, any, target, WAIT).await.expect("bound");
        let at: SocketAddr = ([127, 0, 0, 1], b.port).into();
        for client in 0..3 {
            let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            for n in 0..3 {
                let msg = format!("ping {client} {n}");
                c.send_to(msg.as_bytes(), at).await.unwrap();
                let mut got = [0u8; 64];
                let len = tokio::time::timeout(WAIT, c.recv(&mut got)).await.expect("answered").unwrap();
                assert_eq!(&got[..len], msg.as_bytes(), "each client gets its own replies");
            }
        }
    }

    #[tokio::test]
    async fn a_data_stream_for_a_target_not_published_is_refused() {
        let ports = Ports::new();
        let (mut host, guest) = tokio::io::duplex(1024);
        let p = ports.clone();
        let served = tokio::spawn(async move { serve_data(guest, |h| p.allows(h)).await });
        host.write_all(b"tcp 127.0.0.1:22\n").await.unwrap();
        let e = served.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("not a published target"), "{e}");
    }

    #[tokio::test]
    async fn without_a_host_a_bind_says_so() {
        let ports = Ports::new();
        let any = "127.0.0.1:0".parse().unwrap();
        let e = ports.bind(Proto::Tcp, any, any, Duration::from_millis(50)).await.err().unwrap();
        assert!(matches!(e, BindError::NotConnected), "{e}");
        assert_eq!(ports.active(), 0);
    }

    #[tokio::test]
    async fn a_bad_control_message_ends_the_stream_and_its_listeners() {
        let (mut guest, host) = tokio::io::duplex(1024);
        #[derive(Clone)]
        struct Nowhere;
        impl Opener for Nowhere {
            type Stream = DuplexStream;
            async fn open(&self) -> std::io::Result<DuplexStream> {
                Err(std::io::Error::other("no guest"))
            }
        }
        let served = tokio::spawn(serve_control(host, Nowhere));
        guest.write_all(b"{\"Bind\":{\"id\":1}}\n").await.unwrap();
        assert!(matches!(served.await.unwrap(), Err(WireError::Malformed(_))));
    }
}
