//! The bearer token: refusing to start without one on a public address, and
//! 401s (or the login redirect) without the right one.

use agentkit_server::config::Config;
use agentkit_server::daemon::{StartError, StartOptions, start};

use crate::support::serve_with;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

#[tokio::test]
async fn a_public_address_without_a_token_refuses_to_start() {
    let mut config = Config {
        listen: "0.0.0.0:0".parse().unwrap(),
        ..Config::default()
    };
    config.store.kind = agentkit_server::config::StoreKind::Memory;
    let refused = start(
        &config,
        StartOptions::new("scripted:/nonexistent.json".into(), None),
    )
    .await;
    let Err(StartError::Refused(message)) = refused else {
        panic!("agentd started on 0.0.0.0 without a token");
    };
    assert!(
        message.starts_with("refusing to listen on 0.0.0.0:0 without a bearer token"),
        "{message}"
    );
}

#[tokio::test]
async fn api_routes_need_the_token_and_healthz_does_not() {
    let s = serve_with(Some(TOKEN), |_| {}).await;
    let get = |path: &str, auth: Option<&str>| {
        let mut request = s.client.get(s.url(path));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    for (path, auth) in [
        ("/api/tasks", None),
        ("/api/tasks", Some("Bearer wrong-token-wrong-token-wrong")),
        ("/api/tasks", Some(&format!("Bearer {TOKEN}x")[..])),
        ("/api/tasks", Some(&format!("Basic {TOKEN}")[..])),
        ("/metrics", None),
        ("/api/metrics", None),
    ] {
        let response = get(path, auth).await.unwrap();
        assert_eq!(response.status(), 401, "{path} {auth:?}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        get("/api/tasks", Some(&bearer)).await.unwrap().status(),
        200
    );
    assert_eq!(get("/metrics", Some(&bearer)).await.unwrap().status(), 200);
    assert_eq!(get("/healthz", None).await.unwrap().status(), 200);
}

#[tokio::test]
async fn web_pages_redirect_to_the_login_form_which_sets_the_cookie() {
    let s = serve_with(Some(TOKEN), |_| {}).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = client.get(s.url("/tasks/T-1")).send().await.unwrap();
    assert_eq!(page.status(), 303);
    assert_eq!(page.headers()["location"], "/login?next=%2Ftasks%2FT-1");

    let wrong = client
        .post(s.url("/login"))
        .form(&[("token", "not-the-token"), ("next", "/tasks/T-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().get("set-cookie").is_none());

    let right = client
        .post(s.url("/login"))
        .form(&[("token", TOKEN), ("next", "/tasks/T-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    assert_eq!(right.headers()["location"], "/tasks/T-1");
    let cookie = right.headers()["set-cookie"].to_str().unwrap().to_string();
    assert_eq!(
        cookie,
        format!("agentd_token={TOKEN}; Path=/; HttpOnly; SameSite=Strict")
    );
    let with_cookie = client
        .get(s.url("/"))
        .header("cookie", format!("agentd_token={TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(with_cookie.status(), 200);
    let cross_site = client
        .post(s.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("token", TOKEN)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
}

#[tokio::test]
async fn without_a_token_only_requests_addressed_to_loopback_are_served() {
    // A page on evil.example that DNS-rebinds its name to 127.0.0.1 is
    // same-origin with agentd: its requests carry `Host: evil.example:<port>`.
    let s = crate::support::serve().await;
    let port = s.base.rsplit(':').next().unwrap().to_string();
    let rebound = format!("evil.example:{port}");
    let read = s
        .client
        .get(s.url("/api/tasks"))
        .header("host", &rebound)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 403);
    let reply: serde_json::Value = read.json().await.unwrap();
    assert_eq!(reply["error"]["code"], "host_not_allowed");
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(message.contains(&format!("`{rebound}`")), "{message}");

    let enqueue = s
        .client
        .post(s.url("/api/tasks"))
        .header("host", &rebound)
        .header("origin", format!("http://{rebound}"))
        .json(&serde_json::json!({"repo": "/tmp/repo", "title": "t", "body": "b"}))
        .send()
        .await
        .unwrap();
    assert_eq!(enqueue.status(), 403);
    assert_eq!(s.store.list(None).await.unwrap(), vec![]);
    let page = s
        .client
        .get(s.url("/"))
        .header("host", &rebound)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);

    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let fine = s
            .client
            .get(s.url("/api/tasks"))
            .header("host", &host)
            .send()
            .await
            .unwrap();
        assert_eq!(fine.status(), 200, "{host}");
    }
}

#[tokio::test]
async fn with_a_token_any_host_name_is_served_to_whoever_holds_it() {
    let s = serve_with(Some(TOKEN), |_| {}).await;
    let response = s
        .client
        .get(s.url("/api/tasks"))
        .header("host", "agents.example.com")
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
