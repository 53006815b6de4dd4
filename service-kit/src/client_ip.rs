//! The real client address of a request: the TCP peer, unless the peer is
//! one of the configured trusted proxies, in which case `X-Forwarded-For` is
//! read from the right, skipping trusted hops, and the first untrusted
//! address is the client. A client cannot spoof its address by sending the
//! header itself: an untrusted peer's header is ignored.
//!
//! The server must be run with `ConnectInfo<SocketAddr>` (the kit's
//! [`Server`](crate::server::Server) is).

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::ApiError;

/// The forwarding header set by the gateway (nginx, ingress).
pub const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// An address range in CIDR notation (`10.0.0.0/8`, `::1/128`, or a bare
/// address for a single host).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    network: IpAddr,
    prefix: u8,
}

impl IpRange {
    /// Whether `ip` lies in the range (IPv4-mapped IPv6 addresses count as
    /// their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (address, prefix) = match s.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (s, None),
        };
        let network = canonical(
            address
                .parse::<IpAddr>()
                .map_err(|_| format!("{s:?} is not an address or CIDR range"))?,
        );
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?} has an invalid prefix length"))?,
        };
        Ok(Self { network, prefix })
    }
}

/// The proxies whose `X-Forwarded-For` is believed. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<Vec<IpRange>>);

impl TrustedProxies {
    /// Parses a list of addresses and CIDR ranges (from configuration).
    pub fn parse<S: AsRef<str>>(ranges: &[S]) -> Result<Self, String> {
        let ranges = ranges
            .iter()
            .map(|r| r.as_ref())
            .filter(|r| !r.trim().is_empty())
            .map(IpRange::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(ranges)))
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|range| range.contains(ip))
    }

    /// The client address of a request from `peer` carrying `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        // Every header line, in order, as one comma-separated list; the
        // right-most entries were appended by the hops closest to us.
        let hops: Vec<&str> = headers
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) => {
                    client = canonical(ip);
                    if !self.contains(client) {
                        return client;
                    }
                }
                // Garbage cannot be attributed: the last trusted hop is the
                // best we know.
                Err(_) => return client,
            }
        }
        client
    }
}

/// The part of a client address that rate limits count by: an IPv4
/// address as it is, an IPv6 address by its /64 (the smallest block a
/// subscriber is given: one client can use any of its 2^64 addresses).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 => v4,
    }
}

/// IPv4-mapped IPv6 (`::ffff:1.2.3.4`) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Extractor of the real client address (needs `TrustedProxies: FromRef<S>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

impl<S> FromRequestParts<S> for ClientIp
where
    TrustedProxies: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ConnectInfo(peer) = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .ok_or_else(|| {
                ApiError::internal(anyhow::anyhow!(
                    "no ConnectInfo: serve with into_make_service_with_connect_info"
                ))
            })?;
        let trusted = TrustedProxies::from_ref(state);
        Ok(Self(trusted.client_ip(peer.ip(), &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append(X_FORWARDED_FOR, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_cannot_claim_another_address() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8"]).unwrap();
        let client = trusted.client_ip(ip("203.0.113.9"), &headers(&["1.2.3.4"]));
        assert_eq!(client, ip("203.0.113.9"));
    }

    #[test]
    fn a_trusted_proxy_forwards_the_first_untrusted_hop_from_the_right() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "192.168.1.1"]).unwrap();
        // The client spoofed "6.6.6.6"; the gateway appended the real peer.
        let client = trusted.client_ip(
            ip("10.1.2.3"),
            &headers(&["6.6.6.6, 198.51.100.7", "192.168.1.1"]),
        );
        assert_eq!(client, ip("198.51.100.7"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let trusted = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
        assert_eq!(
            trusted.client_ip(ip("127.0.0.1"), &HeaderMap::new()),
            ip("127.0.0.1")
        );
        assert_eq!(
            trusted.client_ip(ip("::ffff:127.0.0.1"), &headers(&["garbage"])),
            ip("127.0.0.1")
        );
    }

    #[test]
    fn rate_limits_count_ipv6_clients_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:3:4:5:6")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("2001:db8:1:2::9")), ip("2001:db8:1:2::"));
        assert_ne!(limit_key(ip("2001:db8:1:3::9")), ip("2001:db8:1:2::"));
        assert_eq!(limit_key(ip("203.0.113.7")), ip("203.0.113.7"));
        assert_eq!(limit_key(ip("::ffff:203.0.113.7")), ip("203.0.113.7"));
    }

    #[test]
    fn ranges_parse_and_match() {
        let range: IpRange = "2001:db8::/32".parse().unwrap();
        assert!(range.contains(ip("2001:db8::1")));
        assert!(!range.contains(ip("2001:db9::1")));
        assert!(
            "0.0.0.0/0"
                .parse::<IpRange>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        assert!("10.0.0.0/33".parse::<IpRange>().is_err());
        assert!("nope".parse::<IpRange>().is_err());
    }
}
