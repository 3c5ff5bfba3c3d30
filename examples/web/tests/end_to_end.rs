//! The pages API over real HTTP on 127.0.0.1: a server on an ephemeral port,
//! a real SQLite file, and reqwest clients.

use reqwest::StatusCode;
use serde_json::{Value, json};
use txmanager_web_example::{ErrorBody, app, pool};

/// Starts the server on a free loopback port; returns its base URL.
async fn serve(dir: &tempfile::TempDir) -> String {
    let pool = pool(&dir.path().join("pages.db"), 4).expect("open the database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("bound address");
    tokio::spawn(async move { axum::serve(listener, app(pool)).await });
    format!("http://{addr}")
}

/// GETs `url` and returns its JSON body.
async fn read(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.expect("read");
    response.json().await.expect("a JSON body")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clients_edit_one_page_and_exactly_one_wins_the_other_gets_409() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let base = serve(&dir).await;
    let (alice, bob) = (reqwest::Client::new(), reqwest::Client::new());

    let created: Value = alice
        .post(format!("{base}/pages"))
        .json(&json!({"title": "Home", "body": "welcome"}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("created page");
    let id = created["id"].as_i64().expect("an id");
    assert_eq!(created["version"], 1);

    // Both read version 1, then both send an edit at once.
    let url = format!("{base}/pages/{id}");
    let read_a: Value = read(&alice, &url).await;
    let read_b: Value = read(&bob, &url).await;
    assert_eq!(
        (read_a["version"].as_i64(), read_b["version"].as_i64()),
        (Some(1), Some(1))
    );
    let edit = |client: &reqwest::Client, body: &str| {
        client
            .put(&url)
            .json(&json!({"version": 1, "title": "Home", "body": body}))
            .send()
    };
    let (a, b) = tokio::join!(edit(&alice, "by alice"), edit(&bob, "by bob"));
    let (a, b) = (a.expect("alice's edit"), b.expect("bob's edit"));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "exactly one wins"
    );

    let (winner, loser) = if a.status() == StatusCode::OK {
        (a, b)
    } else {
        (b, a)
    };
    let won: Value = winner.json().await.expect("the saved page");
    assert_eq!(won["version"], 2);
    let refused: ErrorBody = loser.json().await.expect("a 409 body");
    let conflict = refused.conflict.expect("the conflict in the body");
    assert_eq!((conflict.table.as_str(), conflict.pk), ("page", id.into()));
    assert_eq!((conflict.expected, conflict.found), (1, Some(2)));
    assert!(refused.error.contains("version 1"), "{}", refused.error);

    // The stored page is the winner's.
    let stored: Value = read(&bob, &url).await;
    assert_eq!(stored["body"], won["body"]);
    assert_eq!(stored["version"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_creates_all_succeed_and_an_unknown_page_is_404() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let base = serve(&dir).await;
    let client = reqwest::Client::new();
    let creates = (0..16).map(|n| {
        client
            .post(format!("{base}/pages"))
            .json(&json!({"title": format!("page {n}"), "body": ""}))
            .send()
    });
    for response in futures_join_all(creates).await {
        assert_eq!(response.expect("create").status(), StatusCode::CREATED);
    }
    let missing = client
        .get(format!("{base}/pages/999"))
        .send()
        .await
        .expect("read");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
}

/// Awaits every future concurrently (tokio tasks), in order.
async fn futures_join_all<F>(futures: impl Iterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("request task"));
    }
    out
}
