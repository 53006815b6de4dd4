//! Searches do bounded work (see the README's "Search"): a dense
//! conjunction is listed exactly through every path (the probe of the
//! newest products, the capped candidates, the walk of the order's index),
//! and the one case the bound shows is the documented one. The bounds are
//! set small here so a few hundred products take every path.

use reqwest::StatusCode;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{TestApp, spawn_app_via_proxy, spawn_app_with};
use service_kit::testing::TcpProxy;

const PRODUCTS: i32 = 600;

/// `PRODUCTS` products whose descriptions all hold `companion` and `pairs`
/// (one in seven names too), newest first by number; the 100 oldest also
/// say `vintage`.
async fn dense_app(probe: i64, candidates: i64, walk: i64) -> TestApp {
    let app = spawn_app_with(|s| {
        s.search.probe_rows = probe;
        s.search.max_candidates = candidates;
        s.search.max_walk_rows = walk;
    })
    .await;
    seed_dense(&app).await;
    app
}

async fn seed_dense(app: &TestApp) {
    let category = app.create_category("things", None).await;
    sqlx::query(
        "insert into products (product_id, sku, name, slug, description, price_cents, currency,
                               category_id, on_hand, created_at)
         select gen_random_uuid(), 'D-' || i,
                case when i % 7 = 0 then 'Companion Pairs Set ' || i else 'Oak Chair ' || i end,
                'd-' || i,
                'A chair companion, pairs well with any table.'
                    || case when i > $3 - 100 then ' Vintage.' else '' end,
                100 + (i * 7919) % 5000, 'EUR', $1, 1, now() - make_interval(secs => i)
         from generate_series(1, $2) as i",
    )
    .bind(Uuid::parse_str(&category).unwrap())
    .bind(PRODUCTS)
    .bind(PRODUCTS)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query("analyze products")
        .execute(&app.pool)
        .await
        .unwrap();
}

/// The ids of every page of `query`, in order, and the number of pages.
async fn all_pages(app: &TestApp, query: &[(&str, &str)]) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for pages in 1.. {
        let mut request = app.http.get(app.url("/api/v1/products")).query(query);
        if let Some(c) = &cursor {
            request = request.query(&[("cursor", c)]);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{query:?}");
        let page: Value = response.json().await.unwrap();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (ids, pages),
        }
    }
    unreachable!()
}

/// The exact listing, from the database: `order` over the matches of `q`.
async fn expected(app: &TestApp, q: &str, order: &str) -> Vec<String> {
    let sql = format!(
        "select product_id::text from products
         where active and search @@ websearch_to_tsquery('english', $1)
         order by {order}"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(q)
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

const RELEVANCE: &str = "(name_search @@ websearch_to_tsquery('english', $1)) desc, \
                         created_at desc, product_id desc";

#[tokio::test]
async fn a_dense_conjunction_is_listed_exactly_in_relevance_order_across_pages() {
    // Name tier: 85 matches, 7 among the 50 newest, more than 40 in the
    // index: walked. Description tier: the probe fills every page.
    let app = dense_app(50, 40, 100_000).await;
    let (ids, pages) = all_pages(&app, &[("q", "companion pairs"), ("limit", "25")]).await;
    assert_eq!(ids, expected(&app, "companion pairs", RELEVANCE).await);
    assert_eq!(ids.len(), PRODUCTS as usize);
    assert_eq!(pages, 24);
}

#[tokio::test]
async fn several_words_over_the_cap_with_few_name_matches_walk_for_the_second_tier() {
    // 600 matches, over the cap of 200; 85 name matches, under half of it:
    // the description tier is walked for from the newest products.
    let app = dense_app(50, 200, 100_000).await;
    let (ids, _) = all_pages(&app, &[("q", "companion pairs"), ("limit", "25")]).await;
    assert_eq!(ids, expected(&app, "companion pairs", RELEVANCE).await);
    assert_eq!(ids.len(), PRODUCTS as usize);
    // 100 `vintage` matches, over a cap of 90, 20 of them in names: the
    // other 80 are walked for, but all are older than the 300 products a
    // walk may read. Being under the cap, they are read from the index:
    // the listing stays exact.
    let app = dense_app(50, 90, 300).await;
    sqlx::query(
        "update products set name = 'Vintage Companion Lamp ' || sku
         where description like '%Vintage.%' and substring(sku from 3)::int % 5 = 0",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let (ids, _) = all_pages(&app, &[("q", "vintage companion"), ("limit", "30")]).await;
    assert_eq!(ids, expected(&app, "vintage companion", RELEVANCE).await);
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn a_dense_conjunction_in_price_order_walks_the_price_index_exactly() {
    let app = dense_app(50, 40, 100_000).await;
    for (sort, order) in [
        ("price_asc", "price_cents, product_id"),
        ("price_desc", "price_cents desc, product_id desc"),
        ("name", "name, product_id"),
        ("newest", "created_at desc, product_id desc"),
    ] {
        let (ids, _) = all_pages(
            &app,
            &[("q", "companion pairs"), ("sort", sort), ("limit", "100")],
        )
        .await;
        assert_eq!(
            ids,
            expected(&app, "companion pairs", order).await,
            "{sort}"
        );
    }
}

#[tokio::test]
async fn matches_under_the_candidate_cap_are_sorted_from_the_index() {
    // 100 `vintage` matches, none among the 50 newest: under a cap of 1000
    // they all come from the index and are sorted.
    let app = dense_app(50, 1000, 100_000).await;
    let (ids, _) = all_pages(&app, &[("q", "vintage companion"), ("limit", "30")]).await;
    assert_eq!(ids, expected(&app, "vintage companion", RELEVANCE).await);
    assert_eq!(ids.len(), 100);
}

#[tokio::test]
async fn a_walk_that_reads_its_limit_without_filling_a_page_ends_the_listing() {
    // 100 `vintage` matches (over the cap of 40), all older than the 300
    // products a walk may read from the top: the documented bound. The
    // first page holds what the walk found, none, and is the last.
    let app = dense_app(50, 40, 300).await;
    let (ids, pages) = all_pages(
        &app,
        &[
            ("q", "vintage companion"),
            ("sort", "newest"),
            ("limit", "30"),
        ],
    )
    .await;
    assert_eq!((ids.len(), pages), (0, 1));
    // With a walk long enough, the same search is exact.
    let app = dense_app(50, 40, 100_000).await;
    let (ids, _) = all_pages(
        &app,
        &[
            ("q", "vintage companion"),
            ("sort", "newest"),
            ("limit", "30"),
        ],
    )
    .await;
    let order = "created_at desc, product_id desc";
    assert_eq!(ids, expected(&app, "vintage companion", order).await);
}

#[tokio::test]
async fn forged_cursor_values_are_422_not_500() {
    let app = dense_app(50, 40, 100_000).await;
    let id = Uuid::nil();
    for (sort, key) in [
        (
            "newest",
            serde_json::json!({"s": "newest", "t": "+200000-01-01T00:00:00Z", "id": id}),
        ),
        (
            "newest",
            serde_json::json!({"s": "newest", "t": "-5000-01-01T00:00:00Z", "id": id}),
        ),
        (
            "name",
            serde_json::json!({"s": "name", "n": "a\u{0}b", "id": id}),
        ),
        (
            "name",
            serde_json::json!({"s": "name", "n": "x".repeat(5000), "id": id}),
        ),
        (
            "relevance",
            serde_json::json!({"s": "tier", "tier": 9, "t": "2020-01-01T00:00:00Z", "id": id}),
        ),
        (
            "price_asc",
            serde_json::json!({"s": "price_asc", "p": 1e300, "id": id}),
        ),
    ] {
        let cursor = service_kit::pagination::encode_cursor(&key);
        let mut query = vec![("sort", sort), ("cursor", cursor.as_str())];
        if sort == "relevance" {
            query.push(("q", "companion"));
        }
        let response = app
            .http
            .get(app.url("/api/v1/products"))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{key}");
    }
}

/// The first page of `q` (relevance, 25 rows) and the statement round trips
/// it took.
async fn first_page_counted(app: &TestApp, proxy: &TcpProxy, q: &str) -> (Vec<String>, u64) {
    let before = proxy.round_trips();
    let response = app
        .http
        .get(app.url("/api/v1/products"))
        .query(&[("q", q), ("limit", "25")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{q}");
    let page: Value = response.json().await.unwrap();
    let trips = proxy.round_trips() - before;
    let ids = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, trips)
}

#[tokio::test]
async fn a_search_learns_what_it_can_skip_next_time_and_answers_the_same() {
    // No product cache (its reads would change the count too), one
    // connection (statements prepared by the warm-up stay prepared), and
    // no sweep while counting.
    let (app, proxy) = spawn_app_via_proxy(|s| {
        s.search.probe_rows = 50;
        s.search.max_candidates = 40;
        s.search.max_walk_rows = 100_000;
        s.cache.enabled = false;
        s.database.max_connections = 1;
        s.reservations.sweep_interval_ms = 3_600_000;
        s.media.sweep_interval_ms = 3_600_000;
    })
    .await;
    seed_dense(&app).await;
    // The same statements, for other texts: every one is prepared after
    // (a statement's first run on a connection is two round trips).
    first_page_counted(&app, &proxy, "pairs companion").await;
    first_page_counted(&app, &proxy, "set oak").await;

    // 600 matches overflow the ranked read of 40: the next search of the
    // text goes tier by tier at once, one statement fewer, same page.
    let (first, trips) = first_page_counted(&app, &proxy, "companion pairs").await;
    let (again, fewer) = first_page_counted(&app, &proxy, "Companion Pairs").await;
    let exact = expected(&app, "companion pairs", RELEVANCE).await;
    assert_eq!(first, exact[..25]);
    assert_eq!(again, first);
    assert_eq!(fewer, trips - 1, "{trips} round trips, then {fewer}");

    // Name words only, together in no product: the ranked read, then the
    // correction, which leaves the text as it is; the next time, the
    // ranked read alone.
    let (none, trips) = first_page_counted(&app, &proxy, "oak set").await;
    assert!(none.is_empty());
    assert_eq!(trips, 2);
    let (none, trips) = first_page_counted(&app, &proxy, "oak set").await;
    assert!(none.is_empty());
    assert_eq!(trips, 1);
    // A name that matches later is found: the memory skips the correction
    // only when nothing matches as typed.
    sqlx::query("update products set name = 'Oak Set ' || sku where sku = 'D-5'")
        .execute(&app.pool)
        .await
        .unwrap();
    let (found, _) = first_page_counted(&app, &proxy, "oak set").await;
    assert_eq!(found.len(), 1);
}
