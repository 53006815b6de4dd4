//! The payment provider's signed webhook.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use service_kit::{ApiError, Problem};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::models::WebhookEvent;
use super::service::{self, SIGNATURE_HEADER};
use crate::state::AppState;

/// `/payments` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(payment_webhook))
}

/// Receives a provider event signed with
/// `Payment-Signature: t=<unix>,v1=<hex hmac_sha256(secret, "{t}.{body}")>`;
/// applied once per event id.
#[utoipa::path(
    post, path = "/payments/webhook", tag = "payments", request_body = WebhookEvent,
    params(("Payment-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"{t}.{body}\">")),
    responses(
        (status = 204, description = "Applied (or already applied)"),
        (status = 400, description = "Missing, stale or bad signature, or malformed body", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn payment_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let settings = &state.settings.payments;
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok());
    service::verify(
        &settings.webhook_secret,
        header,
        &body,
        chrono::Utc::now().timestamp(),
        settings.webhook_tolerance_secs,
    )
    .map_err(|err| ApiError::bad_request(err.to_string()).with_kind("invalid-signature"))?;
    let raw: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed JSON event."))?;
    let event: WebhookEvent = serde_json::from_value(raw.clone())
        .map_err(|_| ApiError::bad_request("The event lacks `id` or `type`."))?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(ApiError::bad_request(
            "The event id must be 1-255 characters.",
        ));
    }
    service::apply(&state.pool, &event, &raw)
        .await
        .map_err(ApiError::database)?;
    Ok(StatusCode::NO_CONTENT)
}
