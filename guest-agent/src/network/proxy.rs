//! The userland proxy of published ports, as docker-proxy: a listener on
//! the host side (`HostIp:HostPort`) whose every TCP connection is spliced
//! to the container's address and port, and whose UDP datagrams are
//! relayed through a socket per client (replies back to that client).
//!
//! Owns its sockets and tasks: dropping a [`Forward`] closes the listener
//! and every connection it carries. It must never choose what to forward
//! where: the engine does.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

/// How long a UDP client's relay lives without traffic.
const UDP_IDLE: Duration = Duration::from_secs(60);

/// One copy of the protocol names, shared with the machine's port relay.
pub use berth_port_relay::wire::Proto;

/// A published port being forwarded; dropped, it stops.
pub struct Forward {
    /// Where it listens (the port the kernel chose for a random one).
    pub local: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds `at` (port 0: any free one) and forwards to `target`. Must be
/// called inside the engine's runtime.
pub fn forward(proto: Proto, at: SocketAddr, target: SocketAddr) -> std::io::Result<Forward> {
    match proto {
        Proto::Tcp => {
            let std = std::net::TcpListener::bind(at)?;
            std.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(std)?;
            let local = listener.local_addr()?;
            Ok(Forward { local, task: tokio::spawn(tcp(listener, target)) })
        }
        Proto::Udp => {
            let std = std::net::UdpSocket::bind(at)?;
            std.set_nonblocking(true)?;
            let sock = Arc::new(tokio::net::UdpSocket::from_std(std)?);
            let local = sock.local_addr()?;
            Ok(Forward { local, task: tokio::spawn(udp(sock, target)) })
        }
    }
}

async fn tcp(listener: tokio::net::TcpListener, target: SocketAddr) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((mut client, _)) = accepted else { continue };
                conns.spawn(async move {
                    let _ = client.set_nodelay(true);
                    match tokio::net::TcpStream::connect(target).await {
                        Ok(mut upstream) => {
                            let _ = upstream.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        }
                        Err(e) => tracing::debug!(%target, error = %e, "published port: container unreachable"),
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn udp(sock: Arc<tokio::net::UdpSocket>, target: SocketAddr) {
    let mut relays: HashMap<SocketAddr, Arc<tokio::net::UdpSocket>> = HashMap::new();
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65536];
    loop {
        tokio::select! {
            got = sock.recv_from(&mut buf) => {
                let Ok((n, client)) = got else { continue };
                relays.retain(|_, r| Arc::strong_count(r) > 1);
                let relay = match relays.get(&client) {
                    Some(r) => r.clone(),
                    None => {
                        let bind: SocketAddr = if target.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
                        let Ok(r) = tokio::net::UdpSocket::bind(bind).await else { continue };
                        if r.connect(target).await.is_err() {
                            continue;
                        }
                        let r = Arc::new(r);
                        relays.insert(client, r.clone());
                        tasks.spawn(replies(r.clone(), sock.clone(), client));
                        r
                    }
                };
                let _ = relay.send(&buf[..n]).await;
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
}

/// The container's replies to one client, until it is idle.
async fn replies(relay: Arc<tokio::net::UdpSocket>, listener: Arc<tokio::net::UdpSocket>, client: SocketAddr) {
    let mut buf = vec![0u8; 65536];
    while let Ok(Ok(n)) = tokio::time::timeout(UDP_IDLE, relay.recv(&mut buf)).await {
        let _ = listener.send_to(&buf[..n], client).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn tcp_and_udp_reach_the_target_and_stop_when_dropped() {
        let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let target = echo.local_addr().expect("addr");
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
        let f = forward(Proto::Tcp, "127.0.0.1:0".parse().expect("addr"), target).expect("forward");
        let mut c = tokio::net::TcpStream::connect(f.local).await.expect("connect");
        c.write_all(b"hello").await.expect("write");
        let mut b = [0u8; 5];
        c.read_exact(&mut b).await.expect("read");
        assert_eq!(&b, b"hello");
        let local = f.local;
        drop(f);
        tokio::task::yield_now().await;
        assert!(tokio::net::TcpStream::connect(local).await.is_err(), "the listener is closed");

        let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let target = server.local_addr().expect("addr");
        tokio::spawn(async move {
            let mut b = [0u8; 64];
            while let Ok((n, from)) = server.recv_from(&mut b).await {
                let _ = server.send_to(&b[..n], from).await;
            }
        });
        let f = forward(Proto::Udp, "127.0.0.1:0".parse().expect("addr"), target).expect("forward");
        let c = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        c.send_to(b"ping", f.local).await.expect("send");
        let mut b = [0u8; 8];
        let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut b)).await.expect("in time").expect("recv");
        assert_eq!(&b[..n], b"ping");
    }
}
