//! Operations endpoints every service serves: `/health`, `/ready`,
//! `/metrics`, `/openapi.json` and `/docs` (vendored Swagger UI).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::migrate::Migrator;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::extract::Json;

/// What the operations endpoints need to know about the service.
#[derive(Clone)]
pub struct Ops {
    /// The service's pool (readiness, pool gauges labelled `pool="main"`).
    pub pool: PgPool,
    /// The service's embedded migrations (readiness).
    pub migrator: &'static Migrator,
    /// Further pools of the same database, by name (pool gauges only).
    pub other_pools: Vec<(&'static str, PgPool)>,
}

impl Ops {
    /// The operations endpoints of a service with one pool.
    pub fn new(pool: PgPool, migrator: &'static Migrator) -> Self {
        Self {
            pool,
            migrator,
            other_pools: Vec::new(),
        }
    }

    /// Also exports the gauges of `pool`, labelled `pool="<name>"`.
    pub fn with_pool(mut self, name: &'static str, pool: PgPool) -> Self {
        self.other_pools.push((name, pool));
        self
    }
}

/// Body of `/health` and of a successful `/ready`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// `/health`, `/ready` and `/metrics`, documented in the service's OpenAPI.
pub fn router(ops: Ops) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .with_state(ops)
}

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "ops", responses((status = 200, body = Status)))]
async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// The database answers and every migration is applied.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "ops",
    responses(
        (status = 200, body = Status),
        (status = 503, description = "not ready; `detail` says why", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
async fn ready(State(ops): State<Ops>) -> Result<Json<Status>, ApiError> {
    // A probe must answer promptly even when connecting hangs.
    let check = tokio::time::timeout(
        Duration::from_secs(2),
        crate::db::readiness(&ops.pool, ops.migrator),
    )
    .await;
    match check {
        Ok(Ok(())) => Ok(Json(Status { status: "ready" })),
        Ok(Err(reason)) => Err(not_ready(reason)),
        Err(_) => Err(not_ready("database check timed out".to_owned())),
    }
}

fn not_ready(reason: String) -> ApiError {
    // Not an error of this request: a 503 that is logged at debug level only.
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("Not ready: {reason}."),
    )
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(ops): State<Ops>) -> Response {
    crate::db::record_pool_metrics("main", &ops.pool);
    for (name, pool) in &ops.other_pools {
        crate::db::record_pool_metrics(name, pool);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::metrics::handle().render(),
    )
        .into_response()
}
