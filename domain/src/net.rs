//! Network-target policy: which IP addresses a user-supplied URL may reach.
//!
//! Lettuce clones URLs that users paste. Without a policy that box is an SSRF
//! hole: `http://169.254.169.254/` (cloud metadata), `http://10.0.0.5/` (the
//! internal network) or `http://127.0.0.1:5432/`. Only [`IpClass::Public`]
//! addresses are allowed unless the operator opts in with
//! `LETTUCE_ALLOW_PRIVATE_GIT_HOSTS=1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The class of an IP address for SSRF purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpClass {
    /// Globally routable.
    Public,
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// RFC 1918, RFC 6598 (CGNAT), fc00::/7.
    Private,
    /// 169.254.0.0/16 (includes cloud metadata), fe80::/10.
    LinkLocal,
    /// 0.0.0.0/8, ::.
    Unspecified,
    /// Multicast and broadcast.
    Multicast,
    /// Documentation, benchmarking, reserved and other special-purpose ranges.
    Reserved,
}

impl IpClass {
    /// Human name used in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            IpClass::Public => "public",
            IpClass::Loopback => "loopback",
            IpClass::Private => "private-network",
            IpClass::LinkLocal => "link-local",
            IpClass::Unspecified => "unspecified",
            IpClass::Multicast => "multicast",
            IpClass::Reserved => "reserved",
        }
    }
}

/// Classifies an address. IPv4-mapped and NAT64 IPv6 addresses are classified
/// by the IPv4 address they embed.
pub fn classify(ip: IpAddr) -> IpClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> IpClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        (0, _, _) => IpClass::Unspecified,
        (127, _, _) => IpClass::Loopback,
        (10, _, _) => IpClass::Private,
        (172, 16..=31, _) => IpClass::Private,
        (192, 168, _) => IpClass::Private,
        (100, 64..=127, _) => IpClass::Private,
        (169, 254, _) => IpClass::LinkLocal,
        (192, 0, 0) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => IpClass::Reserved,
        (198, 18..=19, _) => IpClass::Reserved,
        (224..=239, _, _) => IpClass::Multicast,
        (240..=255, _, _) => {
            if ip == Ipv4Addr::BROADCAST {
                IpClass::Multicast
            } else {
                IpClass::Reserved
            }
        }
        _ => IpClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> IpClass {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 well-known prefix 64:ff9b::/96 embeds an IPv4 address.
    if seg[0] == 0x64 && seg[1] == 0xff9b && seg[2..6] == [0, 0, 0, 0] {
        let o = ip.octets();
        return classify_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if ip.is_unspecified() {
        IpClass::Unspecified
    } else if ip.is_loopback() {
        IpClass::Loopback
    } else if seg[0] & 0xfe00 == 0xfc00 {
        IpClass::Private
    } else if seg[0] & 0xffc0 == 0xfe80 {
        IpClass::LinkLocal
    } else if seg[0] & 0xff00 == 0xff00 {
        IpClass::Multicast
    } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
        IpClass::Reserved
    } else if seg[0..6] == [0, 0, 0, 0, 0, 0] {
        // Deprecated IPv4-compatible ::a.b.c.d
        let o = ip.octets();
        classify_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        IpClass::Public
    }
}

/// Host names that always mean "this machine", whatever DNS says.
pub fn is_local_hostname(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost") || h == "localhost.localdomain"
}

/// Applies the policy to one resolved address.
pub fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), IpClass> {
    match classify(ip) {
        IpClass::Public => Ok(()),
        class if allow_private && class != IpClass::Multicast => Ok(()),
        class => Err(class),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let cases: &[(&str, IpClass)] = &[
            ("8.8.8.8", IpClass::Public),
            ("140.82.112.3", IpClass::Public),
            ("127.0.0.1", IpClass::Loopback),
            ("127.255.0.9", IpClass::Loopback),
            ("10.1.2.3", IpClass::Private),
            ("172.16.0.1", IpClass::Private),
            ("172.31.255.255", IpClass::Private),
            ("172.32.0.1", IpClass::Public),
            ("192.168.1.1", IpClass::Private),
            ("100.64.0.1", IpClass::Private),
            ("169.254.169.254", IpClass::LinkLocal),
            ("0.0.0.0", IpClass::Unspecified),
            ("224.0.0.1", IpClass::Multicast),
            ("255.255.255.255", IpClass::Multicast),
            ("192.0.2.1", IpClass::Reserved),
            ("::1", IpClass::Loopback),
            ("::", IpClass::Unspecified),
            ("fd00::1", IpClass::Private),
            ("fe80::1", IpClass::LinkLocal),
            ("::ffff:127.0.0.1", IpClass::Loopback),
            ("::ffff:10.0.0.1", IpClass::Private),
            ("64:ff9b::a9fe:a9fe", IpClass::LinkLocal),
            ("2001:db8::1", IpClass::Reserved),
            ("2606:4700::1111", IpClass::Public),
        ];
        for (ip, want) in cases {
            assert_eq!(classify(ip.parse().unwrap()), *want, "{ip}");
        }
    }

    #[test]
    fn policy() {
        assert!(check_ip("8.8.8.8".parse().unwrap(), false).is_ok());
        assert_eq!(check_ip("127.0.0.1".parse().unwrap(), false), Err(IpClass::Loopback));
        assert!(check_ip("127.0.0.1".parse().unwrap(), true).is_ok());
        assert!(check_ip("224.0.0.1".parse().unwrap(), true).is_err());
        assert!(is_local_hostname("LOCALHOST."));
        assert!(is_local_hostname("api.localhost"));
        assert!(!is_local_hostname("localhost.example.com"));
    }
}
