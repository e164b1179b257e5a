//! SSRF protection for outgoing calls to user-given URLs: a URL whose host
//! resolves to a loopback, private, link-local or otherwise internal
//! address is refused unless the host is listed in `SSRF_ALLOWED_HOSTS`.
//! The check returns the addresses it approved so the caller connects to
//! exactly those (a second DNS answer cannot point elsewhere).

use std::net::{IpAddr, SocketAddr};

/// `SSRF_ALLOWED_HOSTS`: host names or addresses (optionally `host:port`).
#[derive(Debug, Clone, Default)]
pub struct SsrfPolicy {
    pub allowed_hosts: Vec<String>,
}

impl SsrfPolicy {
    fn allows(&self, host: &str, port: u16) -> bool {
        let with_port = format!("{host}:{port}");
        self.allowed_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(&with_port))
    }
}

/// An approved URL: its host and the addresses to connect to.
#[derive(Debug, Clone)]
pub struct CheckedUrl {
    pub url: url::Url,
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

fn internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => internal(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00 // unique local
                    || (first & 0xffc0) == 0xfe80 // link-local
            }
        },
    }
}

/// Parses an http(s) URL and resolves its host; refuses internal addresses
/// of hosts not allowed. The error is a message for the API caller.
pub async fn check_url(policy: &SsrfPolicy, raw: &str) -> Result<CheckedUrl, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("Invalid URL '{raw}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("The URL '{raw}' must use http or https"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("The URL '{raw}' has no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("Cannot resolve the host of '{raw}': {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("Cannot resolve the host of '{raw}'"));
    }
    let allowed = policy.allows(&host, port);
    if !allowed && (host.eq_ignore_ascii_case("localhost") || addrs.iter().any(|a| internal(a.ip()))) {
        return Err(format!(
            "The URL '{raw}' is not allowed: its host resolves to a local or private address \
             (list the host in SSRF_ALLOWED_HOSTS to allow it)"
        ));
    }
    Ok(CheckedUrl { url, host, addrs })
}

/// Checks an http(s) URL's form and its host as written, without resolving
/// it (what a notification target must pass when it is created, as in
/// Quay; delivery checks where the name resolves then).
pub fn check_url_form(policy: &SsrfPolicy, raw: &str) -> Result<(), String> {
    let url = url::Url::parse(raw).map_err(|e| format!("Invalid URL '{raw}': {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("The URL '{raw}' must use http or https"));
    }
    let host = url.host_str().ok_or_else(|| format!("The URL '{raw}' has no host"))?;
    let port = url.port_or_known_default().unwrap_or(80);
    check_host_literal(policy, &format!("{host}:{port}"))
}

/// Checks a host as written, without resolving it (Quay's check when a
/// mirror is configured): an internal address literal or `localhost` is
/// refused unless allowed. `host_port` is `host[:port]`, IPv6 in brackets.
pub fn check_host_literal(policy: &SsrfPolicy, host_port: &str) -> Result<(), String> {
    let url =
        url::Url::parse(&format!("https://{host_port}/")).map_err(|e| format!("Invalid host '{host_port}': {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| format!("Invalid host '{host_port}'"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    if policy.allows(&host, port) {
        return Ok(());
    }
    let local_name = host.eq_ignore_ascii_case("localhost") || host.to_ascii_lowercase().ends_with(".localhost");
    let internal_ip = host.parse::<IpAddr>().is_ok_and(internal);
    if local_name || internal_ip {
        return Err(format!(
            "The host '{host}' is not allowed: it is a local or private address \
             (list it in SSRF_ALLOWED_HOSTS to allow it)"
        ));
    }
    Ok(())
}

/// Applies the policy to every connection a client makes, not only to the
/// first URL: redirects to an internal address literal are refused, and
/// host names (of redirect targets, token realms, blob storage) resolve
/// only to addresses that are not internal, unless the host is allowed.
/// Addresses pinned with `ClientBuilder::resolve` are not affected.
pub fn guard_client(builder: reqwest::ClientBuilder, policy: &SsrfPolicy) -> reqwest::ClientBuilder {
    let for_redirects = policy.clone();
    builder
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            let url = attempt.url();
            let Some(host) = url.host_str() else {
                return attempt.error("redirect without a host");
            };
            let host_port = match url.port_or_known_default() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            };
            match check_host_literal(&for_redirects, &host_port) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(reason),
            }
        }))
        .dns_resolver(std::sync::Arc::new(GuardedResolver { policy: policy.clone() }))
}

const MAX_REDIRECTS: usize = 5;

/// A resolver that drops internal addresses of hosts the policy does not
/// allow (and fails when nothing else is left).
struct GuardedResolver {
    policy: SsrfPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed = policy.allowed_hosts.iter().any(|h| {
                h.eq_ignore_ascii_case(&host) || h.rsplit_once(':').is_some_and(|(n, _)| n.eq_ignore_ascii_case(&host))
            });
            let addrs: Vec<SocketAddr> = if allowed {
                found
            } else {
                found.into_iter().filter(|a| !internal(a.ip())).collect()
            };
            if addrs.is_empty() {
                let refused: Box<dyn std::error::Error + Send + Sync> =
                    format!("{host} resolves only to local or private addresses").into();
                return Err(refused);
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.4",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(internal(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "2001:4860:4860::8888", "172.32.0.1"] {
            assert!(!internal(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn allowed_hosts_pass_and_others_are_refused() {
        let none = SsrfPolicy::default();
        assert!(check_url(&none, "http://127.0.0.1:9/hook").await.is_err());
        assert!(check_url(&none, "ftp://example.com/").await.is_err());
        assert!(check_url_form(&none, "http://127.0.0.1:9/hook").is_err());
        assert!(check_url_form(&none, "http://[::1]/hook").is_err());
        assert!(check_url_form(&none, "http://10.1.2.3/hook").is_err());
        assert!(check_url_form(&none, "ftp://example.com/").is_err());
        assert!(check_url_form(&none, "https://no-such-host.invalid/hook").is_ok());
        let allow = SsrfPolicy {
            allowed_hosts: vec!["127.0.0.1".into()],
        };
        let ok = check_url(&allow, "http://127.0.0.1:9/hook").await.expect("allowed");
        assert_eq!(ok.addrs.len(), 1);
    }

    #[test]
    fn host_literals_are_checked_without_resolving() {
        let none = SsrfPolicy::default();
        for bad in [
            "127.0.0.1:5000",
            "localhost",
            "10.0.0.1",
            "[::1]:5000",
            "169.254.169.254",
        ] {
            assert!(check_host_literal(&none, bad).is_err(), "{bad}");
        }
        assert!(check_host_literal(&none, "quay.io").is_ok());
        let allow = SsrfPolicy {
            allowed_hosts: vec!["127.0.0.1".into()],
        };
        assert!(check_host_literal(&allow, "127.0.0.1:5000").is_ok());
    }
}
