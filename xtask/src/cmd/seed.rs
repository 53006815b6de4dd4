//! `cargo xtask seed`: loads `catalog-service/seed/catalog.json` (a category
//! tree and a few dozen products with stock) and `order-service/seed/pricing.json`
//! (shipping methods, tax rates, a demo discount code) into a running fleet
//! through the public API, as the local admin, and gives each product an
//! image drawn here (a gradient and a shape in colours derived from its SKU;
//! nothing is downloaded). Idempotent: categories are matched by slug,
//! products by SKU and codes by code (409 means "already there"), shipping
//! methods by name, tax rates are set (PUT), and a product that has an image
//! gets none, so a second run adds nothing.

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
    /// order-service base URL.
    pub order_url: String,
    /// Admin e-mail.
    pub email: String,
    /// Admin password.
    pub password: String,
    /// Whether to load the demo pricing too (shipping methods, tax rates, a
    /// code).
    pub pricing: bool,
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
    /// Product images uploaded now.
    pub images_uploaded: usize,
    /// Products that had an image already.
    pub images_present: usize,
    /// Shipping methods created now.
    pub shipping_methods_created: usize,
    /// Shipping methods found already (same name).
    pub shipping_methods_present: usize,
    /// Tax rates set.
    pub tax_rates_set: usize,
    /// Discount codes created now.
    pub discount_codes_created: usize,
    /// Discount codes found already (same code).
    pub discount_codes_present: usize,
}

impl std::fmt::Display for SeedReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "categories: {} created, {} already there; products: {} created, {} already there; \
             images: {} uploaded, {} already there; \
             shipping methods: {} created, {} already there; tax rates: {} set; \
             discount codes: {} created, {} already there",
            self.categories_created,
            self.categories_present,
            self.products_created,
            self.products_present,
            self.images_uploaded,
            self.images_present,
            self.shipping_methods_created,
            self.shipping_methods_present,
            self.tax_rates_set,
            self.discount_codes_created,
            self.discount_codes_present
        )
    }
}

fn read_json(path: &Path) -> Result<Value> {
    serde_json::from_str(
        &std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    )
    .with_context(|| format!("parsing {}", path.display()))
}

/// Loads the demo catalog and the demo pricing.
pub fn run(root: &Path, target: &SeedTarget) -> Result<SeedReport> {
    let data = read_json(&root.join("catalog-service/seed/catalog.json"))?;
    let pricing = read_json(&root.join("order-service/seed/pricing.json"))?;
    let agent: Agent = Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let token = login(&agent, target)?;
    let mut report = SeedReport::default();
    let slugs = seed_categories(&agent, target, &token, &data, &mut report)?;
    seed_products(&agent, target, &token, &data, &slugs, &mut report)?;
    seed_images(&agent, target, &token, &data, &mut report)?;
    if target.pricing {
        seed_pricing(&agent, target, &token, &pricing, &mut report)?;
    }
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

/// Shipping methods (matched by name), tax rates (set) and discount codes
/// (409: already there) in order-service.
fn seed_pricing(
    agent: &Agent,
    target: &SeedTarget,
    token: &str,
    data: &Value,
    report: &mut SeedReport,
) -> Result<()> {
    let auth = format!("Bearer {token}");
    let url = format!("{}/api/v1/admin/shipping-methods", target.order_url);
    let mut existing = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = agent.get(&url).query("limit", "100");
        if let Some(cursor) = &cursor {
            request = request.query("cursor", cursor);
        }
        let mut response = request
            .header("Authorization", &auth)
            .call()
            .with_context(|| format!("GET {url}"))?;
        if response.status() != 200 {
            bail!(
                "listing shipping methods answered {}: {}",
                response.status(),
                response.body_mut().read_to_string()?
            );
        }
        let page: Value = response.body_mut().read_json()?;
        for method in page["items"].as_array().context("shipping methods list")? {
            if let Some(name) = method["name"].as_str() {
                existing.push(name.to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    for method in data["shipping_methods"]
        .as_array()
        .context("shipping_methods list")?
    {
        let name = method["name"].as_str().context("shipping method name")?;
        if existing.iter().any(|e| e == name) {
            report.shipping_methods_present += 1;
            continue;
        }
        let mut response = agent
            .post(&url)
            .header("Authorization", &auth)
            .send_json(method)
            .with_context(|| format!("POST {url}"))?;
        if response.status() != 201 {
            bail!(
                "creating shipping method {name} answered {}: {}",
                response.status(),
                response.body_mut().read_to_string()?
            );
        }
        report.shipping_methods_created += 1;
    }
    for rate in data["tax_rates"].as_array().context("tax_rates list")? {
        let country = rate["country"].as_str().context("tax rate country")?;
        let url = format!("{}/api/v1/admin/tax-rates/{country}", target.order_url);
        let mut response = agent
            .put(&url)
            .header("Authorization", &auth)
            .send_json(json!({"rate_bps": rate["rate_bps"]}))
            .with_context(|| format!("PUT {url}"))?;
        if response.status() != 200 {
            bail!(
                "setting the tax rate of {country} answered {}: {}",
                response.status(),
                response.body_mut().read_to_string()?
            );
        }
        report.tax_rates_set += 1;
    }
    let url = format!("{}/api/v1/admin/discount-codes", target.order_url);
    for code in data["discount_codes"]
        .as_array()
        .context("discount_codes list")?
    {
        let mut response = agent
            .post(&url)
            .header("Authorization", &auth)
            .send_json(code)
            .with_context(|| format!("POST {url}"))?;
        match response.status().as_u16() {
            201 => report.discount_codes_created += 1,
            409 => report.discount_codes_present += 1,
            status => bail!(
                "creating discount code {} answered {status}: {}",
                code["code"],
                response.body_mut().read_to_string()?
            ),
        }
    }
    Ok(())
}

/// Uploads a drawn image for every seed product that has none.
fn seed_images(
    agent: &Agent,
    target: &SeedTarget,
    token: &str,
    data: &Value,
    report: &mut SeedReport,
) -> Result<()> {
    let listed = listed_products(agent, target)?;
    for product in data["products"].as_array().context("products list")? {
        let sku = product["sku"].as_str().context("product sku")?;
        // Inactive products are not listed: they keep no image.
        let Some((id, images)) = listed.get(sku) else {
            continue;
        };
        if *images > 0 {
            report.images_present += 1;
            continue;
        }
        let name = product["name"].as_str().unwrap_or(sku);
        let url = format!("{}/api/v1/products/{id}/images", target.catalog_url);
        let mut response = agent
            .post(&url)
            .query("alt", name)
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "image/png")
            .send(&demo_image(sku)?[..])
            .with_context(|| format!("POST {url}"))?;
        match response.status().as_u16() {
            201 => report.images_uploaded += 1,
            status => bail!(
                "uploading the image of {sku} answered {status}: {}",
                response.body_mut().read_to_string()?
            ),
        }
    }
    Ok(())
}

/// Every listed product: SKU to id and how many images it has.
fn listed_products(agent: &Agent, target: &SeedTarget) -> Result<HashMap<String, (String, usize)>> {
    let url = format!("{}/api/v1/products", target.catalog_url);
    let mut found = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = agent.get(&url).query("limit", "100");
        if let Some(cursor) = &cursor {
            request = request.query("cursor", cursor);
        }
        let mut response = request.call().with_context(|| format!("GET {url}"))?;
        if response.status().as_u16() != 200 {
            bail!("listing products answered {}", response.status());
        }
        let page: Value = response.body_mut().read_json()?;
        for item in page["items"].as_array().context("a page of products")? {
            if let (Some(sku), Some(id)) = (item["sku"].as_str(), item["id"].as_str()) {
                let images = item["images"].as_array().map_or(0, Vec::len);
                found.insert(sku.to_owned(), (id.to_owned(), images));
            }
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(found),
        }
    }
}

/// A 480x480 PNG for `sku`: a diagonal gradient between two colours and a
/// disc or a square, all derived from the SKU (the same SKU always gives
/// the same bytes, so the same stored image).
pub fn demo_image(sku: &str) -> Result<Vec<u8>> {
    use image::{ImageEncoder, Rgb, RgbImage};
    const SIDE: u32 = 480;
    // FNV-1a: stable across runs and platforms.
    let hash = sku.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let byte = |i: u32| ((hash >> (i * 8)) & 0xff) as u8;
    let from = [byte(0), byte(1), byte(2)];
    let to = [byte(3), byte(4), byte(5)];
    let shape = [255 - byte(2), 255 - byte(0), 255 - byte(1)];
    let disc = byte(6) % 2 == 0;
    let centre = f64::from(SIDE) / 2.0;
    let radius = f64::from(SIDE) * (0.2 + f64::from(byte(7) % 64) / 512.0);
    let image = RgbImage::from_fn(SIDE, SIDE, |x, y| {
        let (fx, fy) = (f64::from(x), f64::from(y));
        let inside = if disc {
            (fx - centre).hypot(fy - centre) <= radius
        } else {
            (fx - centre).abs() <= radius && (fy - centre).abs() <= radius
        };
        if inside {
            return Rgb(shape);
        }
        let t = (fx + fy) / (2.0 * f64::from(SIDE));
        let mix = |a: u8, b: u8| (f64::from(a) * (1.0 - t) + f64::from(b) * t).round() as u8;
        Rgb([
            mix(from[0], to[0]),
            mix(from[1], to[1]),
            mix(from[2], to[2]),
        ])
    });
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(image.as_raw(), SIDE, SIDE, image::ExtendedColorType::Rgb8)
        .context("encoding a demo image")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_images_are_pngs_stable_per_sku_and_distinct_between_skus() {
        let lamp = demo_image("LMP-001").unwrap();
        assert_eq!(&lamp[1..4], b"PNG");
        assert_eq!(lamp, demo_image("LMP-001").unwrap());
        assert_ne!(lamp, demo_image("LMP-002").unwrap());
        assert!(lamp.len() < 5 * 1024 * 1024);
    }
}
