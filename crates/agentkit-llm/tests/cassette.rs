//! Recording real HTTP exchanges and replaying them without a network:
//! the replay yields exactly what the live call yielded, faults included;
//! secrets never reach the file; a request the cassette does not hold is
//! refused with the place where it differs.

mod support;

use std::sync::Arc;

use agentkit_core::message::Message;
use agentkit_core::model::{Model, ModelErrorKind};
use agentkit_llm::cassette::{Body, Cassette, Player, REDACTED_HEADER, Recorder, ReplayMode};
use agentkit_llm::{BuildOptions, ModelSpec, ReqwestTransport, Transport, TransportError};

use support::server::{Ending, Reply, Server};
use support::{Backend, KEY, call, quick, request};

fn recorder(path: &std::path::Path, spec: Option<String>) -> Arc<Recorder> {
    let real: Arc<dyn Transport> = Arc::new(ReqwestTransport::new().unwrap());
    Arc::new(Recorder::create(real, path, spec).unwrap())
}

#[tokio::test]
async fn a_replay_yields_exactly_what_the_live_calls_yielded() {
    let dir = tempfile::tempdir().unwrap();
    for backend in Backend::ALL {
        let path = dir.path().join(format!("{backend:?}.json"));
        let server =
            Server::start(vec![Reply::json(503, "{}"), Reply::sse(backend.stream())]).await;
        let live_model = backend.model_over(&server, recorder(&path, None), quick(1));
        let live = call(&live_model).await;
        assert_eq!(live.1, None, "{backend:?}");
        drop(live_model);

        let player = Arc::new(Player::open(&path, ReplayMode::Strict).unwrap());
        let replay_model = backend.model_over(&server, player.clone(), quick(1));
        drop(server); // nothing listens any more: the replay must not need it
        let replayed = call(&replay_model).await;
        assert_eq!(replayed, live, "{backend:?}");
        assert_eq!(player.remaining(), 0, "{backend:?}: both exchanges served");
    }
}

#[tokio::test]
async fn credentials_are_redacted_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let server = Server::start(vec![Reply::sse(Backend::Chat.stream())]).await;
    let model = Backend::Chat.model_over(&server, recorder(&path, None), quick(0));
    let mut request = request();
    request.messages = vec![Message::user(
        "my key is sk-proj-abcdefghijklmnopqrstuvwxyz0123, please keep it",
    )];
    model.complete(request).await.unwrap();

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains(KEY), "the API key leaked into the cassette");
    assert!(!text.contains("sk-proj-abcdefghijklmnopqrstuvwxyz0123"));
    let cassette = Cassette::load(&path).unwrap();
    let exchange = &cassette.exchanges[0];
    let auth = exchange
        .request
        .headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.as_str());
    assert_eq!(auth, Some(REDACTED_HEADER));
    let Body::Json(body) = &exchange.request.body else {
        panic!(
            "request bodies are kept as JSON: {:?}",
            exchange.request.body
        );
    };
    assert_eq!(
        body["messages"][1]["content"],
        "my key is [REDACTED], please keep it"
    );
    assert_eq!(exchange.response.as_ref().unwrap().status, 200);
}

#[tokio::test]
async fn a_broken_stream_replays_as_the_same_break() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    let body = Backend::Chat.stream();
    let cut = body.find(" there.").unwrap() + 40;
    let server = Server::start(vec![Reply::sse(body).ending(Ending::CutAfter(cut))]).await;
    let live_model = Backend::Chat.model_over(&server, recorder(&path, None), quick(0));
    let live = call(&live_model).await;
    assert_eq!(
        live.1.as_ref().map(|e| e.kind()),
        Some(ModelErrorKind::Transient)
    );
    drop(live_model);

    let cassette = Cassette::load(&path).unwrap();
    assert!(
        cassette.exchanges[0].error.is_some(),
        "the break is recorded: {:?}",
        cassette.exchanges[0]
    );
    let player = Arc::new(Player::new(cassette, ReplayMode::Strict));
    let replayed = call(&Backend::Chat.model_over(&server, player, quick(0))).await;
    assert_eq!(replayed.0, live.0, "the same events before the break");
    assert_eq!(
        replayed.1.map(|e| e.kind()),
        Some(ModelErrorKind::Transient)
    );
}

#[tokio::test]
async fn a_request_the_cassette_does_not_hold_is_refused_with_where_it_differs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let server = Server::start(vec![Reply::sse(Backend::Chat.stream())]).await;
    let model = Backend::Chat.model_over(&server, recorder(&path, None), quick(0));
    model.complete(request()).await.unwrap();

    let player = Player::open(&path, ReplayMode::Strict).unwrap();
    let mut other = request();
    other.messages = vec![Message::user("Say goodbye.")];
    let http = agentkit_llm::Protocol::build_request(model.protocol(), &other, true).unwrap();
    let error = player.send(http.clone()).await.err().unwrap();
    let TransportError::NotRecorded { message, .. } = &error else {
        panic!("{error:?}");
    };
    assert_eq!(
        message,
        "the body differs from recorded exchange 0: $.messages[1].content was \"Say hello.\" \
         when recorded and is \"Say goodbye.\" now; re-record the cassette, or replay with \
         ReplayMode::InOrder if the bodies legitimately vary between runs"
    );

    // In order, the body may differ; once used up, nothing more is served.
    let player = Player::open(&path, ReplayMode::InOrder).unwrap();
    assert_eq!(player.send(http.clone()).await.unwrap().status, 200);
    let error = player.send(http).await.err().unwrap();
    assert!(
        error
            .to_string()
            .contains("all 1 recorded exchanges have been served"),
        "{error}"
    );
    // A model over a player reports a replay miss as permanent: retrying cannot help.
    let replay = Backend::Chat.model_over(
        &server,
        Arc::new(Player::open(&path, ReplayMode::Strict).unwrap()),
        quick(3),
    );
    let mut other = request();
    other.max_output_tokens = Some(7);
    let error = replay.complete(other).await.unwrap_err();
    assert_eq!(error.kind(), ModelErrorKind::Permanent);
    assert!(
        error
            .to_string()
            .contains("$.max_completion_tokens was 100 when recorded and is 7 now"),
        "{error}"
    );
}

#[tokio::test]
async fn a_connection_failure_is_recorded_and_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.json");
    let server = Server::start(vec![Reply::hang_up(), Reply::sse(Backend::Chat.stream())]).await;
    let model = Backend::Chat.model_over(&server, recorder(&path, None), quick(1));
    let live = call(&model).await;
    assert_eq!(live.1, None);
    let cassette = Cassette::load(&path).unwrap();
    assert_eq!(cassette.exchanges.len(), 2);
    assert!(cassette.exchanges[0].response.is_none());
    assert!(cassette.exchanges[0].error.is_some());

    let player = Arc::new(Player::new(cassette, ReplayMode::InOrder));
    let replayed = call(&Backend::Chat.model_over(&server, player.clone(), quick(1))).await;
    assert_eq!(replayed, live);
    assert_eq!(
        player.remaining(),
        0,
        "the failure was replayed, then the retry"
    );
}

#[tokio::test]
async fn the_replay_spec_rebuilds_the_recorded_backend_without_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("spec.json");
    let server = Server::start(vec![Reply::sse(Backend::Chat.stream())]).await;
    let spec = format!("openai-compatible:{}#gpt-4.1", server.url("/v1"));
    let options = BuildOptions::default().with_env(&[]).recording(&path);
    let live_model = ModelSpec::parse(&spec)
        .unwrap()
        .build_with(&options)
        .unwrap();
    let live = call(live_model.as_ref()).await;
    assert_eq!(live.1, None);
    drop(server);
    drop(live_model);

    assert_eq!(
        Cassette::load(&path).unwrap().spec.as_deref(),
        Some(spec.as_str())
    );
    let replay = ModelSpec::parse(&format!("replay:{}", path.display()))
        .unwrap()
        .build_with(&BuildOptions::default().with_env(&[]))
        .unwrap();
    assert_eq!(replay.info().name, "gpt-4.1");
    assert_eq!(call(replay.as_ref()).await, live);
}

#[test]
fn a_cassette_of_another_format_version_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.json");
    std::fs::write(&path, r#"{"agentkit_cassette": 0, "exchanges": []}"#).unwrap();
    let error = Cassette::load(&path).unwrap_err().to_string();
    assert!(error.contains("format version 0 is not 1"), "{error}");
    assert!(error.contains("re-record"), "{error}");
    std::fs::write(&path, "not json").unwrap();
    assert!(
        Cassette::load(&path)
            .unwrap_err()
            .to_string()
            .contains("not a valid agentkit cassette")
    );
}
