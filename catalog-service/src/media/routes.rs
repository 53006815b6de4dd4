//! `GET /media/{key}`: stored images and their renditions, for anyone.
//!
//! A key names the bytes (their hash), so a response never changes: it may
//! be cached by anyone for a year (`immutable`), and its `ETag` is the key
//! (and width).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use service_kit::{ApiError, FieldError, Path, Problem, Query};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{MediaError, MediaKey, RENDITION_WIDTHS};
use crate::features::images::ImageBytes;
use crate::state::AppState;

/// `Cache-Control` of every media response.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl From<MediaError> for ApiError {
    fn from(err: MediaError) -> Self {
        match err {
            MediaError::NotFound => ApiError::not_found(err.to_string()),
            // A stored original that no longer decodes: not the caller's fault.
            MediaError::Rejected(_) | MediaError::Storage(_) | MediaError::Task(_) => {
                ApiError::internal(err)
            }
        }
    }
}

/// Query of `GET /media/{key}`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MediaQuery {
    /// `200`, `400` or `800`: a WebP rendition that many pixels wide (never
    /// enlarged).
    pub w: Option<String>,
}

/// `/media` routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_media))
}

/// A stored image, or its WebP rendition `w` px wide; `If-None-Match`
/// naming its `ETag` gives 304.
#[utoipa::path(
    get, path = "/media/{key}", tag = "media",
    params(("key" = String, Path, description = "`<sha256>.<jpg|png|webp>`, from an image's `url`"), MediaQuery),
    responses(
        (status = 200, description = "The image bytes", content(
            (ImageBytes = "image/jpeg"), (ImageBytes = "image/png"), (ImageBytes = "image/webp"),
        ), headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "Not modified since the `If-None-Match` ETag"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`w` is not 200, 400 or 800", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn get_media(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(query): Query<MediaQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let width = match query.w.as_deref() {
        None => None,
        Some(w) => match w.parse::<u32>() {
            Ok(w) if RENDITION_WIDTHS.contains(&w) => Some(w),
            _ => {
                return Err(ApiError::validation(vec![FieldError::new(
                    "w",
                    "must be 200, 400 or 800",
                )]));
            }
        },
    };
    let Some(key) = MediaKey::parse(&key) else {
        return Err(MediaError::NotFound.into());
    };
    let etag = match width {
        None => format!("\"{}\"", key.hash()),
        Some(w) => format!("\"{}-w{w}\"", key.hash()),
    };
    // Hex digits and quotes: always a valid header value.
    let etag = HeaderValue::from_str(&etag).map_err(ApiError::internal)?;
    let cache_control = HeaderValue::from_static(IMMUTABLE);
    if if_none_match(&headers, &etag) {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control)],
        )
            .into_response());
    }
    let (bytes, content_type) = match width {
        None => (
            state.media.original(&key).await?,
            key.format().content_type(),
        ),
        Some(w) => (state.media.rendition(&key, w).await?, "image/webp"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::ETAG, etag),
            (header::CACHE_CONTROL, cache_control),
        ],
        bytes,
    )
        .into_response())
}

/// `If-None-Match` (weak comparison, RFC 9110 13.1.2) names `etag` or `*`.
fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let etag = etag.as_bytes();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag).as_bytes() == etag)
}
