//! The web view: server-rendered HTML and one small script, all served by
//! agentd itself (nothing is fetched from elsewhere).
//!
//! - `/` — the task list (state, duration, cost, pull request) and the
//!   per-repository figures.
//! - `/tasks/{id}` — one task: its figures, verification results, the final
//!   diff, a cancel button, and the live transcript (`assets/app.js` follows
//!   `/api/tasks/{id}/events` with an `EventSource`).
//! - `/login` — sets the token cookie when agentd has a token.
//!
//! Everything that comes from a task (titles, bodies, tool output, diffs) is
//! attacker-controlled: the server escapes it with [`escape`] and the script
//! only ever assigns `textContent`. Links are only made of `http(s)` URLs.
//! Form posts from other sites are refused (`Sec-Fetch-Site`, `Origin`).

mod pages;

use axum::Router;
use axum::extract::{Form, Query};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::daemon::Services;
use crate::daemon::auth::{COOKIE, TokenCheck};

const APP_JS: &str = include_str!("assets/app.js");
const APP_CSS: &str = include_str!("assets/app.css");

/// The pages behind the token check.
pub fn routes() -> Router<Services> {
    Router::new()
        .route("/", get(pages::index))
        .route("/tasks/{id}", get(pages::task))
        .route("/tasks/{id}/cancel", post(pages::cancel))
}

/// The routes anyone may reach: the assets and the login form.
pub fn public_routes(check: TokenCheck) -> Router {
    Router::new()
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }),
        )
        .route(
            "/assets/app.css",
            get(|| async { asset("text/css; charset=utf-8", APP_CSS) }),
        )
        .route("/login", get(login_form).post(login))
        .with_state(check)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// `text` safe inside HTML text and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` percent-encoded for a URL path segment or query value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether a form post comes from another site (then it is refused).
pub(crate) fn cross_site(headers: &HeaderMap) -> bool {
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if matches!(fetch_site, Some("cross-site" | "same-site")) {
        return true;
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin, host) {
        (Some("null"), _) => true,
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin_host != host
        }
        _ => false,
    }
}

/// The page frame around `body`.
pub(crate) fn layout(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · agentd</title><link rel=\"stylesheet\" href=\"/assets/app.css\"></head>\
         <body><header><a class=\"brand\" href=\"/\">agentd</a></header><main>{body}</main>\
         <script src=\"/assets/app.js\"></script></body></html>\n",
        escape(title)
    ))
}

#[derive(Deserialize)]
struct LoginQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    token: String,
    #[serde(default)]
    next: Option<String>,
}

/// Only local paths are followed after login (no open redirects).
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/",
    }
}

fn login_page(next: &str, error: Option<&str>) -> Html<String> {
    let error = error.map_or(String::new(), |e| {
        format!("<p class=\"error\">{}</p>", escape(e))
    });
    layout(
        "Sign in",
        &format!(
            "<h1>Sign in</h1>{error}<form method=\"post\" action=\"/login\" class=\"login\">\
             <label>Token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" autofocus></label>\
             <input type=\"hidden\" name=\"next\" value=\"{}\">\
             <button type=\"submit\">Sign in</button></form>\
             <p class=\"hint\">The bearer token agentd was started with (config <code>token</code> or <code>AGENTD_TOKEN</code>).</p>",
            escape(next)
        ),
    )
}

async fn login_form(Query(query): Query<LoginQuery>) -> Html<String> {
    login_page(safe_next(query.next.as_deref()), None)
}

async fn login(
    axum::extract::State(check): axum::extract::State<TokenCheck>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref()).to_string();
    if cross_site(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site form posts are refused").into_response();
    }
    if !check.enabled() {
        return Redirect::to(&next).into_response();
    }
    if !check.matches(form.token.trim()) {
        return (
            StatusCode::UNAUTHORIZED,
            login_page(&next, Some("That is not the token.")),
        )
            .into_response();
    }
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
        form.token.trim()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(&next)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_text_and_attributes() {
        assert_eq!(
            escape(r#"<img src=x onerror="alert('1')">&"#),
            "&lt;img src=x onerror=&quot;alert(&#39;1&#39;)&quot;&gt;&amp;"
        );
        assert_eq!(url_encode("a b/c?d"), "a%20b%2Fc%3Fd");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/tasks/a")), "/tasks/a");
    }
}
