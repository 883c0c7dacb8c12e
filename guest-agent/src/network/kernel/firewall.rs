//! The engine's packet filter: one nftables table, `ip berth`, written over
//! netlink (NETLINK_NETFILTER) in a single transaction each time, and
//! `net.ipv4.ip_forward` on, as Docker sets it at start.
//!
//! - `postrouting` (nat, srcnat priority): a bridge network's subnet leaving
//!   by any other interface is masqueraded — containers reach the engine's
//!   network (in a machine: the VM's uplink; in process mode: the host's).
//!   `--internal` networks get no such rule.
//! - `forward` (filter, policy accept): Docker's isolation — nothing is
//!   forwarded from one bridge network to another; an `--internal`
//!   network's traffic never leaves its bridge; `enable_icc=false` drops
//!   traffic between containers of the same bridge.
//!
//! The table is replaced whole (create, delete, create again in one batch,
//! which the kernel applies atomically), so what is in the kernel is always
//! exactly [`Rules`] and a restarted engine needs no clean-up.
//!
//! Owns no state and never touches another table: rules of the host's
//! firewall (or of a Docker beside it) stay as they are. It must never run
//! `nft` or `iptables`.

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_REQUEST, NetlinkMessage};
use netlink_packet_netfilter::nftables::{
    Bitwise, ChainAttribute, ChainMessage, Cmp, DataAttribute, Expressions, Hook, Immediate, InetHookNumber, Meta,
    MetaKey, NfTablesMessage, Operator, Payload, Register, RuleAttribute, RuleMessage, TableAttribute, TableMessage,
    Verdict, VerdictAttribute,
};
use netlink_packet_netfilter::none::ControlMessage;
use netlink_packet_netfilter::{NetfilterHeader, NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};

use super::KernelError;

/// The engine's table (family `ip`).
pub const TABLE: &str = "berth";

/// The kernel's verdict codes (`NF_DROP`).
const NF_DROP: u32 = 0;
/// `NFNL_SUBSYS_NFTABLES`, the batch's resource id.
const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `IFNAMSIZ`: interface names compare as 16 NUL-padded bytes.
const IFNAMSIZ: usize = 16;
/// `NFT_PAYLOAD_NETWORK_HEADER` and the IPv4 source address in it.
const NETWORK_HEADER: u32 = 1;
const IPV4_SADDR_OFFSET: u32 = 12;
/// srcnat: where `nft` puts masquerading.
const SRCNAT_PRIORITY: i32 = 100;
/// The longest the kernel may take to answer a batch.
const ANSWER_TIMEOUT_SECS: i64 = 5;

/// One bridge network as the filter sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BridgeRules {
    pub bridge: String,
    pub subnet: Ipv4Addr,
    pub prefix: u8,
    /// `--internal`: no masquerade, nothing in or out of the bridge.
    pub internal: bool,
    /// `com.docker.network.bridge.enable_icc` (default true).
    pub icc: bool,
}

/// Everything the table holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rules {
    pub bridges: Vec<BridgeRules>,
}

/// One rule: which chain, and its expressions in order.
struct Rule {
    chain: &'static str,
    exprs: Vec<Expressions>,
}

impl Rules {
    /// The rules the table gets, in order (exposed for tests).
    fn expand(&self) -> Vec<Rule> {
        let mut rules = Vec::new();
        for b in &self.bridges {
            if !b.internal {
                // ip saddr SUBNET oifname != BRIDGE masquerade
                let mut e = saddr_in(b.subnet, b.prefix);
                e.extend(ifname(MetaKey::Oifname, &b.bridge, Operator::NotEqual));
                e.push(Expressions::Other { expression_type: "masq".into(), attributes: vec![] });
                rules.push(Rule { chain: "postrouting", exprs: e });
            }
        }
        for b in &self.bridges {
            if b.internal {
                // iifname B oifname != B drop; oifname B iifname != B drop
                let mut out = ifname(MetaKey::Iifname, &b.bridge, Operator::Equal);
                out.extend(ifname(MetaKey::Oifname, &b.bridge, Operator::NotEqual));
                out.push(drop_verdict());
                rules.push(Rule { chain: "forward", exprs: out });
                let mut inn = ifname(MetaKey::Oifname, &b.bridge, Operator::Equal);
                inn.extend(ifname(MetaKey::Iifname, &b.bridge, Operator::NotEqual));
                inn.push(drop_verdict());
                rules.push(Rule { chain: "forward", exprs: inn });
            }
            if !b.icc {
                let mut e = ifname(MetaKey::Iifname, &b.bridge, Operator::Equal);
                e.extend(ifname(MetaKey::Oifname, &b.bridge, Operator::Equal));
                e.push(drop_verdict());
                rules.push(Rule { chain: "forward", exprs: e });
            }
            for other in self.bridges.iter().filter(|o| o.bridge != b.bridge) {
                // Docker's isolation: iifname B oifname OTHER drop
                let mut e = ifname(MetaKey::Iifname, &b.bridge, Operator::Equal);
                e.extend(ifname(MetaKey::Oifname, &other.bridge, Operator::Equal));
                e.push(drop_verdict());
                rules.push(Rule { chain: "forward", exprs: e });
            }
        }
        rules
    }
}

/// `ip saddr ADDR/PREFIX`: the source address, masked, equal to the subnet.
fn saddr_in(subnet: Ipv4Addr, prefix: u8) -> Vec<Expressions> {
    let mask = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix.min(32))) };
    let net = u32::from(subnet) & mask;
    vec![
        Expressions::Payload(vec![
            Payload::DestinationRegister(Register::Reg1),
            Payload::Base(NETWORK_HEADER),
            Payload::Offset(IPV4_SADDR_OFFSET),
            Payload::Len(4),
        ]),
        Expressions::Bitwise(vec![
            Bitwise::SourceRegister(Register::Reg1),
            Bitwise::DestinationRegister(Register::Reg1),
            Bitwise::Length(4),
            Bitwise::Mask(DataAttribute::Value(mask.to_be_bytes().to_vec())),
            Bitwise::Xor(DataAttribute::Value(vec![0; 4])),
        ]),
        Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(Operator::Equal),
            Cmp::Data(DataAttribute::Value(net.to_be_bytes().to_vec())),
        ]),
    ]
}

/// `iifname`/`oifname` compared with `name`.
fn ifname(key: MetaKey, name: &str, op: Operator) -> Vec<Expressions> {
    let mut bytes = name.as_bytes()[..name.len().min(IFNAMSIZ - 1)].to_vec();
    bytes.resize(IFNAMSIZ, 0);
    vec![
        Expressions::Meta(vec![Meta::DestinationRegister(Register::Reg1), Meta::Key(key)]),
        Expressions::Cmp(vec![
            Cmp::SourceRegister(Register::Reg1),
            Cmp::Op(op),
            Cmp::Data(DataAttribute::Value(bytes)),
        ]),
    ]
}

fn drop_verdict() -> Expressions {
    Expressions::Immediate(vec![
        Immediate::DestinationRegister(Register::Verdict),
        Immediate::Data(DataAttribute::Verdict(vec![VerdictAttribute::Code(Verdict::Other(NF_DROP))])),
    ])
}

/// The transaction that makes the table exactly `rules`.
fn batch(rules: &Rules) -> Vec<NetlinkMessage<NetfilterMessage>> {
    let ip = |m: NfTablesMessage| NetfilterMessage::new(NetfilterHeader::new(NetfilterProtoFamily::IPv4, 0, 0), m);
    let table = || TableMessage { attributes: vec![TableAttribute::Name(TABLE.into())] };
    let chain = |name: &str, kind: &str, hook: InetHookNumber, priority: i32| {
        NfTablesMessage::NewChain(ChainMessage {
            attributes: vec![
                ChainAttribute::Table(TABLE.into()),
                ChainAttribute::Name(name.into()),
                ChainAttribute::Hook(vec![Hook::Number(hook.into()), Hook::Priority(priority as u32)]),
                ChainAttribute::Policy(1),
                ChainAttribute::Type(kind.into()),
            ],
        })
    };
    let mut inner: Vec<(NetfilterMessage, u16)> = vec![
        // Created if missing, so that the delete that follows cannot fail.
        (ip(NfTablesMessage::NewTable(table())), NLM_F_CREATE),
        (ip(NfTablesMessage::DeleteTable(table())), 0),
        (ip(NfTablesMessage::NewTable(table())), NLM_F_CREATE),
        (ip(chain("postrouting", "nat", InetHookNumber::PostRouting, SRCNAT_PRIORITY)), NLM_F_CREATE),
        (ip(chain("forward", "filter", InetHookNumber::Forward, 0)), NLM_F_CREATE),
    ];
    for r in rules.expand() {
        let rule = RuleMessage {
            attributes: vec![
                RuleAttribute::Table(TABLE.into()),
                RuleAttribute::Chain(r.chain.into()),
                RuleAttribute::Expressions(r.exprs.into_iter().map(Into::into).collect()),
            ],
        };
        inner.push((ip(NfTablesMessage::NewRule(rule)), NLM_F_CREATE | NLM_F_APPEND));
    }
    let control = |c: ControlMessage| {
        NetlinkMessage::from(NetfilterMessage::new(
            NetfilterHeader::new(NetfilterProtoFamily::Unspec, 0, NFNL_SUBSYS_NFTABLES),
            NetfilterMessageInner::None(c),
        ))
    };
    let mut msgs = vec![control(ControlMessage::BatchBegin)];
    for (m, flags) in inner {
        let mut msg = NetlinkMessage::from(m);
        msg.header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        msgs.push(msg);
    }
    msgs.push(control(ControlMessage::BatchEnd));
    for (seq, m) in msgs.iter_mut().enumerate() {
        m.header.sequence_number = seq as u32 + 1;
        if m.header.flags == 0 {
            m.header.flags = NLM_F_REQUEST;
        }
        m.finalize();
    }
    msgs
}

fn encode(msgs: &[NetlinkMessage<NetfilterMessage>]) -> Vec<u8> {
    let mut out = Vec::new();
    for m in msgs {
        let start = out.len();
        out.resize(start + m.buffer_len(), 0);
        m.serialize(&mut out[start..]);
    }
    out
}

/// Makes the table exactly `rules` and turns forwarding on (when any
/// network has egress). Blocking; runs in the calling thread's namespace.
pub fn apply(rules: &Rules) -> Result<(), KernelError> {
    let msgs = batch(rules);
    let acked: Vec<u32> =
        msgs.iter().filter(|m| m.header.flags & NLM_F_ACK != 0).map(|m| m.header.sequence_number).collect();
    let bytes = encode(&msgs);
    let socket = open_socket()?;
    socket.send(&bytes, 0).map_err(KernelError::io("sending the nftables batch"))?;
    read_answers(&socket, &acked, &msgs)?;
    if rules.bridges.iter().any(|b| !b.internal) {
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").map_err(KernelError::io("turning on ip_forward"))?;
    }
    Ok(())
}

fn open_socket() -> Result<netlink_sys::Socket, KernelError> {
    let mut socket = netlink_sys::Socket::new(netlink_sys::protocols::NETLINK_NETFILTER)
        .map_err(KernelError::io("netfilter socket"))?;
    socket.bind_auto().map_err(KernelError::io("binding the netfilter socket"))?;
    let timeout = nix::sys::time::TimeVal::new(ANSWER_TIMEOUT_SECS, 0);
    nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
        .map_err(|e| KernelError::io("netfilter socket timeout")(e.into()))?;
    Ok(socket)
}

/// Reads one answer per acknowledged message; the first error fails the
/// whole transaction (the kernel applied none of it) and names the message.
fn read_answers(
    socket: &netlink_sys::Socket,
    acked: &[u32],
    msgs: &[NetlinkMessage<NetfilterMessage>],
) -> Result<(), KernelError> {
    let mut pending: std::collections::BTreeSet<u32> = acked.iter().copied().collect();
    let mut first_error: Option<(u32, i32)> = None;
    let mut buf = vec![0u8; 64 * 1024];
    while !pending.is_empty() {
        let n = {
            let mut slice = &mut buf[..];
            socket.recv(&mut slice, 0).map_err(KernelError::io("reading the nftables answers"))?
        };
        for (seq, code) in answers(&buf[..n]) {
            pending.remove(&seq);
            if code != 0 && first_error.is_none() {
                first_error = Some((seq, code));
            }
        }
        if first_error.is_some() {
            break;
        }
    }
    match first_error {
        None => Ok(()),
        Some((seq, code)) => {
            let what = msgs
                .iter()
                .find(|m| m.header.sequence_number == seq)
                .map(|m| describe(&m.payload))
                .unwrap_or_else(|| format!("message {seq}"));
            Err(KernelError::io(format!("nftables refused {what}"))(std::io::Error::from_raw_os_error(-code)))
        }
    }
}

/// (sequence, error code) of each `NLMSG_ERROR` in a datagram; 0 is an ack.
fn answers(mut data: &[u8]) -> Vec<(u32, i32)> {
    const NLMSG_ERROR: u16 = 2;
    let mut out = Vec::new();
    while data.len() >= 16 {
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        if len < 16 || len > data.len() {
            break;
        }
        if kind == NLMSG_ERROR && len >= 20 {
            let code = i32::from_ne_bytes([data[16], data[17], data[18], data[19]]);
            // The request's header follows the code: its sequence number.
            let seq = if len >= 36 { u32::from_ne_bytes([data[28], data[29], data[30], data[31]]) } else { 0 };
            out.push((seq, code));
        }
        let step = (len + 3) & !3;
        if step >= data.len() {
            break;
        }
        data = &data[step..];
    }
    out
}

fn describe(p: &netlink_packet_core::NetlinkPayload<NetfilterMessage>) -> String {
    match p {
        netlink_packet_core::NetlinkPayload::InnerMessage(m) => match &m.inner {
            NetfilterMessageInner::NfTables(NfTablesMessage::NewRule(_)) => "a rule".into(),
            NetfilterMessageInner::NfTables(NfTablesMessage::NewChain(_)) => "a chain".into(),
            NetfilterMessageInner::NfTables(_) => "the table".into(),
            _ => "the batch".into(),
        },
        _ => "the batch".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(bridge: &str, third: u8, internal: bool, icc: bool) -> BridgeRules {
        BridgeRules { bridge: bridge.into(), subnet: Ipv4Addr::new(172, 18, third, 0), prefix: 24, internal, icc }
    }

    #[test]
    fn masquerade_for_egress_isolation_between_bridges_and_internal_networks_closed() {
        let rules = Rules { bridges: vec![net("br-a", 0, false, true), net("br-b", 1, true, false)] };
        let expanded = rules.expand();
        let chains: Vec<&str> = expanded.iter().map(|r| r.chain).collect();
        // One masquerade (br-b is internal); br-b: out, in, icc; a→b, b→a.
        assert_eq!(chains, ["postrouting", "forward", "forward", "forward", "forward", "forward"]);
        let masq = &expanded[0].exprs;
        assert!(matches!(masq.last(), Some(Expressions::Other { expression_type, .. }) if expression_type == "masq"));
        // The subnet compared after masking: 172.18.0.0 under 255.255.255.0.
        assert!(masq.iter().any(|e| matches!(e, Expressions::Bitwise(b)
            if b.contains(&Bitwise::Mask(DataAttribute::Value(vec![255, 255, 255, 0]))))));
        assert!(masq.iter().any(|e| matches!(e, Expressions::Cmp(c)
            if c.contains(&Cmp::Data(DataAttribute::Value(vec![172, 18, 0, 0]))))));
    }

    #[test]
    fn interface_names_compare_as_sixteen_padded_bytes() {
        let e = ifname(MetaKey::Oifname, "br-0123456789abcdef", Operator::NotEqual);
        let Expressions::Cmp(c) = &e[1] else { panic!("a cmp") };
        let Some(Cmp::Data(DataAttribute::Value(v))) = c.iter().find(|a| matches!(a, Cmp::Data(_))) else {
            panic!("data")
        };
        assert_eq!(v.len(), IFNAMSIZ);
        assert_eq!(v[IFNAMSIZ - 1], 0, "NUL-terminated even when the name is long");
    }

    #[test]
    fn the_batch_is_framed_and_every_change_is_acknowledged() {
        let msgs = batch(&Rules { bridges: vec![net("br-a", 0, false, true)] });
        assert_eq!(msgs.len(), 2 + 5 + 1, "begin, table x3, chains x2, one rule, end");
        let seqs: Vec<u32> = msgs.iter().map(|m| m.header.sequence_number).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
        assert_eq!(msgs[0].header.flags & NLM_F_ACK, 0, "batch markers are not acknowledged");
        assert!(msgs[1..7].iter().all(|m| m.header.flags & NLM_F_ACK != 0));
        let bytes = encode(&msgs);
        assert_eq!(bytes.len(), msgs.iter().map(|m| m.buffer_len()).sum::<usize>());
    }

    #[test]
    fn answers_are_read_by_sequence_and_code() {
        // Two NLMSG_ERROR messages: an ack for 3 and EPERM for 4.
        let mut data = Vec::new();
        for (seq, code) in [(3u32, 0i32), (4, -1)] {
            data.extend(36u32.to_ne_bytes());
            data.extend(2u16.to_ne_bytes());
            data.extend(0u16.to_ne_bytes());
            data.extend(seq.to_ne_bytes());
            data.extend(0u32.to_ne_bytes());
            data.extend(code.to_ne_bytes());
            data.extend(20u32.to_ne_bytes()); // the echoed request header
            data.extend(0u32.to_ne_bytes());
            data.extend(seq.to_ne_bytes());
            data.extend(0u32.to_ne_bytes());
        }
        assert_eq!(answers(&data), [(3, 0), (4, -1)]);
        // A truncated tail is ignored rather than read past.
        assert_eq!(answers(&data[..50]), [(3, 0)]);
    }

    /// In a network namespace of its own: what `nft` reads back is exactly
    /// the rules, a second apply replaces the first, forwarding is on.
    /// Needs root and the `nft` binary (only to read the table back).
    #[test]
    fn the_table_in_the_kernel_is_exactly_the_rules_and_is_replaced_whole() {
        if !nix::unistd::geteuid().is_root() || std::process::Command::new("nft").arg("--version").output().is_err() {
            eprintln!("skipped: needs root and nft");
            return;
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
            let list = || {
                let out = std::process::Command::new("nft").args(["list", "table", "ip", TABLE]).output().unwrap();
                String::from_utf8_lossy(&out.stdout).into_owned()
            };
            apply(&Rules { bridges: vec![net("br-a", 0, false, true), net("br-b", 1, true, false)] }).expect("apply");
            let t = list();
            assert!(t.contains("ip saddr 172.18.0.0/24 oifname != \"br-a\" masquerade"), "{t}");
            assert!(!t.contains("172.18.1.0/24"), "an internal network is not masqueraded:\n{t}");
            assert!(t.contains("iifname \"br-b\" oifname != \"br-b\" drop"), "{t}");
            assert!(t.contains("oifname \"br-b\" iifname != \"br-b\" drop"), "{t}");
            assert!(t.contains("iifname \"br-b\" oifname \"br-b\" drop"), "icc off:\n{t}");
            assert!(t.contains("iifname \"br-a\" oifname \"br-b\" drop"), "{t}");
            assert!(t.contains("iifname \"br-b\" oifname \"br-a\" drop"), "{t}");
            assert_eq!(std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap().trim(), "1");

            apply(&Rules { bridges: vec![net("br-c", 2, false, true)] }).expect("apply again");
            let t = list();
            assert!(t.contains("ip saddr 172.18.2.0/24 oifname != \"br-c\" masquerade"), "{t}");
            assert!(!t.contains("br-a") && !t.contains("br-b"), "the old rules are gone:\n{t}");
            apply(&Rules::default()).expect("apply nothing");
            assert!(!list().contains("masquerade"));
        })
        .join()
        .unwrap();
    }
}
