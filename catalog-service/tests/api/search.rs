//! Search over a few thousand generated products: relevance order, typo
//! tolerance, filters combined with search, and pages without duplicates or
//! gaps.

use crate::helpers::{TestApp, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::HashSet;
use uuid::Uuid;

const GENERATED: i32 = 3000;

/// A catalog of `GENERATED` products in two categories (`lighting` under
/// `home`, and `garden`): one in ten names a lamp, one in fifty mentions a
/// lamp in its description only, the rest are other things.
async fn seeded_app() -> (TestApp, String, String, String) {
    let app = spawn_app().await;
    let home = app.create_category("home", None).await;
    let lighting = app.create_category("lighting", Some(&home)).await;
    let garden = app.create_category("garden", None).await;
    sqlx::query(
        "insert into products (product_id, sku, name, slug, description, price_cents, currency,
                               category_id, on_hand, created_at)
         select gen_random_uuid(), 'GEN-' || i,
                case when i % 10 = 0 then (array['Brass Desk Lamp', 'Floor Lamp', 'Lamp Shade'])[1 + i % 3]
                     when i % 50 = 1 then 'Light Bulb'
                     else (array['Oak Chair', 'Wool Rug', 'Garden Hose', 'Coffee Mug', 'Desk Organizer'])[1 + i % 5]
                end || ' ' || i,
                'gen-' || i,
                case when i % 50 = 1 then 'A warm bulb that fits any lamp.'
                     else 'Generated product number ' || i || '.'
                end,
                100 + (i * 37) % 10000, 'EUR',
                case when i % 2 = 0 then $1 else $2 end,
                i % 3,
                now() - make_interval(secs => i)
         from generate_series(1, $3) as i",
    )
    .bind(Uuid::parse_str(&lighting).unwrap())
    .bind(Uuid::parse_str(&garden).unwrap())
    .bind(GENERATED)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("analyze products")
        .execute(&app.pool)
        .await
        .unwrap();
    (app, home, lighting, garden)
}

/// Every page of `query`, in order.
async fn search_all(app: &TestApp, query: &[(&str, &str)], limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut request = app
            .http
            .get(app.url("/api/v1/products"))
            .query(query)
            .query(&[("limit", limit.to_string())]);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query:?}");
        let page: Value = response.json().await.unwrap();
        items.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

fn name(product: &Value) -> &str {
    product["name"].as_str().unwrap()
}

#[tokio::test]
async fn search_ranks_name_matches_above_description_matches_across_pages() {
    let (app, ..) = seeded_app().await;
    let results = search_all(&app, &[("q", "lamp")], 37).await;
    let lamps = (1..=GENERATED).filter(|i| i % 10 == 0).count();
    let bulbs = (1..=GENERATED).filter(|i| i % 50 == 1).count();
    assert_eq!(results.len(), lamps + bulbs);
    let ids: HashSet<&str> = results.iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), results.len(), "no duplicates");
    // Every name match comes before every description-only match.
    let first_bulb = results
        .iter()
        .position(|p| name(p).starts_with("Light Bulb"))
        .unwrap();
    assert_eq!(first_bulb, lamps);
    assert!(results[..lamps].iter().all(|p| name(p).contains("Lamp")));
    assert!(
        results[lamps..]
            .iter()
            .all(|p| name(p).starts_with("Light Bulb"))
    );
}

#[tokio::test]
async fn a_typo_still_finds_the_products() {
    let (app, ..) = seeded_app().await;
    let page: Value = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("q", "lamb"), ("limit", "20")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 20);
    assert!(items.iter().all(|p| name(p).contains("Lamp")), "{page}");
    // Swapped letters.
    let page: Value = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("q", "chiar"), ("limit", "5")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    assert!(
        items.iter().all(|p| name(p).starts_with("Oak Chair")),
        "{page}"
    );
    // Two words, one misspelt.
    let page: Value = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("q", "floor lamb"), ("limit", "5")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let items = page["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items.iter().all(|p| name(p).starts_with("Floor Lamp")),
        "{page}"
    );
}

#[tokio::test]
async fn web_search_syntax_excludes_and_matches_phrases() {
    let (app, ..) = seeded_app().await;
    let results = search_all(&app, &[("q", "lamp -brass -bulb")], 100).await;
    assert!(!results.is_empty());
    assert!(
        results
            .iter()
            .all(|p| name(p).contains("Lamp") && !name(p).contains("Brass"))
    );
    let results = search_all(&app, &[("q", "\"desk lamp\"")], 100).await;
    assert!(!results.is_empty());
    assert!(
        results
            .iter()
            .all(|p| name(p).starts_with("Brass Desk Lamp"))
    );
}

#[tokio::test]
async fn filters_combine_with_search_and_every_sort() {
    let (app, home, lighting, garden) = seeded_app().await;
    let query = [
        ("q", "lamp"),
        ("category_id", home.as_str()),
        ("min_price", "1000"),
        ("max_price", "6000"),
        ("in_stock", "true"),
    ];
    let expected: i64 = sqlx::query_scalar(
        "select count(*) from products
         where search @@ websearch_to_tsquery('english', 'lamp')
           and category_id = $1 and price_cents between 1000 and 6000 and on_hand > reserved",
    )
    .bind(Uuid::parse_str(&lighting).unwrap())
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(expected > 10, "the fixture has matches: {expected}");
    for sort in ["relevance", "price_asc", "price_desc", "newest", "name"] {
        let mut with_sort = query.to_vec();
        with_sort.push(("sort", sort));
        let results = search_all(&app, &with_sort, 9).await;
        assert_eq!(results.len() as i64, expected, "{sort}");
        let ids: HashSet<&str> = results.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), results.len(), "{sort}: no duplicates");
        for p in &results {
            let price = p["price_cents"].as_i64().unwrap();
            assert!((1000..=6000).contains(&price));
            assert!(p["available"].as_i64().unwrap() > 0);
            assert_eq!(p["category_id"], lighting.as_str());
        }
        if sort == "price_asc" {
            let prices: Vec<i64> = results
                .iter()
                .map(|p| p["price_cents"].as_i64().unwrap())
                .collect();
            assert!(prices.windows(2).all(|w| w[0] <= w[1]));
        }
    }
    // The garden holds no lamps: even (lamp-named) generated products went to lighting.
    let none = search_all(&app, &[("q", "lamp"), ("category_id", garden.as_str())], 50).await;
    assert!(none.iter().all(|p| name(p).starts_with("Light Bulb")));
}

#[tokio::test]
async fn unsearchable_text_finds_nothing_rather_than_failing() {
    let (app, ..) = seeded_app().await;
    for q in [
        "the",
        "!!!",
        "\"",
        "-",
        "zzzzqqqq",
        "a & b | c",
        "'; drop table products; --",
    ] {
        let response = app
            .http
            .get(app.url("/api/v1/products"))
            .query(&[("q", q)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{q}");
    }
    let too_long = "x".repeat(201);
    let response = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("q", too_long.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn typo_matches_page_without_duplicates_or_gaps() {
    let (app, ..) = seeded_app().await;
    // `lamb` is read as `lamp`: the same products, in the same order.
    let corrected = search_all(&app, &[("q", "lamb")], 23).await;
    let exact = search_all(&app, &[("q", "lamp")], 23).await;
    assert_eq!(corrected, exact);
    let ids: HashSet<&str> = corrected
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), corrected.len());
    // Other sorts keep the corrected match set on every page too.
    let by_price = search_all(&app, &[("q", "lamb"), ("sort", "price_desc")], 50).await;
    assert_eq!(by_price.len(), exact.len());
    let prices: Vec<i64> = by_price
        .iter()
        .map(|p| p["price_cents"].as_i64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] >= w[1]));
}

#[tokio::test]
async fn words_that_resemble_no_known_word_fall_back_to_name_similarity() {
    let (app, ..) = seeded_app().await;
    // Codes are not words: `xr7z` is compared with whole names.
    let category = app.get_json("/api/v1/categories").await["items"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.create_product(&category, "ZX-1", "XR7 Gizmo", 100, 1)
        .await;
    let results = search_all(&app, &[("q", "xr7z")], 10).await;
    assert_eq!(results.len(), 1);
    assert_eq!(name(&results[0]), "XR7 Gizmo");
    // Known words that match nothing together find nothing.
    let none = search_all(&app, &[("q", "garden lamp")], 10).await;
    assert!(none.is_empty());
}

#[tokio::test]
async fn a_word_that_only_an_edited_description_holds_is_found() {
    // Words unknown to every product skip the full-text scan; a word that
    // arrives with an edit must become searchable at once.
    let app = spawn_app().await;
    let category = app.create_category("misc", None).await;
    let product = app
        .create_product(&category, "PLAIN-1", "Plain Chair", 1000, 1)
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let found = |body: Value| body["items"].as_array().map_or(0, Vec::len);
    assert_eq!(found(app.get_json("/api/v1/products?q=zyzzyva").await), 0);
    let response = app
        .admin_patch(
            &format!("/api/v1/products/{product}"),
            &serde_json::json!({"description": "Upholstered in zyzzyva velvet."}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = app.get_json("/api/v1/products?q=zyzzyva").await;
    assert_eq!(found(page.clone()), 1, "{page}");
    assert_eq!(page["items"][0]["id"], product.as_str());
}

#[tokio::test]
async fn a_nul_character_in_the_query_is_422_naming_the_parameter() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/api/v1/products?q=lamp%00&limit=5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = crate::helpers::problem(response).await;
    assert_eq!(body["errors"][0]["field"], "q");
}

/// Adds `count` products in `category` whose description alone mentions a
/// desk lamp, newer than every generated one.
async fn add_desk_lamp_descriptions(app: &TestApp, category: &str, count: i32) {
    sqlx::query(
        "insert into products (product_id, sku, name, slug, description, price_cents, currency,
                               category_id, on_hand, created_at)
         select gen_random_uuid(), 'READ-' || i, 'Reading Light ' || i, 'read-' || i,
                'A desk lamp for late nights.', 2500, 'EUR', $1, 5,
                now() + make_interval(secs => i)
         from generate_series(1, $2) as i",
    )
    .bind(Uuid::parse_str(category).unwrap())
    .bind(count)
    .execute(&app.pool)
    .await
    .unwrap();
}

fn created_at(product: &Value) -> chrono::DateTime<chrono::Utc> {
    product["created_at"].as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn several_words_rank_name_matches_first_across_pages() {
    let (app, _, lighting, garden) = seeded_app().await;
    add_desk_lamp_descriptions(&app, &garden, 40).await;
    // `Brass Desk Lamp` names: every thirtieth generated product.
    let named = (1..=GENERATED).filter(|i| i % 30 == 0).count();
    // Page sizes that end a page inside the first tier, and exactly on its
    // last row.
    for limit in [9, 10] {
        let results = search_all(&app, &[("q", "desk lamp")], limit).await;
        assert_eq!(results.len(), named + 40, "limit {limit}");
        let ids: HashSet<&str> = results.iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), results.len(), "limit {limit}: no duplicates");
        let (first, second) = results.split_at(named);
        // Name matches first, although every description-only match is newer.
        assert!(first.iter().all(|p| name(p).starts_with("Brass Desk Lamp")));
        assert!(second.iter().all(|p| name(p).starts_with("Reading Light")));
        for tier in [first, second] {
            assert!(
                tier.windows(2)
                    .all(|w| created_at(&w[0]) >= created_at(&w[1])),
                "each tier newest first"
            );
        }
    }
    // A stop word among plain words asks nothing more of the products.
    let with_stop_word = search_all(&app, &[("q", "the Desk LAMP")], 50).await;
    assert_eq!(
        with_stop_word,
        search_all(&app, &[("q", "desk lamp")], 50).await
    );
    // Exclusions and filters apply to both tiers.
    let results = search_all(&app, &[("q", "desk lamp -brass")], 7).await;
    assert_eq!(results.len(), 40);
    assert!(results.iter().all(|p| name(p).starts_with("Reading Light")));
    let results = search_all(
        &app,
        &[("q", "desk lamp"), ("category_id", lighting.as_str())],
        11,
    )
    .await;
    assert_eq!(results.len(), named);
    // Other sorts see the same matches.
    let by_price = search_all(&app, &[("q", "desk lamp"), ("sort", "price_asc")], 13).await;
    assert_eq!(by_price.len(), named + 40);
    let prices: Vec<i64> = by_price
        .iter()
        .map(|p| p["price_cents"].as_i64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn a_renamed_product_is_found_by_its_new_name_only() {
    // One-word searches read names from the listing index: a rename must
    // show there at once.
    let (app, _, lighting, _) = seeded_app().await;
    let product = app
        .create_product(&lighting, "RENAME-1", "Velvet Armchair", 1000, 1)
        .await["id"]
        .as_str()
        .expect("an id")
        .to_owned();
    let ids = |body: Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        ids(app.get_json("/api/v1/products?q=armchair").await),
        std::slice::from_ref(&product)
    );
    let response = app
        .admin_patch(
            &format!("/api/v1/products/{product}"),
            &serde_json::json!({"name": "Velvet Lamp", "description": "Soft light."}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = app.get_json("/api/v1/products?q=armchair").await;
    assert!(ids(page.clone()).is_empty(), "{page}");
    // The newest lamp now.
    let lamps = ids(app.get_json("/api/v1/products?q=lamp&limit=1").await);
    assert_eq!(lamps, [product]);
}

/// The search pool's open connections to this test's database.
async fn search_connections(app: &TestApp) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where application_name = 'catalog-service-search' and datname = current_database()",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_batch_lookup_reads_what_the_cache_lacks_on_the_services_pool() {
    // Written through one replica, read through the other, whose cache has
    // never seen the product: the read goes to the database.
    let (a, b) = crate::helpers::spawn_replicas(|_| {}, |_| {}).await;
    let category = a.create_category("lamps", None).await;
    let product = a
        .create_product(&category, "LAMP-1", "Brass Lamp", 1500, 5)
        .await;
    let id = product["id"].as_str().unwrap();
    let page = b
        .get_json(&format!("/api/v1/products?ids={id}&limit=100"))
        .await;
    assert_eq!(page["items"][0]["id"], id, "{page}");
    // On the service's pool (planned once per connection): neither
    // replica opened a search connection for it.
    let searchers = search_connections(&b).await;
    assert_eq!(searchers, 0);
}

#[tokio::test]
async fn listings_are_planned_with_their_values_and_the_rest_once_per_connection() {
    let (app, ..) = seeded_app().await;
    // The service's pool: generic plans (prepared once per connection).
    let mode: String = sqlx::query_scalar("show plan_cache_mode")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(mode, "force_generic_plan");
    // Listings and searches run on their own connections, planned with
    // their values every time.
    assert!(!search_all(&app, &[("q", "lamp")], 50).await.is_empty());
    let searchers = search_connections(&app).await;
    assert!(searchers >= 1, "{searchers} search connections");
    // Each pool has its gauges.
    let metrics = app.get("/metrics").await.text().await.unwrap();
    for pool in ["main", "search"] {
        assert!(
            metrics.contains(&format!(r#"db_pool_max_connections{{pool="{pool}"}}"#)),
            "{pool}: {metrics}"
        );
        assert!(
            metrics.contains(&format!(
                r#"db_pool_connections{{pool="{pool}",state="in_use"}}"#
            )),
            "{pool}"
        );
    }
}
