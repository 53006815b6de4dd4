//! Product images: upload (raw and multipart), the validation failures,
//! content addressing, serving with immutable caching and 304, renditions,
//! reorder and alt text, delete and the sweep.

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{DynamicImage, GrayImage, ImageFormat, Luma, Rgb, RgbImage};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::helpers::{TestApp, problem, spawn_app, spawn_app_with};

/// A PNG of a gradient (distinct per `seed`).
pub fn png(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, y| {
        Rgb([(x % 256) as u8, (y % 256) as u8, seed])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_with_encoder(PngEncoder::new(&mut out))
        .expect("a PNG");
    out
}

/// A JPEG carrying an EXIF segment with GPS coordinates.
fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let image = RgbImage::from_fn(width, height, |x, _| Rgb([(x % 256) as u8, 90, 200]));
    let mut plain = Vec::new();
    JpegEncoder::new_with_quality(&mut plain, 90)
        .encode_image(&image)
        .expect("a JPEG");
    // APP1 "Exif\0\0" + a little-endian TIFF header and a marker string,
    // right after SOI.
    let mut payload = b"Exif\0\0II*\0\x08\0\0\0".to_vec();
    payload.extend_from_slice(b"GPSLatitude 48.8584 N GPSLongitude 2.2945 E");
    let length = u16::try_from(payload.len() + 2).unwrap();
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

async fn product(app: &TestApp) -> String {
    let category = app
        .create_category(&format!("c-{}", Uuid::new_v4().simple()), None)
        .await;
    let product = app
        .create_product(
            &category,
            &format!("SKU-{}", Uuid::new_v4().simple()),
            "Brass Lamp",
            1999,
            3,
        )
        .await;
    product["id"].as_str().expect("an id").to_owned()
}

async fn uploaded(app: &TestApp, product_id: &str, bytes: Vec<u8>, alt: Option<&str>) -> Value {
    let response = app.upload_image(product_id, bytes, "image/png", alt).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.expect("an image")
}

/// Stored files under `dir` (recursively).
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path.to_string_lossy().into_owned());
        }
    }
    found.sort();
    found
}

async fn detail_of(response: reqwest::Response) -> String {
    problem(response).await.to_string()
}

#[tokio::test]
async fn an_uploaded_png_is_listed_by_its_product_and_served_back() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let before = app.get(&format!("/api/v1/products/{id}")).await;
    let etag_before = before.headers()["etag"].to_str().unwrap().to_owned();

    let image = uploaded(&app, &id, png(300, 200, 1), Some("The lamp, lit")).await;
    assert_eq!(image["width"], 300);
    assert_eq!(image["height"], 200);
    assert_eq!(image["content_type"], "image/png");
    assert_eq!(image["alt"], "The lamp, lit");
    assert_eq!(image["position"], 0);
    let url = image["url"].as_str().unwrap();
    assert!(url.starts_with("/media/") && url.ends_with(".png"), "{url}");

    let response = app.get(&format!("/api/v1/products/{id}")).await;
    assert_ne!(response.headers()["etag"].to_str().unwrap(), etag_before);
    let listed: Value = response.json().await.unwrap();
    assert_eq!(
        listed["images"],
        json!([{"id": image["id"], "url": url, "width": 300, "height": 200,
                "alt": "The lamp, lit", "position": 0}])
    );

    let served = app.get(url).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.headers()["content-type"], "image/png");
    let bytes = served.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, image["bytes"].as_u64().unwrap());
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (300, 200));
}

#[tokio::test]
async fn a_multipart_upload_takes_the_file_part() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let boundary = "----catalog-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"lamp.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&png(64, 48, 2));
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = app
        .http
        .post(app.url(&format!("/api/v1/products/{id}/images")))
        .query(&[("alt", "multipart")])
        .bearer_auth(app.admin_token())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let image: Value = response.json().await.unwrap();
    assert_eq!(
        (image["width"].clone(), image["height"].clone()),
        (json!(64), json!(48))
    );
    assert_eq!(image["alt"], "multipart");
}

#[tokio::test]
async fn the_same_image_uploaded_twice_is_stored_once_under_one_url() {
    let app = spawn_app().await;
    let first = product(&app).await;
    let second = product(&app).await;
    let bytes = png(120, 80, 3);
    let a = uploaded(&app, &first, bytes.clone(), None).await;
    let b = uploaded(&app, &second, bytes.clone(), None).await;
    let c = uploaded(&app, &first, bytes, None).await;
    assert_eq!(a["url"], b["url"]);
    assert_eq!(a["url"], c["url"]);
    assert_ne!(a["id"], c["id"]);
    assert_eq!(c["position"], 1);
    let originals = files(&app.media_dir().join("originals"));
    assert_eq!(originals.len(), 1, "{originals:?}");
}

#[tokio::test]
async fn exif_and_gps_metadata_are_stripped() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let original = jpeg_with_gps(200, 100);
    assert!(original.windows(11).any(|w| w == b"GPSLatitude"));
    let response = app.upload_image(&id, original, "image/jpeg", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let image: Value = response.json().await.unwrap();
    let stored = app
        .get(image["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(image::guess_format(&stored).unwrap(), ImageFormat::Jpeg);
    assert!(!stored.windows(11).any(|w| w == b"GPSLatitude"));
    assert!(!stored.windows(4).any(|w| w == b"Exif"));
}

#[tokio::test]
async fn a_png_declared_as_jpeg_is_a_422_that_says_so() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let response = app
        .upload_image(&id, png(10, 10, 4), "image/jpeg", None)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail = detail_of(response).await;
    assert!(
        detail.contains("PNG") && detail.contains("image/jpeg"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_text_file_is_a_422() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let response = app
        .upload_image(
            &id,
            b"just some text, not a picture".to_vec(),
            "image/png",
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        detail_of(response)
            .await
            .contains("not a JPEG, PNG or WebP")
    );
    // Declared as text, it is not even an image upload.
    let response = app
        .upload_image(&id, b"text".to_vec(), "text/plain", None)
        .await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn an_image_over_8000_px_a_side_is_a_422() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let response = app
        .upload_image(&id, png(9000, 2, 5), "image/png", None)
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail = detail_of(response).await;
    assert!(
        detail.contains("9000x2") && detail.contains("8000"),
        "{detail}"
    );
}

#[tokio::test]
async fn a_decompression_bomb_is_a_422() {
    // 4000x4000 grey pixels: a ~20 KB file that decodes to 16 MB, over
    // this app's 8 MiB decoding limit.
    let app = spawn_app_with(|s| s.media.max_decode_bytes = 8 * 1024 * 1024).await;
    let id = product(&app).await;
    let mut bomb = Vec::new();
    DynamicImage::ImageLuma8(GrayImage::from_pixel(4000, 4000, Luma([0])))
        .write_with_encoder(PngEncoder::new(&mut bomb))
        .unwrap();
    assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
    let response = app.upload_image(&id, bomb, "image/png", None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let detail = detail_of(response).await;
    assert!(detail.contains("more than 8 MiB"), "{detail}");
}

#[tokio::test]
async fn a_body_of_6_mib_is_a_413_and_nothing_is_stored() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let mut big = png(16, 16, 6);
    big.resize(6 * 1024 * 1024, 0);
    let response = app.upload_image(&id, big, "image/png", None).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(detail_of(response).await.contains("5 MiB"));
    // Streamed without a length (chunked), it is cut off at 5 MiB too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..6).map(|_| Ok(vec![0u8; 1024 * 1024])).collect();
    let response = app
        .http
        .post(app.url(&format!("/api/v1/products/{id}/images")))
        .bearer_auth(app.admin_token())
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(files(app.media_dir()).is_empty());
}

#[tokio::test]
async fn uploads_need_an_admin_and_an_existing_product() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let response = app
        .http
        .post(app.url(&format!("/api/v1/products/{id}/images")))
        .header("content-type", "image/png")
        .body(png(4, 4, 7))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .upload_image(&Uuid::now_v7().to_string(), png(4, 4, 7), "image/png", None)
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let long_alt = "a".repeat(501);
    let response = app
        .upload_image(&id, png(4, 4, 7), "image/png", Some(&long_alt))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn media_is_immutable_cached_with_an_etag_and_304() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let image = uploaded(&app, &id, png(50, 50, 8), None).await;
    let url = image["url"].as_str().unwrap();
    let response = app.get(url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(url.contains(etag.trim_matches('"')), "{etag} names {url}");

    let revalidated = app
        .http
        .get(app.url(url))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(revalidated.headers()["etag"].to_str().unwrap(), etag);
    assert!(revalidated.bytes().await.unwrap().is_empty());

    let other = app
        .http
        .get(app.url(url))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);

    let unknown = format!("/media/{}.png", "0".repeat(64));
    assert_eq!(app.get(&unknown).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/media/..%2F..%2Fetc%2Fpasswd").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/media/nonsense.png").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn renditions_are_webp_of_the_asked_width_made_once_and_stored() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let image = uploaded(&app, &id, png(1000, 500, 9), None).await;
    let url = image["url"].as_str().unwrap().to_owned();

    // 16 concurrent first requests: one making, the same bytes for all.
    let requests = (0..16).map(|_| {
        let url = format!("{url}?w=400");
        let app = &app;
        async move {
            let response = app.get(&url).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(response.headers()["content-type"], "image/webp");
            assert_eq!(
                response.headers()["cache-control"],
                "public, max-age=31536000, immutable"
            );
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            (etag, response.bytes().await.unwrap())
        }
    });
    let results = futures::future::join_all(requests).await;
    let (etag, bytes) = results[0].clone();
    assert!(results.iter().all(|(e, b)| *e == etag && *b == bytes));
    assert!(etag.ends_with("-w400\""), "{etag}");
    assert_eq!(image::guess_format(&bytes).unwrap(), ImageFormat::WebP);
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (400, 200));

    let renditions = files(&app.media_dir().join("renditions"));
    assert_eq!(renditions.len(), 1, "{renditions:?}");
    assert!(renditions[0].ends_with("-w400.webp"));

    for w in [200, 800] {
        let response = app.get(&format!("{url}?w={w}")).await;
        let decoded = image::load_from_memory(&response.bytes().await.unwrap()).unwrap();
        assert_eq!(decoded.width(), w.min(1000));
    }
    let revalidated = app
        .http
        .get(app.url(&format!("{url}?w=400")))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

    for bad in ["300", "0", "abc", "-1", "4000000000000"] {
        let response = app.get(&format!("{url}?w={bad}")).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "w={bad}"
        );
    }
}

#[tokio::test]
async fn patch_reorders_the_gallery_and_sets_alt_text() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let mut ids = Vec::new();
    for seed in 0..3 {
        let image = uploaded(&app, &id, png(20, 20, 10 + seed), None).await;
        assert_eq!(image["position"], i64::from(seed));
        ids.push(image["id"].as_str().unwrap().to_owned());
    }
    let before = app.get(&format!("/api/v1/products/{id}")).await;
    let etag_before = before.headers()["etag"].to_str().unwrap().to_owned();

    let response = app
        .admin_patch(
            &format!("/api/v1/products/{id}/images/{}", ids[2]),
            &json!({"position": 0, "alt": "Front view"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let moved: Value = response.json().await.unwrap();
    assert_eq!(
        (moved["position"].clone(), moved["alt"].clone()),
        (json!(0), json!("Front view"))
    );

    let response = app.get(&format!("/api/v1/products/{id}")).await;
    assert_ne!(response.headers()["etag"].to_str().unwrap(), etag_before);
    let listed: Value = response.json().await.unwrap();
    let order: Vec<&str> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(order, [ids[2].as_str(), ids[0].as_str(), ids[1].as_str()]);
    let positions: Vec<i64> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, [0, 1, 2]);

    // Past the end means last.
    let response = app
        .admin_patch(
            &format!("/api/v1/products/{id}/images/{}", ids[2]),
            &json!({"position": 99}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let last: Value = response.json().await.unwrap();
    assert_eq!(last["position"], 2);

    for (body, status) in [
        (json!({"position": -1}), StatusCode::UNPROCESSABLE_ENTITY),
        (
            json!({"alt": "a".repeat(501)}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"colour": "red"}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let response = app
            .admin_patch(&format!("/api/v1/products/{id}/images/{}", ids[0]), &body)
            .await;
        assert_eq!(response.status(), status, "{body}");
    }
    let response = app
        .admin_patch(
            &format!("/api/v1/products/{id}/images/{}", Uuid::now_v7()),
            &json!({"alt": "x"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn concurrent_uploads_to_one_product_get_distinct_positions() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let uploads =
        (0..8u8).map(|seed| app.upload_image(&id, png(16, 16, 100 + seed), "image/png", None));
    for response in futures::future::join_all(uploads).await {
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    let listed = app.get_json(&format!("/api/v1/products/{id}")).await;
    let positions: Vec<i64> = listed["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["position"].as_i64().unwrap())
        .collect();
    assert_eq!(positions, (0..8).collect::<Vec<_>>());
}

/// Waits until `path` is gone, failing after 10 s.
async fn gone(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} was never swept",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn delete_removes_the_image_at_once_and_the_sweep_removes_unused_files_later() {
    // The sweep runs every 100 ms and deletes objects unused and untouched
    // for 3 s (from their last upload).
    let app = spawn_app_with(|s| {
        s.media.sweep_interval_ms = 100;
        s.media.sweep_grace_secs = 3;
    })
    .await;
    let first = product(&app).await;
    let second = product(&app).await;
    let only_first = uploaded(&app, &first, png(30, 30, 20), None).await;
    let shared_a = uploaded(&app, &first, png(30, 30, 21), None).await;
    let shared_b = uploaded(&app, &second, png(30, 30, 21), None).await;
    let url = only_first["url"].as_str().unwrap().to_owned();
    assert_eq!(
        app.get(&format!("{url}?w=200")).await.status(),
        StatusCode::OK
    );
    let key = url.trim_start_matches("/media/");
    let original = app.media_dir().join("originals").join(key);
    let rendition = app
        .media_dir()
        .join("renditions")
        .join(format!("{}-w200.webp", key.split('.').next().unwrap()));
    assert!(original.exists() && rendition.exists());

    for (product_id, image) in [(&first, &only_first), (&first, &shared_a)] {
        let response = app
            .admin_delete(&format!(
                "/api/v1/products/{product_id}/images/{}",
                image["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    // The rows are gone at once; the files are not deleted inline.
    let listed = app.get_json(&format!("/api/v1/products/{first}")).await;
    assert_eq!(listed["images"], json!([]));
    assert!(original.exists(), "deleted inline, not by the sweep");
    let again = app
        .admin_delete(&format!(
            "/api/v1/products/{first}/images/{}",
            only_first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);

    // Later, the sweep removes the unused file and its renditions; the one
    // the second product still shows stays.
    gone(&original).await;
    gone(&rendition).await;
    let shared_key = shared_b["url"]
        .as_str()
        .unwrap()
        .trim_start_matches("/media/")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(app.media_dir().join("originals").join(&shared_key).exists());
    assert_eq!(
        app.get(shared_b["url"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
}

/// A PNG of noise: it barely compresses (about 3 bytes a pixel).
fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let image = RgbImage::from_fn(width, height, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgb8(image)
        .write_with_encoder(PngEncoder::new(&mut out))
        .unwrap();
    out
}

#[tokio::test]
async fn images_over_the_kits_1_mib_body_limit_are_accepted_up_to_5_mib() {
    let app = spawn_app().await;
    let id = product(&app).await;
    let big = noisy_png(1000, 1000);
    assert!(
        big.len() > 2 * 1024 * 1024 && big.len() < 5 * 1024 * 1024,
        "{}",
        big.len()
    );
    let response = app.upload_image(&id, big.clone(), "image/png", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);

    let boundary = "----big";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"n.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(&big);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let response = app
        .http
        .post(app.url(&format!("/api/v1/products/{id}/images")))
        .bearer_auth(app.admin_token())
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // Other routes keep the kit's 1 MiB.
    let response = app
        .http
        .post(app.url("/api/v1/categories"))
        .bearer_auth(app.admin_token())
        .header("content-type", "application/json")
        .body(vec![b' '; 2 * 1024 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
