//! Where a webhook may go (the SSRF guard): an `https` URL whose host
//! resolves only to global addresses. Loopback, private, link-local,
//! carrier-grade NAT, multicast, documentation and reserved ranges are
//! refused, also when hidden in IPv4-mapped, NAT64 or 6to4 IPv6 forms.
//! Hosts an operator allow-lists (`RDV_WEBHOOK_ALLOW_HOSTS`, e.g. loopback
//! for tests) may use `http` and any address. Checked when an endpoint is
//! saved and before each delivery, which then connects to exactly the
//! vetted address (no second resolution, no redirect followed).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    #[error("not a valid URL")]
    Malformed,
    #[error("webhooks go to https URLs")]
    NotHttps,
    #[error("the host does not resolve")]
    Unresolved,
    #[error("the host resolves to a non-public address ({0})")]
    NotPublic(IpAddr),
}

/// A vetted target: the URL and the address to connect to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: Url,
    pub address: SocketAddr,
}

/// Hosts allowed without the https and public-address rules.
#[derive(Debug, Clone, Default)]
pub struct AllowList(Vec<String>);

impl AllowList {
    /// From `RDV_WEBHOOK_ALLOW_HOSTS`: host names or addresses, comma-separated.
    pub fn parse(text: &str) -> Self {
        Self(
            text.split(',')
                .map(|h| {
                    h.trim()
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_ascii_lowercase()
                })
                .filter(|h| !h.is_empty())
                .collect(),
        )
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        self.0.contains(&host)
    }
}

/// Parses, resolves and vets a target URL.
pub async fn vet(raw: &str, allow: &AllowList) -> Result<Target, TargetError> {
    let url = Url::parse(raw).map_err(|_| TargetError::Malformed)?;
    let host = url.host_str().ok_or(TargetError::Malformed)?.to_string();
    let allowed = allow.allows(&host);
    match url.scheme() {
        "https" => {}
        "http" if allowed => {}
        _ => return Err(TargetError::NotHttps),
    }
    let port = url.port_or_known_default().ok_or(TargetError::Malformed)?;
    let lookup = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((lookup.as_str(), port))
        .await
        .map_err(|_| TargetError::Unresolved)?
        .collect();
    let first = *addresses.first().ok_or(TargetError::Unresolved)?;
    if !allowed && let Some(bad) = addresses.iter().map(|a| a.ip()).find(|ip| !is_public(*ip)) {
        return Err(TargetError::NotPublic(bad));
    }
    Ok(Target { url, address: first })
}

/// Whether an address is globally routable (not private, loopback,
/// link-local, shared, multicast, documentation or reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = embedded_v4(ip) {
        return is_public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || first == 0x0100 // discard-only
        || ip.segments()[..6].iter().all(|s| *s == 0)) // IPv4-compatible and ::/96
}

/// The IPv4 address inside IPv4-mapped (`::ffff:a.b.c.d`), NAT64
/// (`64:ff9b::a.b.c.d`) and 6to4 (`2002:aabb:ccdd::`) forms.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[0] == 0x0064 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0) {
        return Some(from(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(from(s[1], s[2]));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_public_addresses_are_recognised_in_every_form() {
        for refused in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:c0a8:0101::1",
            "2001:db8::1",
        ] {
            assert!(!is_public(refused.parse().unwrap()), "{refused} must be refused");
        }
        for allowed in [
            "8.8.8.8",
            "193.51.24.1",
            "2a01:e0a::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert!(is_public(allowed.parse().unwrap()), "{allowed} is public");
        }
    }

    #[tokio::test]
    async fn targets_must_be_https_and_public_unless_allow_listed() {
        let none = AllowList::default();
        assert_eq!(vet("http://example.org/h", &none).await, Err(TargetError::NotHttps));
        assert_eq!(vet("not a url", &none).await, Err(TargetError::Malformed));
        for private in [
            "https://127.0.0.1/h",
            "https://[::ffff:10.0.0.1]/h",
            "https://169.254.169.254/latest",
        ] {
            assert!(
                matches!(vet(private, &none).await, Err(TargetError::NotPublic(_))),
                "{private}"
            );
        }
        // "localhost" is a name resolving to loopback.
        assert!(matches!(
            vet("https://localhost:8443/h", &none).await,
            Err(TargetError::NotPublic(_))
        ));
        let tests = AllowList::parse("127.0.0.1, localhost");
        let vetted = vet("http://127.0.0.1:9999/hooks", &tests).await.unwrap();
        assert_eq!(vetted.address, "127.0.0.1:9999".parse().unwrap());
    }
}
