//! Serves the pages API: `cargo run -p txmanager-web-example [-- DB_PATH [ADDR]]`.
//!
//! Try it:
//!
//! ```sh
//! curl -s -XPOST localhost:3000/pages -H 'content-type: application/json' -d '{"title":"Home","body":"hi"}'
//! curl -s -XPUT localhost:3000/pages/1 -H 'content-type: application/json' -d '{"version":1,"title":"Home","body":"edited"}'
//! curl -s -XPUT localhost:3000/pages/1 -H 'content-type: application/json' -d '{"version":1,"title":"Home","body":"stale"}'  # 409
//! ```
//!
//! `RUST_LOG=txmanager=trace` shows every block's span and its savepoint,
//! rollback and retry events.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_span_events(FmtSpan::CLOSE) // each block's span, with its outcome, as it ends
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,txmanager=debug".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "pages.db".to_owned());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    let pool = txmanager_web_example::pool(path.as_ref(), 8)?;
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    tracing::info!(%addr, %path, "serving the pages API");
    axum::serve(listener, txmanager_web_example::app(pool))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
