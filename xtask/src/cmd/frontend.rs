//! What a frontend developer meets locally: the dev-server origins CORS
//! allows in `cargo xtask up` (and the fleets of `e2e`), the gateway's
//! api-docs site (merged document and docs UI) assembled for local nginx,
//! and the HTTP checks `cargo xtask e2e` runs on both.

use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use ureq::Agent;
use ureq::http::{Request, Response};

use crate::cmd::openapi;

/// The environment variable of the services' CORS allow-list.
pub const CORS_VARIABLE: &str = "APP__SERVER__CORS_ALLOWED_ORIGINS";

/// Origins of the usual dev servers (Vite, and the `3000` of Next.js,
/// Create React App and friends), allowed when `up` runs the fleet.
pub const DEV_ORIGINS: &[&str] = &[
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:3000",
];

/// Request headers a browser frontend sends (the SDK's, API.md's), which a
/// preflight must allow.
pub const CORS_REQUEST_HEADERS: &[&str] = &[
    "authorization",
    "content-type",
    "idempotency-key",
    "if-none-match",
    "if-match",
    "x-request-id",
];

/// Response headers a frontend must be able to read.
pub const CORS_EXPOSED_HEADERS: &[&str] = &["etag", "retry-after", "x-request-id", "location"];

/// The CORS environment for a local fleet: the dev origins, unless
/// `APP__SERVER__CORS_ALLOWED_ORIGINS` is set (then the services inherit it
/// as it is, empty meaning no CORS).
pub fn dev_cors_env() -> Vec<(String, String)> {
    dev_cors_env_given(std::env::var_os(CORS_VARIABLE).is_some())
}

fn dev_cors_env_given(already_set: bool) -> Vec<(String, String)> {
    if already_set {
        Vec::new()
    } else {
        vec![(CORS_VARIABLE.to_owned(), DEV_ORIGINS.join(","))]
    }
}

/// The origins the local fleet allows, for printing.
pub fn allowed_origins() -> String {
    match std::env::var(CORS_VARIABLE) {
        Ok(value) if value.trim().is_empty() => {
            "none (APP__SERVER__CORS_ALLOWED_ORIGINS is empty)".into()
        }
        Ok(value) => format!("{value} (from APP__SERVER__CORS_ALLOWED_ORIGINS)"),
        Err(_) => format!(
            "{} (set APP__SERVER__CORS_ALLOWED_ORIGINS to change)",
            DEV_ORIGINS.join(", ")
        ),
    }
}

/// Files of swagger-ui-dist the docs page uses (deploy/openapi/Dockerfile
/// copies the same ones into the api-docs image).
pub const SWAGGER_UI_ASSETS: &[&str] = &[
    "swagger-ui.css",
    "swagger-ui-bundle.js",
    "favicon-16x16.png",
    "favicon-32x32.png",
];

/// Fills `<site>` the way the api-docs image is laid out, for the local
/// gateway's docs server (deploy/nginx/nginx.local.conf): the document
/// merged from the services' current `openapi.json` files, the docs page,
/// and Swagger UI's assets (from `tools/openapi`, `npm ci` on first use).
/// Returns notes for what could not be done; the gateway runs either way.
pub fn assemble_api_docs_site(root: &Path, site: &Path) -> Result<Vec<String>> {
    let mut notes = Vec::new();
    if site.exists() {
        std::fs::remove_dir_all(site).with_context(|| format!("clearing {}", site.display()))?;
    }
    let api = site.join("api/v1");
    let docs = site.join("api/docs");
    std::fs::create_dir_all(&api)?;
    std::fs::create_dir_all(&docs)?;
    let merged = match openapi::merged_text(root) {
        Ok(text) => text,
        Err(err) => {
            notes.push(format!(
                "serving the committed {} (merging the services' documents failed: {err:#})",
                openapi::MERGED_PATH
            ));
            std::fs::read_to_string(root.join(openapi::MERGED_PATH))
                .with_context(|| format!("reading {}", openapi::MERGED_PATH))?
        }
    };
    std::fs::write(api.join("openapi.json"), merged)?;
    let page = root.join("deploy/openapi/docs");
    for entry in std::fs::read_dir(&page).with_context(|| format!("listing {}", page.display()))? {
        let entry = entry?;
        std::fs::copy(entry.path(), docs.join(entry.file_name()))?;
    }
    match openapi::ensure_npm_tools(root) {
        Ok(modules) => {
            for asset in SWAGGER_UI_ASSETS {
                let from = modules.join("swagger-ui-dist").join(asset);
                std::fs::copy(&from, docs.join(asset))
                    .with_context(|| format!("copying {}", from.display()))?;
            }
        }
        Err(err) => notes.push(format!(
            "the docs UI at /api/docs/ has no Swagger UI assets ({err:#})"
        )),
    }
    Ok(notes)
}

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(std::time::Duration::from_secs(10)))
        .build()
        .into()
}

fn send(agent: &Agent, request: Request<()>) -> Result<Response<ureq::Body>> {
    let what = format!("{} {}", request.method(), request.uri());
    agent.run(request).context(what)
}

fn header<'r>(response: &'r Response<ureq::Body>, name: &str) -> &'r str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn listed(list: &str) -> Vec<String> {
    list.split(',')
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

/// `origin` (the gateway, `http://127.0.0.1:8080`) serves the merged
/// document, equal to the committed one, and the docs UI with its assets.
pub fn check_api_docs(root: &Path, origin: &str) -> Result<()> {
    let agent = agent();
    let mut response = send(
        &agent,
        Request::get(format!("{origin}/api/v1/openapi.json")).body(())?,
    )?;
    ensure!(
        response.status() == 200,
        "GET /api/v1/openapi.json: {}",
        response.status()
    );
    ensure!(
        header(&response, "content-type").starts_with("application/json"),
        "GET /api/v1/openapi.json: content-type {}",
        header(&response, "content-type")
    );
    let served: serde_json::Value = serde_json::from_slice(&response.body_mut().read_to_vec()?)
        .context("the served document is not JSON")?;
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(openapi::MERGED_PATH))
            .with_context(|| format!("reading {}", openapi::MERGED_PATH))?,
    )?;
    ensure!(
        served == committed,
        "the gateway's /api/v1/openapi.json differs from {} (stale? `cargo xtask openapi merge`)",
        openapi::MERGED_PATH
    );

    let response = send(&agent, Request::get(format!("{origin}/api/docs")).body(())?)?;
    ensure!(
        response.status() == 301 && header(&response, "location") == "/api/docs/",
        "GET /api/docs: expected a 301 to /api/docs/, got {} to `{}`",
        response.status(),
        header(&response, "location")
    );
    let mut page = send(
        &agent,
        Request::get(format!("{origin}/api/docs/")).body(())?,
    )?;
    ensure!(page.status() == 200, "GET /api/docs/: {}", page.status());
    ensure!(
        header(&page, "content-type").starts_with("text/html"),
        "GET /api/docs/: content-type {}",
        header(&page, "content-type")
    );
    let html = page.body_mut().read_to_string()?;
    for script in ["swagger-ui-bundle.js", "shop-docs.js", "swagger-ui.css"] {
        ensure!(
            html.contains(&format!("./{script}")),
            "the docs page does not load ./{script}"
        );
    }
    ensure!(
        !html.contains("//cdn") && !html.contains("https://"),
        "the docs page refers to another origin"
    );
    for (asset, media_type) in [
        ("swagger-ui-bundle.js", "application/javascript"),
        ("swagger-ui.css", "text/css"),
        ("shop-docs.js", "application/javascript"),
    ] {
        let mut response = send(
            &agent,
            Request::get(format!("{origin}/api/docs/{asset}")).body(())?,
        )?;
        ensure!(
            response.status() == 200 && header(&response, "content-type").starts_with(media_type),
            "GET /api/docs/{asset}: {} {}",
            response.status(),
            header(&response, "content-type")
        );
        let body = response
            .body_mut()
            .with_config()
            .limit(16 << 20)
            .read_to_vec()?;
        ensure!(!body.is_empty(), "GET /api/docs/{asset}: empty");
        if asset == "shop-docs.js" {
            ensure!(
                String::from_utf8_lossy(&body).contains("/api/v1/openapi.json"),
                "the docs UI does not load /api/v1/openapi.json"
            );
        }
    }
    Ok(())
}

/// Preflights and simple requests from a dev-server origin to `base` (the
/// gateway or one service) on `path`: allowed with every header the SDK
/// sends, the headers it reads exposed; another origin gets no CORS headers.
pub fn check_cors(base: &str, path: &str) -> Result<()> {
    let agent = agent();
    let origin = DEV_ORIGINS[0];
    let url = format!("{base}{path}");
    let preflight = send(
        &agent,
        Request::options(&url)
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                CORS_REQUEST_HEADERS.join(","),
            )
            .body(())?,
    )?;
    ensure!(
        preflight.status().is_success(),
        "preflight OPTIONS {url}: {}",
        preflight.status()
    );
    ensure!(
        header(&preflight, "access-control-allow-origin") == origin,
        "preflight OPTIONS {url}: access-control-allow-origin `{}`, expected {origin}",
        header(&preflight, "access-control-allow-origin")
    );
    let methods = listed(header(&preflight, "access-control-allow-methods"));
    ensure!(
        methods.iter().any(|m| m == "post"),
        "preflight OPTIONS {url}: POST not among the allowed methods {methods:?}"
    );
    let allowed = listed(header(&preflight, "access-control-allow-headers"));
    let missing: Vec<&&str> = CORS_REQUEST_HEADERS
        .iter()
        .filter(|h| !allowed.iter().any(|a| a == *h))
        .collect();
    ensure!(
        missing.is_empty(),
        "preflight OPTIONS {url}: headers {missing:?} not allowed (allowed: {allowed:?})"
    );

    let simple = send(
        &agent,
        Request::get(&url).header("origin", origin).body(())?,
    )?;
    ensure!(
        header(&simple, "access-control-allow-origin") == origin,
        "GET {url} from {origin}: access-control-allow-origin `{}`",
        header(&simple, "access-control-allow-origin")
    );
    let exposed = listed(header(&simple, "access-control-expose-headers"));
    let hidden: Vec<&&str> = CORS_EXPOSED_HEADERS
        .iter()
        .filter(|h| !exposed.iter().any(|e| e == *h))
        .collect();
    ensure!(
        hidden.is_empty(),
        "GET {url} from {origin}: {hidden:?} not exposed (exposed: {exposed:?})"
    );

    let foreign = send(
        &agent,
        Request::options(&url)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "POST")
            .body(())?,
    )?;
    if !header(&foreign, "access-control-allow-origin").is_empty() {
        bail!(
            "preflight OPTIONS {url} from https://evil.example: allowed (`{}`)",
            header(&foreign, "access-control-allow-origin")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dev_origins_unless_the_variable_is_set() {
        assert_eq!(
            dev_cors_env_given(false),
            vec![(
                CORS_VARIABLE.to_owned(),
                "http://localhost:5173,http://127.0.0.1:5173,http://localhost:3000".to_owned()
            )]
        );
        assert!(dev_cors_env_given(true).is_empty(), "inherited as set");
    }

    #[test]
    fn header_lists_are_compared_case_insensitively() {
        assert_eq!(
            listed("ETag, x-request-id,,Location"),
            ["etag", "x-request-id", "location"]
        );
    }
}
