//! A small JSON API over versioned records, on axum, with txmanager.
//!
//! - `POST /pages` `{"title", "body"}` → `201` and the page, with its `id`
//!   and `version`;
//! - `GET /pages/{id}` → `200` and the page, or `404`;
//! - `PUT /pages/{id}` `{"version", "title", "body"}`, where `version` is the
//!   one the client read → `200` and the page at its new version, or `409`
//!   with `{"error", "conflict": {"table", "pk", "expected", "found"}}` when
//!   someone saved first.
//!
//! Each request is one `commit_on_success` block, run on tokio's blocking
//! pool with a manager from an r2d2 pool of managers (SQLite calls block),
//! and retried when the database is busy. Every block is traced.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use txmanager::{Conflict, Error, Opener, Record, RetryPolicy, Retryable};

/// A wiki page, versioned: a stale save fails instead of overwriting.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Record)]
pub struct Page {
    #[record(primary_key)]
    pub id: Option<i64>,
    #[record(version(auto_increment))]
    pub version: Option<i64>,
    pub title: String,
    pub body: String,
}

/// What a client sends to create a page.
#[derive(Debug, Deserialize)]
pub struct NewPage {
    /// The title.
    pub title: String,
    /// The text.
    pub body: String,
}

/// What a client sends to edit a page: the version it read, and the new text.
#[derive(Debug, Deserialize)]
pub struct Edit {
    /// The version the client read; a stale one gets 409.
    pub version: i64,
    /// The new title.
    pub title: String,
    /// The new text.
    pub body: String,
}

/// The shared state: a pool of managers, all opened by one `Opener`.
pub type Pool = r2d2::Pool<Opener>;

/// Opens the pool on `path` and creates the table if needed.
///
/// # Errors
///
/// When the database cannot be opened or the table created.
pub fn pool(path: &std::path::Path, size: u32) -> Result<Pool, Box<dyn std::error::Error>> {
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .build(Opener::new(path))?;
    pool.get()?.execute(
        "CREATE TABLE IF NOT EXISTS page (
             id INTEGER PRIMARY KEY, version INTEGER NOT NULL, title TEXT NOT NULL, body TEXT NOT NULL
         )",
        [],
    )?;
    Ok(pool)
}

/// The API's routes.
pub fn app(pool: Pool) -> Router {
    Router::new()
        .route("/pages", post(create))
        .route("/pages/{id}", get(read).put(edit))
        .with_state(pool)
}

/// An error as an HTTP response.
#[derive(Debug)]
pub enum ApiError {
    /// 404.
    NotFound,
    /// 409, with the conflict in the body.
    Conflict(Conflict),
    /// 500 (or 503 when the database stayed busy).
    Database(Error),
    /// 503: the pool had no manager to give.
    Pool(String),
}

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        match err.conflict() {
            Some(conflict) => ApiError::Conflict(conflict),
            None if matches!(err, Error::RecordNotFound { .. }) => ApiError::NotFound,
            None => ApiError::Database(err),
        }
    }
}

impl Retryable for ApiError {
    fn is_retryable(&self) -> bool {
        matches!(self, ApiError::Database(err) if err.is_retryable())
    }
    fn is_conflict(&self) -> bool {
        matches!(self, ApiError::Conflict(_))
    }
}

/// The body of an error response.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// The version conflict, for a 409.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<Conflict>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, error, conflict) = match self {
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such page".to_owned(), None),
            ApiError::Conflict(conflict) => {
                (StatusCode::CONFLICT, conflict.to_string(), Some(conflict))
            }
            ApiError::Database(err) if err.is_retryable() => {
                (StatusCode::SERVICE_UNAVAILABLE, err.to_string(), None)
            }
            ApiError::Database(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string(), None),
            ApiError::Pool(err) => (StatusCode::SERVICE_UNAVAILABLE, err, None),
        };
        (status, Json(ErrorBody { error, conflict })).into_response()
    }
}

/// Runs `work` as one `commit_on_success` block on tokio's blocking pool,
/// retrying while the database is busy.
async fn in_transaction<T, F>(pool: Pool, work: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnMut(&mut txmanager::Transaction<'_>) -> Result<T, ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let mut tm = pool.get().map_err(|err| ApiError::Pool(err.to_string()))?;
        let policy =
            RetryPolicy::new(8).with_backoff(Duration::from_millis(5), Duration::from_millis(200));
        tm.commit_on_success_with_retry(&policy, work)
            .map(|done| done.value)
            .map_err(|failed| failed.into_inner())
    })
    .await
    .map_err(|join| ApiError::Pool(format!("request task failed: {join}")))?
}

async fn create(
    State(pool): State<Pool>,
    Json(new): Json<NewPage>,
) -> Result<impl IntoResponse, ApiError> {
    let page = in_transaction(pool, move |tx| {
        let mut page = Page {
            title: new.title.clone(),
            body: new.body.clone(),
            ..Default::default()
        };
        page.save(tx)?;
        Ok(page)
    })
    .await?;
    tracing::info!(id = page.id, "page created");
    Ok((StatusCode::CREATED, Json(page)))
}

async fn read(State(pool): State<Pool>, Path(id): Path<i64>) -> Result<Json<Page>, ApiError> {
    Ok(Json(
        in_transaction(pool, move |tx| Ok(Page::get(tx, id)?)).await?,
    ))
}

async fn edit(
    State(pool): State<Pool>,
    Path(id): Path<i64>,
    Json(edit): Json<Edit>,
) -> Result<Json<Page>, ApiError> {
    let page = in_transaction(pool, move |tx| {
        let mut page = Page::get(tx, id)?;
        page.version = Some(edit.version); // check against what the client read
        page.title.clone_from(&edit.title);
        page.body.clone_from(&edit.body);
        page.save(tx)?;
        Ok(page)
    })
    .await;
    match &page {
        Ok(page) => tracing::info!(id, version = page.version, "page edited"),
        Err(ApiError::Conflict(conflict)) => {
            tracing::info!(
                id,
                expected = conflict.expected,
                found = conflict.found,
                "stale edit refused"
            )
        }
        Err(_) => {}
    }
    Ok(Json(page?))
}
