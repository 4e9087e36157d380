//! Which URLs an endpoint may have, and which addresses a delivery may
//! connect to: `http` or `https`, and, unless private addresses are allowed
//! (`WebhookConfig::allow_private_urls`), no loopback, private, link-local,
//! unspecified or otherwise internal address, whether the URL names it or a
//! host name resolves to it. Checked when an endpoint is saved and again at
//! every delivery, against the addresses the delivery connects to, so a name
//! that later resolves inside the network is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::{Host, Url};

/// How long a name lookup may take when an endpoint is saved.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// Why a URL or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not an absolute URL.
    #[error("must be an absolute http or https url")]
    Malformed,
    /// A scheme other than `http` and `https`.
    #[error("must use http or https")]
    Scheme,
    /// A user name or password in the URL: the secret signs, nothing else.
    #[error("must not carry a user name or password")]
    Credentials,
    /// The URL names, or its host resolves to, an internal address.
    #[error("{0} is a private, loopback, link-local or unspecified address")]
    Private(IpAddr),
    /// The host name did not resolve (at delivery: no address to try).
    #[error("{host} does not resolve: {reason}")]
    Unresolved {
        /// The host name.
        host: String,
        /// What the lookup said, lowercase.
        reason: String,
    },
}

/// An endpoint URL that passed the checks that need no lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointUrl(Url);

impl EndpointUrl {
    /// An absolute `http` or `https` URL without credentials, whose host, if
    /// an address, is allowed.
    pub fn parse(text: &str, allow_private: bool) -> Result<Self, AddressError> {
        let url = Url::parse(text).map_err(|_| AddressError::Malformed)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AddressError::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(AddressError::Credentials);
        }
        let endpoint = EndpointUrl(url);
        match endpoint.ip() {
            Some(ip) => check_ip(ip, allow_private)?,
            None if endpoint.0.host_str().is_none_or(str::is_empty) => {
                return Err(AddressError::Malformed);
            }
            None => {}
        }
        Ok(endpoint)
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }

    /// The host as the URL writes it (an IPv6 address without brackets).
    pub fn host(&self) -> String {
        match self.0.host() {
            Some(Host::Ipv6(ip)) => ip.to_string(),
            Some(host) => host.to_string(),
            None => String::new(),
        }
    }

    /// The port, the scheme's default when none is written.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(80)
    }

    fn ip(&self) -> Option<IpAddr> {
        match self.0.host()? {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(_) => None,
        }
    }

    /// The addresses to connect to: the URL's own, or every address its host
    /// resolves to, each of them allowed (one refused address refuses all:
    /// a name that points inside the network is not trusted by halves).
    pub async fn resolve(
        &self,
        allow_private: bool,
        timeout: Duration,
    ) -> Result<Vec<SocketAddr>, AddressError> {
        if let Some(ip) = self.ip() {
            check_ip(ip, allow_private)?;
            return Ok(vec![SocketAddr::new(ip, self.port())]);
        }
        let host = self.host();
        let unresolved = |reason: String| AddressError::Unresolved {
            host: host.clone(),
            reason,
        };
        let lookup = tokio::net::lookup_host((host.as_str(), self.port()));
        let addresses: Vec<SocketAddr> = tokio::time::timeout(timeout, lookup)
            .await
            .map_err(|_| unresolved("lookup timed out".into()))?
            .map_err(|e| unresolved(e.to_string().to_lowercase()))?
            .collect();
        if addresses.is_empty() {
            return Err(unresolved("no address".into()));
        }
        for address in &addresses {
            check_ip(address.ip(), allow_private)?;
        }
        Ok(addresses)
    }
}

fn check_ip(ip: IpAddr, allow_private: bool) -> Result<(), AddressError> {
    if !allow_private && is_internal(ip) {
        return Err(AddressError::Private(ip));
    }
    Ok(())
}

/// Whether `ip` is an address a webhook must not reach from a server:
/// loopback, private, shared (carrier-grade NAT), link-local, unspecified,
/// broadcast, documentation, benchmarking, multicast and reserved ranges,
/// IPv6 unique-local and link-local, and IPv4 written inside IPv6
/// (`::ffff:10.0.0.1`) or carried by NAT64, 6to4 or Teredo, judged as the
/// IPv4 address.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => is_internal_v4(ip),
        IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
            Some(v4) => is_internal_v4(v4),
            None => is_internal_v6(ip),
        },
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240
}

fn is_internal_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let first = segments[0];
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || (first == 0x2001 && segments[1] == 0x0db8)
        || ip
            .to_ipv4()
            .is_some_and(|v4| segments[..6] == [0; 6] && is_internal_v4(v4))
        || embedded_v4(ip).is_some_and(is_internal_v4)
}

/// The IPv4 address an IPv6 one carries by translation or tunnelling, which
/// a gateway would reach: NAT64 (`64:ff9b::/96`, in the last 32 bits), 6to4
/// (`2002::/16`, bits 16 to 48) and Teredo (`2001::/32`, the client's
/// address in the last 32 bits, inverted).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let from = |high: u16, low: u16| Ipv4Addr::from((u32::from(high) << 16) | u32::from(low));
    match s {
        [0x0064, 0xff9b, 0, 0, 0, 0, high, low] => Some(from(high, low)),
        [0x2002, high, low, ..] => Some(from(high, low)),
        [0x2001, 0x0000, _, _, _, _, high, low] => Some(from(!high, !low)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> AddressError {
        EndpointUrl::parse(text, false).unwrap_err()
    }

    #[test]
    fn ipv4_inside_ipv6_translations_is_checked_as_ipv4() {
        let internal = |text: &str| is_internal(text.parse().unwrap());
        // NAT64, 6to4 and Teredo forms of 127.0.0.1 and 10.0.0.1.
        assert!(internal("64:ff9b::7f00:1"));
        assert!(internal("2002:a00:1::"));
        assert!(internal("2001:0:4136:e378:8000:63bf:80ff:fffe"));
        // The same forms of a public address (8.8.8.8) are not refused.
        assert!(!internal("64:ff9b::808:808"));
        assert!(!internal("2002:808:808::"));
    }

    #[test]
    fn only_absolute_http_urls_without_credentials() {
        assert_eq!(refused("example.com/hook"), AddressError::Malformed);
        assert_eq!(refused("ftp://example.com/hook"), AddressError::Scheme);
        assert_eq!(
            refused("https://user:pw@example.com/"),
            AddressError::Credentials
        );
        assert!(EndpointUrl::parse("https://example.com/hooks?x=1", false).is_ok());
        assert!(EndpointUrl::parse("http://93.184.215.14:8080/", false).is_ok());
    }

    #[test]
    fn internal_addresses_are_refused_unless_allowed() {
        for text in [
            "http://127.0.0.1/",
            "http://127.1.2.3:9000/",
            "http://10.0.0.5/",
            "http://172.16.9.1/",
            "http://192.168.1.1/",
            "http://169.254.169.254/latest/meta-data",
            "http://0.0.0.0/",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(matches!(refused(text), AddressError::Private(_)), "{text}");
            assert!(
                EndpointUrl::parse(text, true).is_ok(),
                "{text} when allowed"
            );
        }
        for ip in [
            "93.184.215.14",
            "2606:2800:21f:cb07:6820:80da:af6b:8b2c",
            "8.8.8.8",
        ] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn names_are_judged_by_the_addresses_they_resolve_to() {
        let local = EndpointUrl::parse("http://localhost:9/hook", false).unwrap();
        let refused = local.resolve(false, LOOKUP_TIMEOUT).await.unwrap_err();
        assert!(
            matches!(refused, AddressError::Private(ip) if ip.is_loopback()),
            "{refused:?}"
        );
        let allowed = local.resolve(true, LOOKUP_TIMEOUT).await.unwrap();
        assert!(
            allowed
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 9)
        );
        let literal = EndpointUrl::parse("http://127.0.0.1:5/", true).unwrap();
        assert_eq!(
            literal.resolve(true, LOOKUP_TIMEOUT).await.unwrap(),
            vec!["127.0.0.1:5".parse().unwrap()]
        );
    }
}
