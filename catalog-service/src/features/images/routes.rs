//! Image endpoints (admin): upload, alt text and order, removal.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use service_kit::auth::AdminUser;
use service_kit::{ApiError, FieldError, Json, Path, Problem, Query, ValidJson};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::models::{Image, ImageBytes, ImageForm, ImagePatch, MAX_ALT_CHARS, UploadQuery};
use super::service::{self, ImageError, Upload};
use crate::media::codec::Format;
use crate::state::AppState;

/// Largest accepted image (API.md: at most 5 MiB).
pub const MAX_UPLOAD_BYTES: usize = 5 * 1024 * 1024;
/// The route's body limit: the image plus room for a multipart envelope;
/// the image itself is held to [`MAX_UPLOAD_BYTES`] as it streams in.
pub const UPLOAD_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + 1024 * 1024;
/// The upload route's pattern (for the kit's per-route body limit).
pub const UPLOAD_ROUTE: &str = "/api/v1/products/{id}/images";

impl From<ImageError> for ApiError {
    fn from(err: ImageError) -> Self {
        match err {
            ImageError::Database(source) => ApiError::database(source),
            ImageError::Media(_) => ApiError::internal(err),
            ImageError::ProductNotFound | ImageError::ImageNotFound => {
                ApiError::not_found(err.to_string())
            }
            ImageError::Rejected(rejection) => {
                ApiError::validation(vec![FieldError::new("file", rejection.to_string())])
                    .with_kind("invalid-image")
            }
            ImageError::TooManyImages { .. } => {
                ApiError::conflict(err.to_string()).with_kind("too-many-images")
            }
        }
    }
}

/// `/products/{id}/images` routes.
pub fn router() -> OpenApiRouter<AppState> {
    let upload = OpenApiRouter::new()
        .routes(routes!(upload_image))
        // Multipart reads obey this limit (the kit's default is 1 MiB).
        .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT));
    OpenApiRouter::new()
        .merge(upload)
        .routes(routes!(update_image, delete_image))
}

/// Adds an image to a product (admin): the bytes with `Content-Type:
/// image/jpeg|png|webp`, or `multipart/form-data` with a `file` part. The
/// image is checked (its real format must be the declared one, at most
/// 8000 px a side, decodable within the memory limit), re-encoded without
/// metadata, stored once per content, and appended to the gallery.
#[utoipa::path(
    post, path = "/products/{id}/images", tag = "products",
    params(("id" = Uuid, Path), UploadQuery),
    request_body(
        description = "The image (at most 5 MiB), raw or as the `file` part of a multipart form",
        content(
            (ImageBytes = "image/jpeg"), (ImageBytes = "image/png"), (ImageBytes = "image/webp"),
            (ImageForm = "multipart/form-data"),
        )
    ),
    security(("bearer" = [])),
    responses(
        (status = 201, body = Image, headers(("Location" = String))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The product has as many images as allowed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Larger than 5 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Neither an image type nor multipart", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not an image, not the declared format, over 8000 px a side, a decompression bomb, or a bad `alt`", body = Problem, content_type = "application/problem+json"),
    )
)]
async fn upload_image(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(product_id): Path<Uuid>,
    Query(query): Query<UploadQuery>,
    request: Request,
) -> Result<Response, ApiError> {
    let alt = query.alt.unwrap_or_default();
    if alt.chars().count() > MAX_ALT_CHARS {
        return Err(ApiError::validation(vec![FieldError::new(
            "alt",
            format!("must be at most {MAX_ALT_CHARS} characters"),
        )]));
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let (data, format) = if let Some(format) = Format::from_content_type(&content_type) {
        (read_limited(request.into_body()).await?, format)
    } else if content_type
        .to_ascii_lowercase()
        .starts_with("multipart/form-data")
    {
        read_file_part(request, &state).await?
    } else {
        return Err(unsupported_type());
    };
    let upload = Upload { data, format, alt };
    let max = state.settings.media.max_images_per_product;
    let image = service::upload(
        &state.pool,
        &state.caches,
        &state.media,
        product_id,
        upload,
        max,
    )
    .await?;
    let location = format!("/api/v1/products/{product_id}/images/{}", image.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(image),
    )
        .into_response())
}

/// Sets an image's alt text and/or its place in the gallery (admin).
#[utoipa::path(
    patch, path = "/products/{id}/images/{image_id}", tag = "products",
    params(("id" = Uuid, Path), ("image_id" = Uuid, Path)),
    request_body = ImagePatch, security(("bearer" = [])),
    responses(
        (status = 200, body = Image),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn update_image(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path((product_id, image_id)): Path<(Uuid, Uuid)>,
    ValidJson(patch): ValidJson<ImagePatch>,
) -> Result<Json<Image>, ApiError> {
    let image = service::update(&state.pool, &state.caches, product_id, image_id, patch).await?;
    Ok(Json(image))
}

/// Removes an image from its product (admin); the stored file is deleted
/// later, once no product uses it.
#[utoipa::path(
    delete, path = "/products/{id}/images/{image_id}", tag = "products",
    params(("id" = Uuid, Path), ("image_id" = Uuid, Path)),
    security(("bearer" = [])),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    )
)]
async fn delete_image(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path((product_id, image_id)): Path<(Uuid, Uuid)>,
) -> Result<StatusCode, ApiError> {
    service::delete(&state.pool, &state.caches, product_id, image_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "An image may be at most {} MiB.",
            MAX_UPLOAD_BYTES / (1024 * 1024)
        ),
    )
}

fn unsupported_type() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "Send the image with Content-Type image/jpeg, image/png or image/webp, or as the `file` part of multipart/form-data.",
    )
}

/// Whether a body error is the kit's body limit being hit.
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(err) = cause {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = err.source();
    }
    false
}

/// The body, refused (413) as soon as it streams past the upload limit.
async fn read_limited(body: Body) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut data = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            if is_length_limit(&err) {
                too_large()
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read.",
                )
            }
        })?;
        if data.len() + chunk.len() > MAX_UPLOAD_BYTES {
            return Err(too_large());
        }
        data.extend_from_slice(&chunk);
    }
    Ok(data.freeze())
}

/// The `file` part of a multipart form and its declared format.
async fn read_file_part(request: Request, state: &AppState) -> Result<(Bytes, Format), ApiError> {
    let mut form = Multipart::from_request(request, state)
        .await
        .map_err(|err| ApiError::new(StatusCode::BAD_REQUEST, err.body_text()))?;
    let bad_form = |err: axum::extract::multipart::MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, err.body_text())
        }
    };
    while let Some(mut field) = form.next_field().await.map_err(bad_form)? {
        if field.name() != Some("file") {
            continue;
        }
        let declared = field.content_type().unwrap_or_default().to_owned();
        let Some(format) = Format::from_content_type(&declared) else {
            return Err(ApiError::validation(vec![FieldError::new(
                "file",
                "the part's Content-Type must be image/jpeg, image/png or image/webp",
            )]));
        };
        let mut data = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(bad_form)? {
            if data.len() + chunk.len() > MAX_UPLOAD_BYTES {
                return Err(too_large());
            }
            data.extend_from_slice(&chunk);
        }
        return Ok((data.freeze(), format));
    }
    Err(ApiError::validation(vec![FieldError::new(
        "file",
        "the form has no `file` part",
    )]))
}
