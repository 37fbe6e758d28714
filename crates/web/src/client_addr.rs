//! The client's address behind trusted reverse proxies, for lock-out and rate limits.
//!
//! `X-Forwarded-For` is written by every hop, so anyone can put anything at its left end. It is
//! read only when the socket's peer is a configured proxy, and then from the right: each trusted
//! proxy appends the address it saw, so the right-most entry that is *not* a trusted proxy is the
//! client as the outermost trusted proxy saw it. Entries further left are the client's own claims.

use std::net::{IpAddr, SocketAddr};

/// Most `X-Forwarded-For` entries looked at (from the right); a longer chain ends at its last
/// trusted entry rather than cost time.
pub const MAX_HOPS: usize = 16;

/// The address to account a request to: `peer` unless it is one of `trusted`, else the right-most
/// entry of `forwarded_for` that is not a trusted proxy. An entry that is not an address (or a
/// chain of trusted proxies only, or one longer than [`MAX_HOPS`]) ends the walk at the last
/// trusted hop, so such requests share that proxy's limits instead of choosing their own.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let mut nearest = peer;
    let entries = forwarded_for
        .iter()
        .rev()
        .flat_map(|header| header.rsplit(','))
        .take(MAX_HOPS);
    for entry in entries {
        let Some(addr) = parse_entry(entry) else {
            return nearest;
        };
        if !trusted.contains(&addr) {
            return addr;
        }
        nearest = addr;
    }
    nearest
}

/// The client address of a request: [`client_address`] of its socket peer (from axum's
/// `ConnectInfo`) and its `X-Forwarded-For` headers; `None` when the server gave no peer address.
pub fn of_request(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    trusted: &[IpAddr],
) -> Option<IpAddr> {
    let axum::extract::ConnectInfo(peer) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()?;
    Some(client_address(
        peer.ip().to_canonical(),
        &forwarded_for(headers),
        trusted,
    ))
}

/// The proxies a router believes `X-Forwarded-For` from, as a request extension: a component
/// without state of its own for it adds `axum::Extension(TrustedProxies(…))` to its router, and
/// its extractors read the client with [`of_request_behind`].
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub std::sync::Arc<[IpAddr]>);

/// [`of_request`] trusting the [`TrustedProxies`] extension (none when it is absent).
pub fn of_request_behind(
    extensions: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
) -> Option<IpAddr> {
    let trusted = extensions.get::<TrustedProxies>().map_or(&[][..], |t| &t.0);
    of_request(extensions, headers, trusted)
}

/// The `X-Forwarded-For` headers of a request, in order (values that are not text are skipped).
pub fn forwarded_for(headers: &axum::http::HeaderMap) -> Vec<&str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect()
}

/// One entry: an IP address, optionally with a port (`1.2.3.4:80`, `[::1]:80`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    if entry.len() > 64 {
        return None;
    }
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .map(|ip| ip.to_canonical())
}

/// The network an address counts for in per-address budgets: an IPv4 address itself, an IPv6
/// address's /64 (one subscriber's network, whose addresses cost nothing to vary).
pub fn network_bucket(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PROXY: &str = "10.0.0.1";

    #[test]
    fn without_trusted_proxies_the_header_is_ignored() {
        assert_eq!(
            client_address(ip("203.0.113.7"), &["198.51.100.1"], &[]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_header_from_an_untrusted_peer_is_ignored() {
        assert_eq!(
            client_address(ip("203.0.113.7"), &["198.51.100.1"], &[ip(PROXY)]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_entry_is_the_client() {
        let trusted = [ip(PROXY), ip("10.0.0.2")];
        // The client claimed 1.1.1.1; the outer proxy 10.0.0.2 saw 198.51.100.9.
        assert_eq!(
            client_address(ip(PROXY), &["1.1.1.1, 198.51.100.9", "10.0.0.2"], &trusted),
            ip("198.51.100.9")
        );
        assert_eq!(
            client_address(ip(PROXY), &["[2001:db8::1]:443"], &trusted),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn garbage_or_only_proxies_account_to_the_nearest_trusted_hop() {
        let trusted = [ip(PROXY), ip("10.0.0.2")];
        assert_eq!(
            client_address(ip(PROXY), &["1.1.1.1, nonsense, 10.0.0.2"], &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(client_address(ip(PROXY), &[], &trusted), ip(PROXY));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the header says, the answer is the peer, a header entry, or a trusted proxy;
        /// and an untrusted peer is always itself.
        #[test]
        fn the_answer_is_never_invented(header in ".{0,300}", peer_trusted in any::<bool>()) {
            let peer = ip("203.0.113.5");
            let trusted = if peer_trusted { vec![peer, ip(PROXY)] } else { vec![ip(PROXY)] };
            let got = client_address(peer, &[&header], &trusted);
            if peer_trusted {
                let from_header = header.split(',').filter_map(parse_entry).any(|a| a == got);
                prop_assert!(got == peer || trusted.contains(&got) || from_header);
            } else {
                prop_assert_eq!(got, peer);
            }
        }

        /// A client cannot hide behind addresses it writes to the left of what the proxy appends.
        #[test]
        fn a_forged_prefix_does_not_change_the_answer(
            forged in proptest::collection::vec(any::<std::net::Ipv4Addr>(), 0..20),
            real in any::<std::net::Ipv4Addr>(),
        ) {
            prop_assume!(IpAddr::V4(real) != ip(PROXY));
            let mut entries: Vec<String> = forged.iter().map(|a| a.to_string()).collect();
            entries.push(real.to_string());
            let header = entries.join(", ");
            prop_assert_eq!(
                client_address(ip(PROXY), &[&header], &[ip(PROXY)]),
                IpAddr::V4(real)
            );
        }
    }
}
