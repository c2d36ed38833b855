//! What an address is to the network (API.md §1 and §8 "Strangers"), with
//! no sockets: its canonical form, whether it may be contacted at all, its
//! group (who may crowd a list) and the key a ban on it is kept under.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::NodeAddr;

/// `ip` in canonical form (API.md §1): an IPv4-mapped IPv6 address is its
/// IPv4 address; everything else as it is (`Ipv6Addr` displays compressed
/// and lowercase).
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Whether `ip` is a global unicast address: not loopback, private,
/// link-local, unspecified, multicast, broadcast, shared (CGNAT),
/// benchmarking or documentation space, nor an IPv6 unique-local one.
pub fn is_global(ip: IpAddr) -> bool {
    match canonical_ip(ip) {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240 // reserved (and broadcast)
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || (a == 192 && b == 0 && c == 0)) // IETF protocol assignments
}

fn is_global_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0) // discard-only
        || (s[0] & 0xe000) != 0x2000) // only 2000::/3 is global unicast
}

/// Which addresses may be accepted, checked and contacted (API.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AddrPolicy {
    /// `--allow-local-peers`: every address counts, loopback and private
    /// ones included (on by default for `regtest`).
    pub allow_local: bool,
}

impl AddrPolicy {
    /// Global unicast only.
    pub const GLOBAL_ONLY: AddrPolicy = AddrPolicy { allow_local: false };
    /// Every address counts.
    pub const ALLOW_LOCAL: AddrPolicy = AddrPolicy { allow_local: true };

    /// The default of a chain: local peers allowed on `regtest` only.
    pub fn for_chain(name: &str) -> AddrPolicy {
        AddrPolicy {
            allow_local: name == "regtest",
        }
    }

    /// Whether `node` may be accepted, checked or contacted. Port 0 and
    /// the unspecified address never are.
    pub fn admits(&self, node: &NodeAddr) -> bool {
        let ip = canonical_ip(node.ip());
        if node.port() == 0 || ip.is_unspecified() {
            return false;
        }
        self.allow_local || is_global(ip)
    }
}

/// A group: who may fill at most a share of a list (API.md §8 "Groups").
/// An IPv4 /16 or IPv6 /32; a local address (loopback, private…), when
/// admitted, is a group of its own (its whole IP).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    V4([u8; 2]),
    V6([u16; 2]),
    Local(IpAddr),
}

/// The group of `ip`.
pub fn group_of(ip: IpAddr) -> Group {
    let ip = canonical_ip(ip);
    if !is_global(ip) {
        return Group::Local(ip);
    }
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            Group::V4([a, b])
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            Group::V6([s[0], s[1]])
        }
    }
}

/// What a ban is kept under (API.md §8 "Bans"): the IP of a global IPv4
/// address, the /64 of a global IPv6 one, `ip:port` of a local one (many
/// honest local nodes share 127.0.0.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BanKey {
    V4(Ipv4Addr),
    V6([u16; 4]),
    Local(NodeAddr),
}

impl BanKey {
    /// The key of a ban on `node`.
    pub fn of(node: &NodeAddr) -> BanKey {
        let ip = canonical_ip(node.ip());
        if !is_global(ip) {
            return BanKey::Local(NodeAddr::new(ip, node.port()));
        }
        match ip {
            IpAddr::V4(v4) => BanKey::V4(v4),
            IpAddr::V6(v6) => {
                let s = v6.segments();
                BanKey::V6([s[0], s[1], s[2], s[3]])
            }
        }
    }
}

impl std::fmt::Display for BanKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BanKey::V4(ip) => write!(f, "{ip}"),
            BanKey::V6(s) => {
                let ip = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                write!(f, "{ip}/64")
            }
            BanKey::Local(node) => write!(f, "{node}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> NodeAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        let mapped = addr("[::ffff:127.0.0.1]:9");
        assert_eq!(mapped, addr("127.0.0.1:9"));
        assert_eq!(mapped.to_string(), "127.0.0.1:9");
        assert_eq!(BanKey::of(&mapped), BanKey::of(&addr("127.0.0.1:9")));
        assert_eq!(addr("[2001:DB8::1]:5").to_string(), "[2001:db8::1]:5");
    }

    #[test]
    fn only_global_unicast_is_global() {
        for global in ["8.8.8.8", "1.1.1.1", "2a00:1450::1", "::ffff:8.8.4.4"] {
            assert!(is_global(global.parse().expect("ip")), "{global}");
        }
        for local in [
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "100.64.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "ff02::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_global(local.parse().expect("ip")), "{local}");
        }
    }

    #[test]
    fn the_policy_refuses_local_addresses_unless_allowed() {
        let strict = AddrPolicy::for_chain("test_blockchain");
        let open = AddrPolicy::for_chain("regtest");
        assert!(strict.admits(&addr("8.8.8.8:1")));
        assert!(!strict.admits(&addr("127.0.0.1:1")));
        assert!(!strict.admits(&addr("192.168.0.2:80")));
        assert!(open.admits(&addr("127.0.0.1:1")));
        assert!(open.admits(&addr("192.168.0.2:80")));
        assert!(!open.admits(&addr("0.0.0.0:80")), "never unspecified");
        assert!(!open.admits(&addr("[::]:80")));
    }

    #[test]
    fn groups_are_a_slash_16_a_slash_32_or_a_local_ip() {
        assert_eq!(group_of("8.8.1.1".parse().expect("ip")), Group::V4([8, 8]));
        assert_eq!(
            group_of("8.8.200.3".parse().expect("ip")),
            group_of("8.8.1.1".parse().expect("ip"))
        );
        assert_ne!(
            group_of("8.9.1.1".parse().expect("ip")),
            group_of("8.8.1.1".parse().expect("ip"))
        );
        assert_eq!(
            group_of("2a00:1450:1:2::1".parse().expect("ip")),
            group_of("2a00:1450:ffff::9".parse().expect("ip"))
        );
        // Local addresses: each IP its own group.
        assert_ne!(
            group_of("127.0.0.1".parse().expect("ip")),
            group_of("127.0.0.2".parse().expect("ip"))
        );
    }

    #[test]
    fn bans_key_a_global_ip_whatever_its_port_and_a_local_node_by_its_port() {
        assert_eq!(
            BanKey::of(&addr("8.8.8.8:1")),
            BanKey::of(&addr("8.8.8.8:2"))
        );
        assert_eq!(
            BanKey::of(&addr("[2a00:1:2:3:4::1]:1")),
            BanKey::of(&addr("[2a00:1:2:3:ffff::9]:2")),
            "an IPv6 /64"
        );
        assert_ne!(
            BanKey::of(&addr("[2a00:1:2:3::1]:1")),
            BanKey::of(&addr("[2a00:1:2:4::1]:1"))
        );
        assert_ne!(
            BanKey::of(&addr("127.0.0.1:1")),
            BanKey::of(&addr("127.0.0.1:2"))
        );
        assert_eq!(
            BanKey::of(&addr("[2a00:1:2:3::1]:1")).to_string(),
            "2a00:1:2:3::/64"
        );
    }
}
