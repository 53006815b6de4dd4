//! Image checks and re-encoding (CPU-bound, synchronous: callers run these
//! on the blocking pool, see [`super::Media`]).
//!
//! An upload is accepted only if its bytes really are the declared format,
//! at most [`MAX_SIDE`] px a side, and decodable within the memory limit;
//! what is stored is a fresh encoding of the decoded pixels (so no EXIF,
//! GPS or other metadata survives), turned upright first.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::error::LimitErrorKind;
use image::imageops::FilterType;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use std::io::Cursor;

/// Longest accepted side, in pixels.
pub const MAX_SIDE: u32 = 8000;
/// Quality of re-encoded JPEGs.
const JPEG_QUALITY: u8 = 90;

/// The formats a product image may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `image/jpeg`, `.jpg`.
    Jpeg,
    /// `image/png`, `.png`.
    Png,
    /// `image/webp`, `.webp`.
    WebP,
}

impl Format {
    /// The format a `Content-Type` names (parameters ignored), if accepted.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next()?.trim();
        match essence.to_ascii_lowercase().as_str() {
            "image/jpeg" => Some(Self::Jpeg),
            "image/png" => Some(Self::Png),
            "image/webp" => Some(Self::WebP),
            _ => None,
        }
    }

    /// The format of a stored object's extension.
    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension {
            "jpg" => Some(Self::Jpeg),
            "png" => Some(Self::Png),
            "webp" => Some(Self::WebP),
            _ => None,
        }
    }

    /// Its media type.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Jpeg => "image/jpeg",
            Self::Png => "image/png",
            Self::WebP => "image/webp",
        }
    }

    /// Its file extension (the suffix of a media key).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Jpeg => "jpg",
            Self::Png => "png",
            Self::WebP => "webp",
        }
    }

    fn image_format(self) -> ImageFormat {
        match self {
            Self::Jpeg => ImageFormat::Jpeg,
            Self::Png => ImageFormat::Png,
            Self::WebP => ImageFormat::WebP,
        }
    }
}

/// Why bytes are not an acceptable image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No known image signature.
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    /// The bytes are another format than the declared one.
    #[error("the file is a {actual} image, not {declared} as declared")]
    WrongFormat {
        /// The declared media type.
        declared: &'static str,
        /// What the bytes are.
        actual: String,
    },
    /// Wider or taller than [`MAX_SIDE`].
    #[error("the image is {width}x{height} px; at most {MAX_SIDE} px a side is accepted")]
    TooLarge {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// Decoding would take more memory than allowed (a decompression bomb).
    #[error("decoding the image would need more than {limit_mib} MiB of memory")]
    TooMuchMemory {
        /// The limit.
        limit_mib: u64,
    },
    /// The image is truncated or corrupt.
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
}

/// A checked, re-encoded image.
#[derive(Debug, Clone)]
pub struct Processed {
    /// The new encoding (no metadata).
    pub bytes: Vec<u8>,
    /// Its format (the declared one).
    pub format: Format,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// Checks `data` against `declared` and the limits, and re-encodes it.
pub fn process(
    data: &[u8],
    declared: Format,
    max_decode_bytes: u64,
) -> Result<Processed, Rejection> {
    let actual = image::guess_format(data).map_err(|_| Rejection::NotAnImage)?;
    if actual != declared.image_format() {
        return Err(Rejection::WrongFormat {
            declared: declared.content_type(),
            actual: actual
                .to_mime_type()
                .trim_start_matches("image/")
                .to_ascii_uppercase(),
        });
    }
    let image = decode(data, declared, max_decode_bytes)?;
    let bytes = encode(&image, declared).map_err(|err| Rejection::Corrupt(err.to_string()))?;
    Ok(Processed {
        bytes,
        format: declared,
        width: image.width(),
        height: image.height(),
    })
}

/// A WebP rendition of a stored image, `width` px wide (never enlarged).
pub fn rendition(
    data: &[u8],
    format: Format,
    width: u32,
    max_decode_bytes: u64,
) -> Result<Vec<u8>, Rejection> {
    let image = decode(data, format, max_decode_bytes)?;
    let resized = if image.width() > width {
        image.resize(width, u32::MAX, FilterType::Triangle)
    } else {
        image
    };
    encode(&resized, Format::WebP).map_err(|err| Rejection::Corrupt(err.to_string()))
}

/// Decodes within the limits and turns the image upright (EXIF orientation).
fn decode(data: &[u8], format: Format, max_decode_bytes: u64) -> Result<DynamicImage, Rejection> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(max_decode_bytes);
    let too_much = || Rejection::TooMuchMemory {
        limit_mib: max_decode_bytes / (1024 * 1024),
    };
    // The header alone first: the size is known before any pixel is.
    let (width, height) = ImageReader::with_format(Cursor::new(data), format.image_format())
        .into_dimensions()
        .map_err(|err| rejection(err, too_much()))?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(Rejection::TooLarge { width, height });
    }
    let mut reader = ImageReader::with_format(Cursor::new(data), format.image_format());
    reader.limits(limits);
    let mut decoder = reader
        .into_decoder()
        .map_err(|err| rejection(err, too_much()))?;
    // Checked here too: not every decoder honours `max_alloc` itself.
    if decoder.total_bytes() > max_decode_bytes {
        return Err(too_much());
    }
    let orientation = decoder
        .orientation()
        .map_err(|err| rejection(err, too_much()))?;
    let mut image =
        DynamicImage::from_decoder(decoder).map_err(|err| rejection(err, too_much()))?;
    image.apply_orientation(orientation);
    Ok(image)
}

fn rejection(err: ImageError, too_much: Rejection) -> Rejection {
    match err {
        ImageError::Limits(limit) => match limit.kind() {
            LimitErrorKind::DimensionError => Rejection::TooLarge {
                width: MAX_SIDE + 1,
                height: MAX_SIDE + 1,
            },
            _ => too_much,
        },
        other => Rejection::Corrupt(other.to_string()),
    }
}

/// A fresh encoding of the pixels alone.
fn encode(image: &DynamicImage, format: Format) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    match format {
        Format::Jpeg => {
            let rgb = image.to_rgb8();
            JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY).encode_image(&rgb)?;
        }
        Format::Png => {
            image.write_with_encoder(PngEncoder::new(&mut out))?;
        }
        Format::WebP => {
            // The encoder takes 8-bit RGB(A) only.
            let converted = if image.color().has_alpha() {
                DynamicImage::ImageRgba8(image.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(image.to_rgb8())
            };
            converted.write_with_encoder(WebPEncoder::new_lossless(&mut out))?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, RgbImage};

    fn png(width: u32, height: u32) -> Vec<u8> {
        let image = RgbImage::from_fn(width, height, |x, y| Rgb([x as u8, y as u8, 128]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(image)
            .write_with_encoder(PngEncoder::new(&mut out))
            .unwrap();
        out
    }

    #[test]
    fn a_png_is_re_encoded_with_its_size() {
        let processed = process(&png(30, 20), Format::Png, 64 << 20).unwrap();
        assert_eq!((processed.width, processed.height), (30, 20));
        assert_eq!(
            image::guess_format(&processed.bytes).unwrap(),
            ImageFormat::Png
        );
    }

    #[test]
    fn a_png_declared_as_jpeg_is_refused() {
        assert_eq!(
            process(&png(4, 4), Format::Jpeg, 64 << 20).unwrap_err(),
            Rejection::WrongFormat {
                declared: "image/jpeg",
                actual: "PNG".into()
            }
        );
    }

    #[test]
    fn renditions_are_webp_and_never_enlarged() {
        let small = rendition(&png(100, 50), Format::Png, 400, 64 << 20).unwrap();
        let decoded = image::load_from_memory(&small).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (100, 50));
        let big = rendition(&png(1000, 500), Format::Png, 200, 64 << 20).unwrap();
        assert_eq!(image::guess_format(&big).unwrap(), ImageFormat::WebP);
        let decoded = image::load_from_memory(&big).unwrap();
        assert_eq!((decoded.width(), decoded.height()), (200, 100));
    }

    #[test]
    fn content_types_ignore_parameters_and_case() {
        assert_eq!(
            Format::from_content_type("Image/PNG; q=1"),
            Some(Format::Png)
        );
        assert_eq!(Format::from_content_type("text/plain"), None);
    }
}
