//! `cargo xtask seed`: loads `catalog-service/seed/catalog.json` (a category
//! tree and a few dozen products with stock) into a running fleet through the
//! public API, as the local admin. Idempotent: categories are matched by
//! slug, products by SKU (409 means "already there"), so a second run adds
//! nothing.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use ureq::Agent;

/// Where the fleet is and who seeds it.
pub struct SeedTarget {
    /// user-service base URL (login).
    pub user_url: String,
    /// catalog-service base URL.
    pub catalog_url: String,
    /// Admin e-mail.
    pub email: String,
    /// Admin password.
    pub password: String,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct SeedReport {
    /// Categories created now.
    pub categories_created: usize,
    /// Categories found already.
    pub categories_present: usize,
    /// Products created now.
    pub products_created: usize,
    /// Products found already (same SKU).
    pub products_present: usize,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "categories: {} created, {} already there; products: {} created, {} already there",
            self.categories_created,
            self.categories_present,
            self.products_created,
            self.products_present
        )
    }
}

/// Loads the demo catalog.
pub fn run(root: &Path, target: &SeedTarget) -> Result<SeedReport> {
    let path = root.join("catalog-service/seed/catalog.json");
    let data: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))?;
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let token = login(&agent, target)?;
    let mut report = SeedReport::default();
    let slugs = seed_categories(&agent, target, &token, &data, &mut report)?;
    seed_products(&agent, target, &token, &data, &slugs, &mut report)?;
    Ok(report)
}

fn login(agent: &Agent, target: &SeedTarget) -> Result<String> {
    let url = format!("{}/api/v1/auth/login", target.user_url);
    let mut response = agent
        .post(&url)
        .send_json(json!({ "email": target.email, "password": target.password }))
        .with_context(|| format!("POST {url}"))?;
    if response.status() != 200 {
        bail!(
            "logging in as {} answered {}; set ADMIN_EMAIL/ADMIN_PASSWORD to an admin account",
            target.email,
            response.status()
        );
    }
    let body: Value = response.body_mut().read_json()?;
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .context("login answer without access_token")
}

/// Creates missing categories, parents before children; returns slug -> id.
fn seed_categories(
    agent: &Agent,
    target: &SeedTarget,
    token: &str,
    data: &Value,
    report: &mut SeedReport,
) -> Result<HashMap<String, String>> {
    let url = format!("{}/api/v1/categories", target.catalog_url);
    let mut response = agent
        .get(&url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let existing: Value = response.body_mut().read_json()?;
    let mut ids: HashMap<String, String> = existing["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["slug"].as_str()?.to_owned(), c["id"].as_str()?.to_owned())))
        .collect();
    let mut pending: Vec<&Value> = data["categories"]
        .as_array()
        .context("categories list")?
        .iter()
        .collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut waiting = Vec::new();
        for category in pending {
            let slug = category["slug"].as_str().context("category slug")?;
            if ids.contains_key(slug) {
                report.categories_present += 1;
                continue;
            }
            let parent_id = match category["parent"].as_str() {
                None => None,
                Some(parent) => match ids.get(parent) {
                    Some(id) => Some(id.clone()),
                    None => {
                        waiting.push(category);
                        continue;
                    }
                },
            };
            let body = json!({
                "slug": slug, "name": category["name"], "description": category["description"], "parent_id": parent_id,
            });
            let mut response = agent
                .post(&url)
                .header("Authorization", &format!("Bearer {token}"))
                .send_json(body)
                .with_context(|| format!("POST {url}"))?;
            if response.status() != 201 {
                bail!(
                    "creating category {slug} answered {}: {}",
                    response.status(),
                    response.body_mut().read_to_string()?
                );
            }
            let created: Value = response.body_mut().read_json()?;
            ids.insert(
                slug.to_owned(),
                created["id"].as_str().context("category id")?.to_owned(),
            );
            report.categories_created += 1;
        }
        if waiting.len() == before {
            bail!("categories with unknown parents in the seed file");
        }
        pending = waiting;
    }
    Ok(ids)
}

fn seed_products(
    agent: &Agent,
    target: &SeedTarget,
    token: &str,
    data: &Value,
    categories: &HashMap<String, String>,
    report: &mut SeedReport,
) -> Result<()> {
    let url = format!("{}/api/v1/products", target.catalog_url);
    for product in data["products"].as_array().context("products list")? {
        let sku = product["sku"].as_str().context("product sku")?;
        let category = product["category"].as_str().context("product category")?;
        let category_id = categories
            .get(category)
            .with_context(|| format!("{sku}: unknown category {category}"))?;
        let mut body = product.clone();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("category");
            fields.insert("category_id".into(), json!(category_id));
        }
        let mut response = agent
            .post(&url)
            .header("Authorization", &format!("Bearer {token}"))
            .send_json(body)
            .with_context(|| format!("POST {url}"))?;
        match response.status().as_u16() {
            201 => report.products_created += 1,
            409 => report.products_present += 1,
            status => bail!(
                "creating product {sku} answered {status}: {}",
                response.body_mut().read_to_string()?
            ),
        }
    }
    Ok(())
}
