//! The network allow-list: which `host[:port]` destinations the proxy may
//! connect to.
//!
//! Entry syntax (one per [`NetworkPolicy::AllowList`] item):
//!
//! | entry | allows |
//! | --- | --- |
//! | `example.com` | `example.com` on any port (not its subdomains) |
//! | `example.com:443` | `example.com` on port 443 only |
//! | `*.example.com` | every subdomain (`a.example.com`, `a.b.example.com`), not `example.com` itself |
//! | `*.example.com:443` | the same, port 443 only |
//! | `192.0.2.7`, `192.0.2.7:8080` | that IPv4 address (any port / one port) |
//! | `::1`, `[::1]`, `[::1]:8080` | that IPv6 address (any port / one port) |
//!
//! Names match case-insensitively and ignore one trailing dot. A name entry
//! never matches a request for an IP literal, and an IP entry never matches
//! a name (no reverse lookups): allow both if clients use both.
//!
//! **Local addresses.** Names are resolved on the host, where loopback
//! (`127.0.0.0/8`, `::1`) reaches the host's own services and link-local
//! (`169.254.0.0/16`, `fe80::/10`) reaches cloud metadata endpoints. A
//! destination whose address is loopback, link-local, unspecified
//! (`0.0.0.0/8`, `::`), broadcast or multicast is therefore only reached
//! through an entry that names it explicitly: an IP literal, or the name
//! `localhost`. A wildcard or ordinary name that resolves there is refused.
//!
//! [`NetworkPolicy::AllowList`]: agentkit_core::sandbox::NetworkPolicy::AllowList

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host: a DNS name (lowercase, no trailing dot) or an IP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A DNS name, lowercase, without a trailing dot.
    Name(String),
    /// An IP literal (IPv4-mapped IPv6 addresses are stored as IPv4).
    Ip(IpAddr),
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Name(name) => f.write_str(name),
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
        }
    }
}

/// Where a request wants to go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    /// The host.
    pub host: Host,
    /// The port.
    pub port: u16,
}

impl Target {
    /// Parses an authority: `host:port`, `1.2.3.4:port`, `[v6]:port`, or
    /// the same without `:port` when `default_port` is given (plain HTTP
    /// uses 80; `CONNECT` requires a port). Bare IPv6 (`::1:80`) is refused
    /// as ambiguous.
    pub fn parse(authority: &str, default_port: Option<u16>) -> Result<Target, TargetError> {
        let err = |reason: &'static str| TargetError {
            input: authority.chars().take(200).collect(),
            reason,
        };
        let (host, port) = split_authority(authority, false).map_err(err)?;
        let port = match (port, default_port) {
            (Some(port), _) => port,
            (None, Some(port)) => port,
            (None, None) => return Err(err("a port is required, as in `example.com:443`")),
        };
        Ok(Target { host, port })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A request target that is not a valid `host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid destination `{input}`: {reason}")]
pub struct TargetError {
    /// The authority as given (at most 200 characters).
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// An allow-list entry that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid network allow-list entry `{entry}`: {reason} \
     (entries are `host`, `host:port`, `*.domain`, `*.domain:port`, an IP, `[ipv6]:port`)"
)]
pub struct AllowListError {
    /// The entry as given.
    pub entry: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// The verdict of [`AllowList::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Allowed. `local_ok` is true when an allowing entry names the
    /// destination explicitly (an IP literal or `localhost`), so loopback
    /// and link-local addresses may be connected to.
    Allow {
        /// Whether local addresses are acceptable for this destination.
        local_ok: bool,
    },
    /// No entry names this host.
    HostNotListed,
    /// Entries name the host, but only for these ports (sorted).
    PortNotAllowed {
        /// The ports allowed for this host.
        allowed_ports: Vec<u16>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    /// `*.base`: strict subdomains of `base`.
    Subdomains(String),
    Ip(IpAddr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    pattern: Pattern,
    port: Option<u16>,
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pattern {
            Pattern::Exact(name) => f.write_str(name)?,
            Pattern::Subdomains(base) => write!(f, "*.{base}")?,
            Pattern::Ip(ip) => Host::Ip(*ip).fmt(f)?,
        }
        match self.port {
            Some(port) => write!(f, ":{port}"),
            None => Ok(()),
        }
    }
}

/// The parsed allow-list (see the [module docs](self) for the syntax).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowList {
    entries: Vec<Entry>,
}

impl AllowList {
    /// Parses every entry; the first invalid one is the error.
    pub fn parse<I, S>(entries: I) -> Result<AllowList, AllowListError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let entries = entries
            .into_iter()
            .map(|e| parse_entry(e.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AllowList { entries })
    }

    /// Whether the list allows nothing.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in normalized form (`*.example.com:443`, `[::1]:80`).
    pub fn entries(&self) -> Vec<String> {
        self.entries.iter().map(ToString::to_string).collect()
    }

    /// Decides whether `target` may be connected to.
    pub fn check(&self, target: &Target) -> Decision {
        let mut allowed = None::<bool>;
        let mut ports = Vec::new();
        for entry in &self.entries {
            let (matches, explicit) = match (&entry.pattern, &target.host) {
                (Pattern::Exact(name), Host::Name(host)) => (name == host, name == "localhost"),
                (Pattern::Subdomains(base), Host::Name(host)) => (
                    host.len() > base.len() + 1
                        && host.ends_with(base.as_str())
                        && host.as_bytes()[host.len() - base.len() - 1] == b'.',
                    false,
                ),
                (Pattern::Ip(ip), Host::Ip(host)) => (ip == host, true),
                _ => (false, false),
            };
            if !matches {
                continue;
            }
            match entry.port {
                Some(port) if port != target.port => ports.push(port),
                _ => allowed = Some(allowed.unwrap_or(false) || explicit),
            }
        }
        match allowed {
            Some(local_ok) => Decision::Allow { local_ok },
            None if ports.is_empty() => Decision::HostNotListed,
            None => {
                ports.sort_unstable();
                ports.dedup();
                Decision::PortNotAllowed {
                    allowed_ports: ports,
                }
            }
        }
    }
}

impl fmt::Display for AllowList {
    /// The entries, comma-separated (`(empty)` when there are none).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.entries.is_empty() {
            return f.write_str("(empty)");
        }
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            entry.fmt(f)?;
        }
        Ok(())
    }
}

/// Whether `ip` is an address the host reaches locally or specially:
/// loopback, link-local, unspecified (`0.0.0.0/8`, `::`), broadcast or
/// multicast. Such destinations need an explicit allow-list entry.
pub fn is_local_address(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_link_local()
                || v4.octets()[0] == 0
                || v4.is_broadcast()
                || v4.is_multicast()
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_unicast_link_local()
                || v6.is_multicast()
        }
    }
}

fn parse_entry(raw: &str) -> Result<Entry, AllowListError> {
    let err = |reason: &'static str| AllowListError {
        entry: raw.to_string(),
        reason,
    };
    let text = raw.trim();
    if text.is_empty() {
        return Err(err("the entry is empty"));
    }
    if text.contains("://") {
        return Err(err("give a host or host:port, not a URL"));
    }
    if text.contains(['/', '@', '?', '#']) || text.contains(char::is_whitespace) {
        return Err(err(
            "give a host or host:port, without a path, user or spaces",
        ));
    }
    if text == "*" || text.starts_with("*:") {
        return Err(err(
            "`*` would allow every host; use NetworkPolicy::Full for unrestricted network",
        ));
    }
    let (wildcard, rest) = match text.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if rest.contains('*') {
        return Err(err(
            "a wildcard is only allowed as a leading `*.`, as in `*.example.com`",
        ));
    }
    let (host, port) = split_authority(rest, true).map_err(err)?;
    let pattern = match (host, wildcard) {
        (Host::Name(name), false) => Pattern::Exact(name),
        (Host::Name(name), true) => Pattern::Subdomains(name),
        (Host::Ip(ip), false) => Pattern::Ip(ip),
        (Host::Ip(_), true) => return Err(err("a wildcard cannot be combined with an IP address")),
    };
    Ok(Entry { pattern, port })
}

/// Splits `host[:port]` / `[v6][:port]`. With `bare_v6`, an unbracketed
/// IPv6 address (allow-list entries) is accepted as a host without port.
fn split_authority(text: &str, bare_v6: bool) -> Result<(Host, Option<u16>), &'static str> {
    if text.is_empty() {
        return Err("the host is empty");
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inside, after) = rest
            .split_once(']')
            .ok_or("`[` opens an IPv6 address but no `]` closes it")?;
        let ip: Ipv6Addr = inside
            .parse()
            .map_err(|_| "the text between `[` and `]` is not an IPv6 address")?;
        let port = match after {
            "" => None,
            _ => Some(parse_port(
                after
                    .strip_prefix(':')
                    .ok_or("only `:port` may follow `]`")?,
            )?),
        };
        return Ok((Host::Ip(IpAddr::V6(ip).to_canonical()), port));
    }
    let colons = text.matches(':').count();
    if colons > 1 {
        return match text.parse::<Ipv6Addr>() {
            Ok(ip) if bare_v6 => Ok((Host::Ip(IpAddr::V6(ip).to_canonical()), None)),
            Ok(_) => Err("an IPv6 address must be in brackets, as in `[::1]:443`"),
            Err(_) => Err("too many `:`; write IPv6 addresses in brackets, as in `[::1]:443`"),
        };
    }
    let (host, port) = match text.split_once(':') {
        Some((host, port)) => (host, Some(parse_port(port)?)),
        None => (text, None),
    };
    Ok((parse_host(host)?, port))
}

fn parse_port(text: &str) -> Result<u16, &'static str> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err("the port must be a number from 1 to 65535");
    }
    match text.parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err("the port must be a number from 1 to 65535"),
    }
}

fn parse_host(text: &str) -> Result<Host, &'static str> {
    if text.is_empty() {
        return Err("the host is empty");
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if name.is_empty() || name.len() > 253 {
        return Err("a host name must have 1 to 253 characters");
    }
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err("every dot-separated part of a host name must have 1 to 63 characters");
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err("a host name may contain only letters, digits, `-`, `_` and `.`");
        }
        last = label;
    }
    // Resolvers read `127.1`, `2130706433` or `0x7f.1` as IP addresses;
    // real names never end in a number.
    let numeric = last.bytes().all(|b| b.is_ascii_digit())
        || (last.starts_with("0x") && last[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric {
        return Err("this is neither a host name nor an IPv4 address in dotted form (a.b.c.d)");
    }
    Ok(Host::Name(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(entries: &[&str]) -> AllowList {
        AllowList::parse(entries).unwrap()
    }

    fn target(text: &str) -> Target {
        Target::parse(text, Some(80)).unwrap()
    }

    fn allowed(list: &AllowList, t: &str) -> bool {
        matches!(list.check(&target(t)), Decision::Allow { .. })
    }

    #[test]
    fn exact_names_match_case_insensitively_on_any_port() {
        let l = list(&["Example.COM", "crates.io."]);
        assert!(allowed(&l, "example.com:443"));
        assert!(allowed(&l, "EXAMPLE.com:8080"));
        assert!(allowed(&l, "example.com.:80"));
        assert!(allowed(&l, "CRATES.IO:443"));
        assert!(!allowed(&l, "www.example.com:443"));
        assert!(!allowed(&l, "example.com.evil.net:443"));
        assert!(!allowed(&l, "notexample.com:443"));
        assert_eq!(l.entries(), ["example.com", "crates.io"]);
    }

    #[test]
    fn a_port_restricts_the_entry() {
        let l = list(&["example.com:443", "example.com:8443"]);
        assert_eq!(
            l.check(&target("example.com:443")),
            Decision::Allow { local_ok: false }
        );
        assert_eq!(
            l.check(&target("example.com:80")),
            Decision::PortNotAllowed {
                allowed_ports: vec![443, 8443]
            }
        );
        assert_eq!(l.check(&target("other.com:443")), Decision::HostNotListed);
        // Another entry for the same host without a port opens every port.
        let l = list(&["example.com:443", "example.com"]);
        assert!(allowed(&l, "example.com:22"));
    }

    #[test]
    fn wildcards_match_strict_subdomains_only() {
        let l = list(&["*.Example.com:443"]);
        assert!(allowed(&l, "a.example.com:443"));
        assert!(allowed(&l, "a.b.EXAMPLE.com:443"));
        assert!(!allowed(&l, "example.com:443"));
        assert!(!allowed(&l, "badexample.com:443"));
        assert!(!allowed(&l, "a.example.com.evil.net:443"));
        assert_eq!(
            l.check(&target("a.example.com:80")),
            Decision::PortNotAllowed {
                allowed_ports: vec![443]
            }
        );
        assert_eq!(l.entries(), ["*.example.com:443"]);
    }

    #[test]
    fn ip_literals_match_ip_requests_only() {
        let l = list(&["127.0.0.1:8080", "::1", "[2001:db8::1]:443", "[fe80::1]"]);
        assert_eq!(
            l.check(&target("127.0.0.1:8080")),
            Decision::Allow { local_ok: true }
        );
        assert_eq!(
            l.check(&target("127.0.0.1:8081")),
            Decision::PortNotAllowed {
                allowed_ports: vec![8080]
            }
        );
        assert!(allowed(&l, "[::1]:80"));
        assert!(allowed(&l, "[::1]:9"));
        assert!(allowed(&l, "[2001:DB8:0::1]:443"));
        assert!(!allowed(&l, "[2001:db8::1]:80"));
        // IPv4-mapped IPv6 is the IPv4 address.
        assert!(allowed(&l, "[::ffff:127.0.0.1]:8080"));
        // No name matches an IP entry.
        assert!(!allowed(&l, "localhost:8080"));
        assert_eq!(
            l.entries(),
            ["127.0.0.1:8080", "[::1]", "[2001:db8::1]:443", "[fe80::1]"]
        );
    }

    #[test]
    fn names_do_not_match_ip_requests() {
        let l = list(&["example.com"]);
        assert_eq!(
            l.check(&target("93.184.216.34:443")),
            Decision::HostNotListed
        );
    }

    #[test]
    fn only_explicit_entries_may_reach_local_addresses() {
        let l = list(&[
            "localhost:8080",
            "*.example.com",
            "example.org",
            "127.0.0.1",
        ]);
        assert_eq!(
            l.check(&target("localhost:8080")),
            Decision::Allow { local_ok: true }
        );
        assert_eq!(
            l.check(&target("a.example.com:80")),
            Decision::Allow { local_ok: false }
        );
        assert_eq!(
            l.check(&target("example.org:80")),
            Decision::Allow { local_ok: false }
        );
        assert_eq!(
            l.check(&target("127.0.0.1:5")),
            Decision::Allow { local_ok: true }
        );
    }

    #[test]
    fn local_addresses_are_classified() {
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "0.1.2.3",
            "169.254.169.254",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(is_local_address(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "93.184.216.34",
            "2001:db8::1",
            "fc00::1",
        ] {
            assert!(!is_local_address(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn invalid_entries_are_refused_with_a_reason() {
        for (entry, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("https://example.com", "not a URL"),
            ("example.com/path", "without a path"),
            ("user@example.com", "without a path, user"),
            ("exa mple.com", "spaces"),
            ("*", "NetworkPolicy::Full"),
            ("*:443", "NetworkPolicy::Full"),
            ("a.*.example.com", "leading `*.`"),
            ("*example.com", "leading `*.`"),
            ("*.127.0.0.1", "wildcard cannot be combined"),
            ("example.com:0", "1 to 65535"),
            ("example.com:65536", "1 to 65535"),
            ("example.com:", "1 to 65535"),
            ("example.com:+80", "1 to 65535"),
            ("example.com:http", "1 to 65535"),
            ("[::1", "no `]`"),
            ("[::1]80", "only `:port`"),
            ("[example.com]:80", "not an IPv6"),
            ("1:2:3", "too many `:`"),
            ("exa_mple!.com", "only letters"),
            ("a..b", "1 to 63"),
            ("127.1", "dotted form"),
            ("2130706433", "dotted form"),
            ("0x7f.0x1", "dotted form"),
        ] {
            let err = AllowList::parse([entry]).unwrap_err();
            assert!(
                err.to_string().contains(needle),
                "{entry:?}: {err} should mention {needle:?}"
            );
        }
    }

    #[test]
    fn targets_parse_authorities() {
        assert_eq!(
            Target::parse("Example.COM:443", None).unwrap(),
            Target {
                host: Host::Name("example.com".into()),
                port: 443
            }
        );
        assert_eq!(
            Target::parse("[::1]:80", None).unwrap(),
            Target {
                host: Host::Ip("::1".parse().unwrap()),
                port: 80
            }
        );
        assert_eq!(Target::parse("[::1]", Some(80)).unwrap().port, 80);
        assert_eq!(
            Target::parse("example.com", Some(80)).unwrap().to_string(),
            "example.com:80"
        );
        assert_eq!(
            Target::parse("[2001:db8::1]:443", None)
                .unwrap()
                .to_string(),
            "[2001:db8::1]:443"
        );
        let err = |text: &str, default| Target::parse(text, default).unwrap_err().reason;
        assert!(err("example.com", None).contains("port is required"));
        assert!(err("::1:80", None).contains("brackets"));
        assert!(err("[::1%eth0]:80", None).contains("not an IPv6"));
        assert!(err("", Some(80)).contains("empty"));
        assert!(err(":80", None).contains("empty"));
        assert!(err("example.com:99999", None).contains("65535"));
        assert!(err("a/b:80", None).contains("only letters"));
    }
}
