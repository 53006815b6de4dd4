//! Image types: what the API accepts and returns.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Longest alt text, in characters.
pub const MAX_ALT_CHARS: usize = 500;

/// An image as a product lists it (`images`, in order).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProductImage {
    /// The image's id.
    pub id: Uuid,
    /// Gateway-relative URL of the stored image (`/media/<key>`); add
    /// `?w=200|400|800` for a WebP rendition that wide.
    pub url: String,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// Alternative text.
    pub alt: String,
    /// Place in the product's gallery, from 0.
    pub position: i32,
}

/// An image as the image endpoints return it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Image {
    /// The image's id.
    pub id: Uuid,
    /// Gateway-relative URL of the stored image (`/media/<key>`).
    pub url: String,
    /// Width in pixels.
    pub width: i32,
    /// Height in pixels.
    pub height: i32,
    /// `image/jpeg`, `image/png` or `image/webp`.
    pub content_type: String,
    /// Size of the stored (re-encoded) image.
    pub bytes: i32,
    /// Alternative text.
    pub alt: String,
    /// Place in the product's gallery, from 0.
    pub position: i32,
}

/// Query of `POST /products/{id}/images`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadQuery {
    /// Alternative text, at most 500 characters.
    pub alt: Option<String>,
}

/// Body of `PATCH /products/{id}/images/{image_id}`: only the fields
/// present change.
#[derive(Debug, Default, Deserialize, ToSchema, garde::Validate)]
#[serde(deny_unknown_fields)]
pub struct ImagePatch {
    /// Alternative text, at most 500 characters.
    #[garde(inner(length(chars, max = MAX_ALT_CHARS)))]
    pub alt: Option<String>,
    /// New place in the gallery, from 0 (a larger one moves it last); the
    /// other images shift to make room.
    #[garde(inner(range(min = 0, max = 10000)))]
    pub position: Option<i32>,
}

/// The raw bytes of an image (documentation of request and response bodies).
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct ImageBytes(pub Vec<u8>);

/// A multipart upload (documentation of the request body).
// The handler streams the form itself: nothing reads this type.
#[derive(ToSchema)]
#[expect(
    dead_code,
    reason = "describes the multipart body in the OpenAPI document only"
)]
pub struct ImageForm {
    /// The image file, with its own `Content-Type` (`image/jpeg`,
    /// `image/png` or `image/webp`).
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}
