//! HTTP/1.x heads for the proxy: parsing requests and responses with
//! `httparse`, classifying a request (CONNECT or absolute-form), and
//! rewriting heads for forwarding. Pure functions, no IO.

use super::allow::Target;

/// Header fields removed when forwarding in either direction (RFC 9110
/// §7.6.1), besides those the `Connection` field names. `Transfer-Encoding`
/// and `Content-Length` are kept: bodies are passed on unchanged.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

/// One header field as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) name: String,
    pub(crate) value: Vec<u8>,
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestHead {
    pub(crate) method: String,
    pub(crate) target: String,
    /// The minor version: 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(crate) version: u8,
    pub(crate) headers: Vec<Header>,
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub(crate) version: u8,
    pub(crate) code: u16,
    pub(crate) reason: String,
    pub(crate) headers: Vec<Header>,
}

/// Why a head could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Longer than the byte limit or more fields than the field limit.
    TooLarge(String),
    /// Not HTTP/1.x.
    Malformed(String),
}

/// What the client asked the proxy to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ProxyRequest {
    /// `CONNECT host:port`: open a tunnel.
    Connect(Target),
    /// `METHOD http://host[:port]/path`: forward one request.
    Forward {
        /// Where to.
        target: Target,
        /// The head to send upstream: origin-form, `Host` from the URL,
        /// hop-by-hop fields removed, `Connection: close`.
        upstream_head: Vec<u8>,
    },
}

/// Parses a request head from the start of `buf`: `Ok(None)` when more
/// bytes are needed, `Ok(Some((head, length)))` when complete.
pub(crate) fn parse_request(
    buf: &[u8],
    max_headers: usize,
    max_bytes: usize,
) -> Result<Option<(RequestHead, usize)>, HeadError> {
    let mut fields = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut fields);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= max_bytes => {
            let head = RequestHead {
                method: req.method.unwrap_or_default().to_string(),
                target: req.path.unwrap_or_default().to_string(),
                version: req.version.unwrap_or(1),
                headers: owned(req.headers),
            };
            Ok(Some((head, len)))
        }
        Ok(httparse::Status::Complete(_)) => Err(too_long(max_bytes)),
        Ok(httparse::Status::Partial) if buf.len() >= max_bytes => Err(too_long(max_bytes)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge(format!(
            "the request has more than {max_headers} header fields"
        ))),
        Err(err) => Err(HeadError::Malformed(format!(
            "the request is not valid HTTP/1.1 ({err})"
        ))),
    }
}

/// Parses a response head; like [`parse_request`].
pub(crate) fn parse_response(
    buf: &[u8],
    max_headers: usize,
    max_bytes: usize,
) -> Result<Option<(ResponseHead, usize)>, HeadError> {
    let mut fields = vec![httparse::EMPTY_HEADER; max_headers];
    let mut res = httparse::Response::new(&mut fields);
    match res.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= max_bytes => {
            let head = ResponseHead {
                version: res.version.unwrap_or(1),
                code: res.code.unwrap_or(502),
                reason: res.reason.unwrap_or_default().to_string(),
                headers: owned(res.headers),
            };
            Ok(Some((head, len)))
        }
        Ok(httparse::Status::Complete(_)) => Err(too_long(max_bytes)),
        Ok(httparse::Status::Partial) if buf.len() >= max_bytes => Err(too_long(max_bytes)),
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HeadError::TooLarge(format!(
            "the response has more than {max_headers} header fields"
        ))),
        Err(err) => Err(HeadError::Malformed(format!(
            "the server's response is not valid HTTP/1.1 ({err})"
        ))),
    }
}

fn too_long(max_bytes: usize) -> HeadError {
    HeadError::TooLarge(format!("the head is longer than {max_bytes} bytes"))
}

fn owned(fields: &[httparse::Header<'_>]) -> Vec<Header> {
    fields
        .iter()
        .filter(|h| !h.name.is_empty())
        .map(|h| Header {
            name: h.name.to_string(),
            value: h.value.to_vec(),
        })
        .collect()
}

/// Decides what a request asks for. The error is the text of a 400 reply.
pub(crate) fn classify(head: &RequestHead) -> Result<ProxyRequest, String> {
    if head.method == "CONNECT" {
        return Target::parse(&head.target, None)
            .map(ProxyRequest::Connect)
            .map_err(|err| format!("{err}; CONNECT takes `host:port`"));
    }
    if head.target.starts_with('/') || head.target == "*" {
        return Err(
            "this is the sandbox's HTTP proxy: send `CONNECT host:port` or an \
                    absolute URL (`GET http://host/path`), as clients do when HTTP_PROXY is set"
                .into(),
        );
    }
    let (target, path, host_field) = parse_absolute(&head.target)?;
    let upstream_head = forward_head(head, &path, &host_field)?;
    Ok(ProxyRequest::Forward {
        target,
        upstream_head,
    })
}

/// Splits `http://authority/path?query` into the target, the origin-form
/// path and the `Host` field value.
fn parse_absolute(uri: &str) -> Result<(Target, String, String), String> {
    let (scheme, rest) = uri
        .split_once("://")
        .ok_or_else(|| format!("`{}` is not an absolute http:// URL", shorten(uri)))?;
    if scheme.eq_ignore_ascii_case("https") {
        return Err(
            "https:// URLs go through `CONNECT host:443` (a client configured with \
                    HTTPS_PROXY does this), not as a plain proxy request"
                .into(),
        );
    }
    if !scheme.eq_ignore_ascii_case("http") {
        return Err(format!(
            "only http:// URLs and CONNECT tunnels are proxied, not `{}://`",
            shorten(scheme)
        ));
    }
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return Err("URLs with `user@` are not proxied; send credentials in a header".into());
    }
    let target = Target::parse(authority, Some(80)).map_err(|err| err.to_string())?;
    let path = match path.chars().next() {
        None => "/".to_string(),
        Some('?') => format!("/{path}"),
        Some(_) => path.to_string(),
    };
    let host_field = if target.port == 80 {
        target.host.to_string()
    } else {
        target.to_string()
    };
    Ok((target, path, host_field))
}

/// The head sent upstream for a plain-HTTP request.
fn forward_head(head: &RequestHead, path: &str, host_field: &str) -> Result<Vec<u8>, String> {
    let lengths: Vec<&[u8]> = head
        .headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("content-length"))
        .map(|h| h.value.as_slice())
        .collect();
    let chunked = head
        .headers
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"));
    if chunked && !lengths.is_empty() {
        return Err("the request has both Content-Length and Transfer-Encoding".into());
    }
    if lengths.windows(2).any(|w| w[0] != w[1]) {
        return Err("the request has conflicting Content-Length fields".into());
    }

    let dropped = connection_tokens(&head.headers);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(head.method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(format!(" HTTP/1.{}\r\nHost: {host_field}\r\n", head.version).as_bytes());
    for h in &head.headers {
        if h.name.eq_ignore_ascii_case("host") || is_hop_by_hop(&h.name, &dropped) {
            continue;
        }
        push_field(&mut out, h);
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    Ok(out)
}

/// The head sent back to the client for an upstream response: hop-by-hop
/// fields removed and, for final responses, `Connection: close` (the proxy
/// serves one request per connection).
pub(crate) fn rewrite_response(head: &ResponseHead) -> Vec<u8> {
    let dropped = connection_tokens(&head.headers);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(
        format!("HTTP/1.{} {} {}\r\n", head.version, head.code, head.reason).as_bytes(),
    );
    for h in &head.headers {
        let upgrade = head.code == 101
            && (h.name.eq_ignore_ascii_case("upgrade")
                || h.name.eq_ignore_ascii_case("connection"));
        if !upgrade && is_hop_by_hop(&h.name, &dropped) {
            continue;
        }
        push_field(&mut out, h);
    }
    if head.code >= 200 {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A reply made by the proxy itself; the connection closes after it.
pub(crate) fn reply(code: u16, reason: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn push_field(out: &mut Vec<u8>, h: &Header) {
    out.extend_from_slice(h.name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(&h.value);
    out.extend_from_slice(b"\r\n");
}

/// The field names listed in `Connection` (lowercase). Framing fields are
/// never dropped this way: bodies are passed on as they are.
fn connection_tokens(headers: &[Header]) -> Vec<String> {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| {
            String::from_utf8_lossy(&h.value)
                .split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .collect::<Vec<_>>()
        })
        .filter(|t| !t.is_empty() && t != "content-length" && t != "transfer-encoding")
        .collect()
}

fn is_hop_by_hop(name: &str, listed: &[String]) -> bool {
    HOP_BY_HOP.iter().any(|h| name.eq_ignore_ascii_case(h))
        || listed.iter().any(|t| name.eq_ignore_ascii_case(t))
}

fn shorten(text: &str) -> String {
    text.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::allow::Host;

    fn request(raw: &str) -> RequestHead {
        parse_request(raw.as_bytes(), 32, 8192)
            .unwrap()
            .expect("complete head")
            .0
    }

    fn forward(raw: &str) -> (Target, String) {
        match classify(&request(raw)).unwrap() {
            ProxyRequest::Forward {
                target,
                upstream_head,
            } => (target, String::from_utf8(upstream_head).unwrap()),
            other => panic!("expected a forward, got {other:?}"),
        }
    }

    #[test]
    fn connect_targets_are_authorities() {
        let head = request("CONNECT Example.COM:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        assert_eq!(
            classify(&head).unwrap(),
            ProxyRequest::Connect(Target {
                host: Host::Name("example.com".into()),
                port: 443
            })
        );
        let head = request("CONNECT [::1]:80 HTTP/1.1\r\n\r\n");
        assert_eq!(
            classify(&head).unwrap(),
            ProxyRequest::Connect(Target {
                host: Host::Ip("::1".parse().unwrap()),
                port: 80
            })
        );
        for bad in [
            "CONNECT example.com HTTP/1.1\r\n\r\n",
            "CONNECT ::1:80 HTTP/1.1\r\n\r\n",
            "CONNECT example.com:0 HTTP/1.1\r\n\r\n",
            "CONNECT http://example.com:443 HTTP/1.1\r\n\r\n",
        ] {
            let err = classify(&request(bad)).unwrap_err();
            assert!(err.contains("invalid destination"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn absolute_form_becomes_origin_form_without_hop_by_hop_fields() {
        let (target, head) = forward(
            "POST http://Example.com:8080/a/b?q=1 HTTP/1.1\r\n\
             Host: wrong.example\r\n\
             Proxy-Connection: keep-alive\r\n\
             Proxy-Authorization: Basic eA==\r\n\
             Connection: keep-alive, X-Private\r\n\
             Keep-Alive: timeout=5\r\n\
             X-Private: secret\r\n\
             TE: trailers\r\n\
             Upgrade: websocket\r\n\
             Content-Length: 3\r\n\
             X-Kept: yes\r\n\r\n",
        );
        assert_eq!(target.to_string(), "example.com:8080");
        assert_eq!(
            head,
            "POST /a/b?q=1 HTTP/1.1\r\nHost: example.com:8080\r\nContent-Length: 3\r\n\
             X-Kept: yes\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn default_port_paths_and_versions() {
        let (target, head) = forward("GET http://example.com HTTP/1.0\r\n\r\n");
        assert_eq!(target.port, 80);
        assert_eq!(
            head,
            "GET / HTTP/1.0\r\nHost: example.com\r\nConnection: close\r\n\r\n"
        );
        let (_, head) = forward("GET HTTP://[::1]?x=1#frag HTTP/1.1\r\n\r\n");
        assert!(
            head.starts_with("GET /?x=1 HTTP/1.1\r\nHost: [::1]\r\n"),
            "{head}"
        );
        let (target, head) = forward("GET http://[::1]:8080/ HTTP/1.1\r\n\r\n");
        assert_eq!(target.port, 8080);
        assert!(head.contains("Host: [::1]:8080\r\n"), "{head}");
    }

    #[test]
    fn requests_the_proxy_does_not_serve_get_a_reason() {
        for (raw, needle) in [
            ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "absolute URL"),
            ("OPTIONS * HTTP/1.1\r\n\r\n", "absolute URL"),
            (
                "GET https://example.com/ HTTP/1.1\r\n\r\n",
                "CONNECT host:443",
            ),
            ("GET ftp://example.com/ HTTP/1.1\r\n\r\n", "only http://"),
            ("GET example.com/x HTTP/1.1\r\n\r\n", "not an absolute"),
            ("GET http://user@example.com/ HTTP/1.1\r\n\r\n", "user@"),
            ("GET http:///x HTTP/1.1\r\n\r\n", "empty"),
            ("GET http://a:b:c/ HTTP/1.1\r\n\r\n", "too many"),
            (
                "POST http://example.com/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "both",
            ),
            (
                "POST http://example.com/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "conflicting",
            ),
        ] {
            let err = classify(&request(raw)).unwrap_err();
            assert!(err.contains(needle), "{raw:?}: {err}");
        }
    }

    #[test]
    fn malformed_request_lines_are_rejected() {
        for raw in [
            "GET\r\n\r\n",
            "GET http://x/ HTTP/2.0\r\n\r\n",
            "GET http://x/ FTP/1.1\r\n\r\n",
            "GET  http://x/ HTTP/1.1\r\n\r\n",
            "G\0T http://x/ HTTP/1.1\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\nBad Header\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\nName : value\r\n\r\n",
        ] {
            assert!(
                matches!(
                    parse_request(raw.as_bytes(), 32, 8192),
                    Err(HeadError::Malformed(_))
                ),
                "{raw:?}"
            );
        }
    }

    #[test]
    fn partial_heads_wait_for_more_bytes() {
        assert_eq!(
            parse_request(b"GET http://x/ HTTP/1.1\r\nHost: x\r\n", 32, 8192),
            Ok(None)
        );
        let (head, len) = parse_request(b"GET http://x/ HTTP/1.1\r\n\r\nBODY", 32, 8192)
            .unwrap()
            .unwrap();
        assert_eq!((head.method.as_str(), len), ("GET", 26));
    }

    #[test]
    fn oversized_heads_are_too_large() {
        let long = format!(
            "GET http://x/ HTTP/1.1\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        );
        assert!(matches!(
            parse_request(long.as_bytes(), 32, 8192),
            Err(HeadError::TooLarge(_))
        ));
        // Incomplete but already over the limit.
        assert!(matches!(
            parse_request(&long.as_bytes()[..8500], 32, 8192),
            Err(HeadError::TooLarge(_))
        ));
        let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
        let raw = format!("GET http://x/ HTTP/1.1\r\n{many}\r\n");
        match parse_request(raw.as_bytes(), 32, 8192) {
            Err(HeadError::TooLarge(msg)) => assert!(msg.contains("32 header fields"), "{msg}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn header_names_are_case_insensitive() {
        let (_, head) = forward(
            "GET http://example.com/ HTTP/1.1\r\nPROXY-AUTHORIZATION: x\r\nconnection: X-A\r\n\
             x-a: 1\r\nHOST: other\r\nX-B: 2\r\n\r\n",
        );
        assert_eq!(
            head,
            "GET / HTTP/1.1\r\nHost: example.com\r\nX-B: 2\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn responses_lose_hop_by_hop_fields_and_close() {
        let raw: &[u8] =
            b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\n\
              X-Hop: 1\r\nTransfer-Encoding: chunked\r\nX-End: 2\r\n\r\n5\r\nhello";
        let (head, len) = parse_response(raw, 32, 8192).unwrap().unwrap();
        assert_eq!(&raw[len..], b"5\r\nhello");
        assert_eq!(
            String::from_utf8(rewrite_response(&head)).unwrap(),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-End: 2\r\nConnection: close\r\n\r\n"
        );
        let (head, _) = parse_response(b"HTTP/1.1 100 Continue\r\n\r\n", 32, 8192)
            .unwrap()
            .unwrap();
        assert_eq!(
            String::from_utf8(rewrite_response(&head)).unwrap(),
            "HTTP/1.1 100 Continue\r\n\r\n"
        );
        assert!(matches!(
            parse_response(b"HTTP/1.1 abc OK\r\n\r\n", 32, 8192),
            Err(HeadError::Malformed(_))
        ));
    }

    #[test]
    fn replies_are_complete_responses() {
        let reply = String::from_utf8(reply(403, "Forbidden", "no\n")).unwrap();
        assert_eq!(
            reply,
            "HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\nno\n"
        );
    }
}
