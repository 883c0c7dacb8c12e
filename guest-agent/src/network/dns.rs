//! The embedded DNS server of user networks, as Docker's: a resolver on
//! 127.0.0.11:53 (UDP and TCP) inside each container's network namespace
//! that answers the names of the containers in the asker's networks
//! (names, aliases, IDs) and forwards every other question to the engine's
//! own resolvers.
//!
//! The listening sockets are made inside the container's namespace (a
//! socket stays in the namespace it was made in); forwarding sockets are
//! made in the engine's. It must never decide who is named what: the
//! engine's resolve function does.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{DNSClass, RData, Record, RecordType, rdata::A};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::kernel::{KernelError, netns};

/// A name (without the trailing dot) → the addresses it has for the asker.
pub type Resolve = Arc<dyn Fn(&str) -> Vec<Ipv4Addr> + Send + Sync>;

/// Docker's address for the embedded server.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// How long a forwarded question may take.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(3);

/// Docker's TTL for its own names.
const TTL: u32 = 600;

/// The resolvers of the engine's `/etc/resolv.conf`, port 53.
pub fn upstream_servers() -> Vec<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some("nameserver")).then(|| w.next()).flatten()
        })
        .filter_map(|ip| ip.parse::<std::net::IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .collect()
}

/// A running server: dropping it stops it and closes its sockets (which
/// hold the namespace).
pub struct Server {
    tasks: [tokio::task::JoinHandle<()>; 2],
}

impl Server {
    pub fn is_finished(&self) -> bool {
        self.tasks.iter().any(|t| t.is_finished())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts the server in the namespace at `netns_path`; it serves until the
/// returned [`Server`] is dropped. Loopback must be up there.
pub fn serve(netns_path: &Path, resolve: Resolve, upstream: Vec<SocketAddr>) -> Result<Server, KernelError> {
    let (udp, tcp) = netns::run_in(Some(netns_path), || {
        let addr = SocketAddr::from((ADDRESS, 53));
        let udp = std::net::UdpSocket::bind(addr).map_err(KernelError::io("bind 127.0.0.11:53/udp"))?;
        let tcp = std::net::TcpListener::bind(addr).map_err(KernelError::io("bind 127.0.0.11:53/tcp"))?;
        udp.set_nonblocking(true).map_err(KernelError::io("udp"))?;
        tcp.set_nonblocking(true).map_err(KernelError::io("tcp"))?;
        Ok((udp, tcp))
    })?;
    let udp = Arc::new(tokio::net::UdpSocket::from_std(udp).map_err(KernelError::io("udp"))?);
    let tcp = tokio::net::TcpListener::from_std(tcp).map_err(KernelError::io("tcp"))?;
    let upstream = Arc::new(upstream);
    let tcp_task = tokio::spawn(serve_tcp(tcp, resolve.clone(), upstream.clone()));
    Ok(Server { tasks: [tokio::spawn(serve_udp(udp, resolve, upstream)), tcp_task] })
}

async fn serve_udp(sock: Arc<tokio::net::UdpSocket>, resolve: Resolve, upstream: Arc<Vec<SocketAddr>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "embedded DNS: receive");
                continue;
            }
        };
        let query = buf[..n].to_vec();
        let (sock, resolve, upstream) = (sock.clone(), resolve.clone(), upstream.clone());
        tokio::spawn(async move {
            if let Some(reply) = answer(&query, &resolve, &upstream).await
                && let Err(e) = sock.send_to(&reply, peer).await
            {
                tracing::debug!(error = %e, "embedded DNS: reply");
            }
        });
    }
}

async fn serve_tcp(listener: tokio::net::TcpListener, resolve: Resolve, upstream: Arc<Vec<SocketAddr>>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        let (resolve, upstream) = (resolve.clone(), upstream.clone());
        tokio::spawn(async move {
            loop {
                let mut len = [0u8; 2];
                if conn.read_exact(&mut len).await.is_err() {
                    return;
                }
                let mut query = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if conn.read_exact(&mut query).await.is_err() {
                    return;
                }
                let Some(reply) = answer(&query, &resolve, &upstream).await else { return };
                let Ok(n) = u16::try_from(reply.len()) else { return };
                if conn.write_all(&n.to_be_bytes()).await.is_err() || conn.write_all(&reply).await.is_err() {
                    return;
                }
            }
        });
    }
}

/// The reply to one message: ours for the names the network knows,
/// forwarded otherwise; `None` for what is not a question.
async fn answer(query: &[u8], resolve: &Resolve, upstream: &[SocketAddr]) -> Option<Vec<u8>> {
    let msg = Message::from_vec(query).ok()?;
    if msg.metadata.message_type != MessageType::Query {
        return None;
    }
    if let Some(local) = local_answer(&msg, resolve) {
        return local.to_vec().ok();
    }
    for server in upstream {
        match forward(query, *server).await {
            Ok(reply) => return Some(reply),
            Err(e) => tracing::debug!(%server, error = %e, "embedded DNS: forwarding"),
        }
    }
    let mut fail = Message::error_msg(msg.metadata.id, msg.metadata.op_code, ResponseCode::ServFail);
    fail.metadata.recursion_desired = msg.metadata.recursion_desired;
    fail.metadata.recursion_available = true;
    fail.add_queries(msg.queries.iter().cloned());
    fail.to_vec().ok()
}

/// A reply from the network's names, when the question is about one.
fn local_answer(msg: &Message, resolve: &Resolve) -> Option<Message> {
    let [q] = msg.queries.as_slice() else { return None };
    if q.query_class() != DNSClass::IN || !matches!(q.query_type(), RecordType::A | RecordType::AAAA) {
        return None;
    }
    let name = q.name().to_ascii();
    let ips = resolve(name.trim_end_matches('.'));
    if ips.is_empty() {
        return None;
    }
    let mut reply = Message::response(msg.metadata.id, msg.metadata.op_code);
    reply.metadata.recursion_desired = msg.metadata.recursion_desired;
    reply.metadata.recursion_available = true;
    reply.add_query(q.clone());
    // A containers' name has no IPv6 address here: an empty answer, at once.
    if q.query_type() == RecordType::A {
        for ip in ips {
            reply.add_answer(Record::from_rdata(q.name().clone(), TTL, RData::A(A(ip))));
        }
    }
    Some(reply)
}

async fn forward(query: &[u8], server: SocketAddr) -> std::io::Result<Vec<u8>> {
    let bind: SocketAddr =
        if server.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { (std::net::Ipv6Addr::UNSPECIFIED, 0).into() };
    let sock = tokio::net::UdpSocket::bind(bind).await?;
    sock.connect(server).await?;
    sock.send(query).await?;
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(FORWARD_TIMEOUT, sock.recv(&mut buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
    buf.truncate(n);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;

    fn ask(name: &str, t: RecordType) -> Message {
        let mut m = Message::query();
        m.add_query(Query::query(Name::from_ascii(name).expect("name"), t));
        m
    }

    #[test]
    fn names_the_network_knows_are_answered_here() {
        let resolve: Resolve =
            Arc::new(|n: &str| if n == "srv" { vec![Ipv4Addr::new(172, 18, 0, 2)] } else { Vec::new() });
        let a = local_answer(&ask("srv.", RecordType::A), &resolve).expect("ours");
        assert_eq!(a.answers.len(), 1);
        assert_eq!(a.answers[0].data, RData::A(A(Ipv4Addr::new(172, 18, 0, 2))));
        let aaaa = local_answer(&ask("srv.", RecordType::AAAA), &resolve).expect("ours, empty");
        assert!(aaaa.answers.is_empty());
        assert!(local_answer(&ask("example.org.", RecordType::A), &resolve).is_none(), "forwarded");
    }
}
