//! The S3 media backend against a real S3-compatible server: moto's server
//! (`moto[server]` from PyPI, installed into `target/tools/venv` by `cargo
//! xtask test`, which passes its path as `MOTO_SERVER`), started here on a
//! free port for this test alone.

use catalog_service::config::{MediaBackend, S3Settings};
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app_with};
use crate::images::png;

const BUCKET: &str = "shop-media-test";

/// A moto server, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    async fn start() -> Self {
        let exe = std::env::var("MOTO_SERVER").unwrap_or_else(|_| {
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../target/tools/venv/bin/moto_server"
            )
            .to_owned()
        });
        assert!(
            std::path::Path::new(&exe).is_file(),
            "moto_server not found at {exe}: run the tests through `cargo xtask test`, which installs it"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server started");
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http.get(&moto.endpoint).send().await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "moto_server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = http
            .put(format!("{}/{BUCKET}", moto.endpoint))
            .send()
            .await
            .expect("bucket created");
        assert!(created.status().is_success(), "{}", created.status());
        moto
    }

    /// A client of the bucket of its own (the bucket is private: reads
    /// are signed, as the service's are).
    fn client(&self) -> object_store::aws::AmazonS3 {
        object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id("testing-access-key")
            .with_secret_access_key("testing-secret-key")
            .with_allow_http(true)
            .build()
            .expect("an S3 client")
    }

    /// The object at `path`, if any.
    async fn object(&self, path: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt;
        match self
            .client()
            .get(&object_store::path::Path::from(path))
            .await
        {
            Ok(found) => Some(found.bytes().await.expect("the object's bytes").to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(err) => panic!("reading {path} from moto: {err}"),
        }
    }

    /// The keys in the bucket.
    async fn keys(&self) -> Vec<String> {
        use futures::TryStreamExt;
        use object_store::ObjectStore;
        let mut keys: Vec<String> = self
            .client()
            .list(None)
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .expect("a listing");
        keys.sort();
        keys
    }
}

async fn app_on(moto: &Moto) -> TestApp {
    let endpoint = moto.endpoint.clone();
    spawn_app_with(move |settings| {
        settings.media.backend = MediaBackend::S3;
        settings.media.s3 = S3Settings {
            endpoint,
            bucket: BUCKET.to_owned(),
            region: "us-east-1".to_owned(),
            access_key_id: SecretString::from("testing-access-key"),
            secret_access_key: SecretString::from("testing-secret-key"),
            allow_http: true,
        };
        settings.media.sweep_interval_ms = 100;
        settings.media.sweep_grace_secs = 2;
    })
    .await
}

async fn product(app: &TestApp) -> String {
    let category = app
        .create_category(&format!("c-{}", Uuid::new_v4().simple()), None)
        .await;
    let product = app
        .create_product(
            &category,
            &format!("SKU-{}", Uuid::new_v4().simple()),
            "Lamp",
            100,
            1,
        )
        .await;
    product["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn images_are_stored_served_rendered_and_swept_in_a_real_s3_bucket() {
    let moto = Moto::start().await;
    let app = app_on(&moto).await;
    let first = product(&app).await;
    let second = product(&app).await;
    let bytes = png(640, 320, 42);

    let response = app
        .upload_image(&first, bytes.clone(), "image/png", None)
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let image: Value = response.json().await.unwrap();
    let url = image["url"].as_str().unwrap().to_owned();
    let key = url.trim_start_matches("/media/").to_owned();
    let hash = key.split('.').next().unwrap().to_owned();

    // In the bucket, byte for byte what /media serves.
    let stored = moto
        .object(&format!("originals/{key}"))
        .await
        .expect("the original in the bucket");
    let served = app.get(&url).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().to_vec(), stored);

    // The same bytes for another product: still one object.
    let again = app.upload_image(&second, bytes, "image/png", None).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["url"], image["url"]);
    assert_eq!(moto.keys().await, vec![format!("originals/{key}")]);
    assert!(moto.object("originals/nothing-here.png").await.is_none());

    // A rendition, stored beside the original.
    let rendition = app.get(&format!("{url}?w=200")).await;
    assert_eq!(rendition.status(), StatusCode::OK);
    assert_eq!(rendition.headers()["content-type"], "image/webp");
    let keys = moto.keys().await;
    assert!(
        keys.contains(&format!("renditions/{hash}-w200.webp")),
        "{keys:?}"
    );

    // Removed from both products: swept from the bucket, renditions too.
    for (product_id, image) in [(&first, &image), (&second, &again)] {
        let response = app
            .admin_delete(&format!(
                "/api/v1/products/{product_id}/images/{}",
                image["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while !moto.keys().await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "never swept: {:?}",
            moto.keys().await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get(&url).await.status(), StatusCode::NOT_FOUND);
}
