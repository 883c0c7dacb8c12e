//! IPv4 address management as Docker's default IPAM driver: subnets from
//! the default pools (172.17–31.0.0/16, then 192.168.0.0/16 cut in /20s),
//! overlap checks, the gateway (first host address), addresses handed out
//! lowest first from the subnet or `--ip-range`, and the MAC address Docker
//! derives from an address (02:42 then the four octets).
//!
//! Pure arithmetic: it must never touch a file or the kernel; the records
//! (`super::record`) hold what was allocated.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// An IPv4 prefix: the address as given and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub len: u8,
}

impl Subnet {
    pub fn parse(s: &str) -> Option<Subnet> {
        let (a, l) = s.split_once('/')?;
        let addr: Ipv4Addr = a.parse().ok()?;
        let len: u8 = l.parse().ok()?;
        (len <= 32).then_some(Subnet { addr, len })
    }

    fn mask(&self) -> u32 {
        if self.len == 0 { 0 } else { u32::MAX << (32 - self.len) }
    }

    /// The network address.
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) | !self.mask())
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains(other.network()) || other.contains(self.network())
    }

    /// The first host address: Docker's default gateway.
    pub fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()).saturating_add(1))
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network(), self.len)
    }
}

/// The default bridge's subnet.
pub const DEFAULT_BRIDGE: &str = "172.17.0.0/16";

/// Docker's default address pools after the default bridge's: 172.18–31
/// as /16s, then 192.168.0.0/16 as /20s.
fn pool() -> impl Iterator<Item = Subnet> {
    let big = (18..=31u8).map(|b| Subnet { addr: Ipv4Addr::new(172, b, 0, 0), len: 16 });
    let small = (0..16u8).map(|i| Subnet { addr: Ipv4Addr::new(192, 168, i * 16, 0), len: 20 });
    big.chain(small)
}

/// The first pool subnet that overlaps none of `taken`.
pub fn next_subnet(taken: &[Subnet]) -> Option<Subnet> {
    pool().find(|s| !taken.iter().any(|t| t.overlaps(s)))
}

/// The lowest free address of `range` (within `subnet`), never the network
/// address, the broadcast address, the gateway or one in `used`.
pub fn allocate(
    subnet: &Subnet,
    range: Option<&Subnet>,
    gateway: Ipv4Addr,
    used: &BTreeSet<Ipv4Addr>,
) -> Option<Ipv4Addr> {
    let r = range.unwrap_or(subnet);
    let (lo, hi) = (u32::from(r.network()), u32::from(r.broadcast()));
    (lo..=hi).map(Ipv4Addr::from).find(|ip| usable(subnet, gateway, used, *ip))
}

/// May `ip` be given to an endpoint?
pub fn usable(subnet: &Subnet, gateway: Ipv4Addr, used: &BTreeSet<Ipv4Addr>, ip: Ipv4Addr) -> bool {
    subnet.contains(ip)
        && (subnet.len >= 31 || (ip != subnet.network() && ip != subnet.broadcast()))
        && ip != gateway
        && !used.contains(&ip)
}

/// Docker's MAC for an address: `02:42:` and the address's four octets.
pub fn mac_of(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

pub fn mac_string(mac: [u8; 6]) -> String {
    mac.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Subnet {
        Subnet::parse(x).expect("subnet")
    }

    #[test]
    fn subnets_overlap_and_contain() {
        assert!(s("10.0.0.0/8").overlaps(&s("10.1.0.0/16")));
        assert!(s("10.1.0.0/16").overlaps(&s("10.0.0.0/8")));
        assert!(!s("10.1.0.0/16").overlaps(&s("10.2.0.0/16")));
        assert_eq!(s("10.1.2.3/16").network(), Ipv4Addr::new(10, 1, 0, 0));
        assert_eq!(s("10.1.2.3/16").broadcast(), Ipv4Addr::new(10, 1, 255, 255));
        assert_eq!(s("10.1.2.3/16").to_string(), "10.1.0.0/16");
        assert!(Subnet::parse("10.0.0.0/33").is_none());
    }

    #[test]
    fn the_pool_skips_taken_subnets() {
        assert_eq!(next_subnet(&[s(DEFAULT_BRIDGE)]), Some(s("172.18.0.0/16")));
        assert_eq!(next_subnet(&[s(DEFAULT_BRIDGE), s("172.18.5.0/24")]), Some(s("172.19.0.0/16")));
        let all: Vec<Subnet> = (16..=31).map(|b| Subnet { addr: Ipv4Addr::new(172, b, 0, 0), len: 16 }).collect();
        assert_eq!(next_subnet(&all), Some(s("192.168.0.0/20")));
    }

    #[test]
    fn addresses_lowest_first_never_gateway_or_network() {
        let sub = s("172.18.0.0/16");
        let gw = sub.first_host();
        let mut used = BTreeSet::new();
        let a = allocate(&sub, None, gw, &used).expect("an address");
        assert_eq!(a, Ipv4Addr::new(172, 18, 0, 2));
        used.insert(a);
        assert_eq!(allocate(&sub, None, gw, &used), Some(Ipv4Addr::new(172, 18, 0, 3)));
        let range = s("172.18.5.0/24");
        assert_eq!(allocate(&sub, Some(&range), gw, &used), Some(Ipv4Addr::new(172, 18, 5, 0)));
        let tiny = s("10.9.0.0/30");
        let mut used = BTreeSet::new();
        used.insert(Ipv4Addr::new(10, 9, 0, 2));
        assert_eq!(allocate(&tiny, None, tiny.first_host(), &used), None);
    }

    #[test]
    fn mac_as_docker_derives_it() {
        assert_eq!(mac_string(mac_of(Ipv4Addr::new(172, 17, 0, 2))), "02:42:ac:11:00:02");
    }
}
