//! What a checkout charges besides its lines: shipping methods, tax rates
//! and discount codes (admin endpoints, the cart's quote, checkout, the
//! order's stored breakdown), and the database-enforced limits of a code
//! under real concurrency.

use crate::helpers::{
    Customer, Fleet, FleetOptions, address, problem, spawn_fleet, spawn_fleet_with,
};
use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

impl Fleet {
    async fn admin_send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let admin = self.admin();
        self.send(method, path, Some(&admin), body, None).await
    }

    /// Creates a shipping method; returns it.
    async fn shipping_method(&self, body: Value) -> Value {
        let response = self
            .admin_send(Method::POST, "/api/v1/admin/shipping-methods", Some(&body))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn tax_rate(&self, country: &str, rate_bps: i64) {
        let response = self
            .admin_send(
                Method::PUT,
                &format!("/api/v1/admin/tax-rates/{country}"),
                Some(&json!({"rate_bps": rate_bps})),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    /// Creates a discount code; returns it.
    async fn discount_code(&self, body: Value) -> Value {
        let response = self
            .admin_send(Method::POST, "/api/v1/admin/discount-codes", Some(&body))
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    async fn apply_code(&self, customer: &Customer, code: &str) -> reqwest::Response {
        self.send(
            Method::PUT,
            "/api/v1/cart/discount",
            Some(&customer.token),
            Some(&json!({"code": code})),
            None,
        )
        .await
    }

    async fn quote(&self, customer: &Customer, query: &str) -> reqwest::Response {
        self.send(
            Method::GET,
            &format!("/api/v1/cart?{query}"),
            Some(&customer.token),
            None,
            None,
        )
        .await
    }

    /// Checks out to the default (GB) address with `method`.
    async fn checkout_via(
        &self,
        customer: &Customer,
        card: &str,
        method: Option<&str>,
    ) -> reqwest::Response {
        let mut body = json!({"shipping_address": address(),
                              "payment": {"method": "card", "token": card}});
        if let Some(method) = method {
            body["shipping_method_id"] = json!(method);
        }
        let key = Uuid::new_v4().to_string();
        self.send(
            Method::POST,
            "/api/v1/checkout",
            Some(&customer.token),
            Some(&body),
            Some(&key),
        )
        .await
    }

    async fn redemptions(&self, code_id: &str) -> (i64, i64) {
        sqlx::query_as(
            "select (select redemptions::bigint from discount_codes where discount_code_id = $1::uuid),
                    (select count(*) from discount_redemptions where discount_code_id = $1::uuid)",
        )
        .bind(code_id)
        .fetch_one(&self.order.pool)
        .await
        .unwrap()
    }

    async fn orders_with_code(&self, code_id: &str, status: &str) -> i64 {
        sqlx::query_scalar(
            "select count(*) from orders where discount_code_id = $1::uuid and status = $2",
        )
        .bind(code_id)
        .bind(status)
        .fetch_one(&self.order.pool)
        .await
        .unwrap()
    }
}

fn standard(countries: &[&str]) -> Value {
    json!({"name": "Standard", "price_cents": 490, "currency": "EUR", "free_over_cents": 10_000,
           "min_days": 2, "max_days": 4, "countries": countries})
}

fn field(problem: &Value) -> &Value {
    &problem["errors"][0]["field"]
}

#[tokio::test]
async fn shipping_methods_are_managed_by_admins_and_listed_by_country() {
    let fleet = spawn_fleet().await;
    let standard = fleet.shipping_method(standard(&["GB", "DE"])).await;
    assert_eq!(standard["name"], "Standard");
    assert_eq!(standard["countries"], json!(["DE", "GB"]));
    let express = fleet
        .shipping_method(
            json!({"name": "Express", "price_cents": 1_500, "currency": "EUR",
                                "min_days": 1, "max_days": 1, "countries": ["FR"]}),
        )
        .await;
    assert_eq!(express["free_over_cents"], json!(null));

    // Public listing, filtered by country.
    let all: Value = fleet
        .send(Method::GET, "/api/v1/shipping-methods", None, None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let response = fleet
        .send(
            Method::GET,
            "/api/v1/shipping-methods?country=FR",
            None,
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let fr: Value = response.json().await.unwrap();
    assert_eq!(fr["items"].as_array().unwrap().len(), 1);
    assert_eq!(fr["items"][0]["id"], express["id"]);
    for key in [
        "id",
        "name",
        "price_cents",
        "currency",
        "free_over_cents",
        "min_days",
        "max_days",
        "countries",
    ] {
        assert!(fr["items"][0].get(key).is_some(), "{key}");
    }
    let response = fleet
        .send(
            Method::GET,
            "/api/v1/shipping-methods?country=france",
            None,
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // PATCH changes it; DELETE hides it from the listing.
    let id = standard["id"].as_str().unwrap();
    let response = fleet
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/admin/shipping-methods/{id}"),
            Some(&json!({"price_cents": 590})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["price_cents"], 590);
    let response = fleet
        .admin_send(
            Method::DELETE,
            &format!("/api/v1/admin/shipping-methods/{id}"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let gb: Value = fleet
        .send(
            Method::GET,
            "/api/v1/shipping-methods?country=GB",
            None,
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(gb["items"], json!([]));
    let response = fleet
        .admin_send(
            Method::DELETE,
            &format!("/api/v1/admin/shipping-methods/{id}"),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let missing = Uuid::new_v4();
    let response = fleet
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/admin/shipping-methods/{missing}"),
            Some(&json!({"price_cents": 1})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let listed: Value = fleet
        .admin_send(Method::GET, "/api/v1/admin/shipping-methods", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_shipping_methods_are_422_and_customers_cannot_manage_them() {
    let fleet = spawn_fleet().await;
    let ada = fleet.customer();
    let response = fleet
        .send(
            Method::POST,
            "/api/v1/admin/shipping-methods",
            Some(&ada.token),
            Some(&standard(&["GB"])),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = fleet
        .send(
            Method::POST,
            "/api/v1/admin/shipping-methods",
            None,
            Some(&standard(&["GB"])),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let mut bad = Vec::new();
    for (name, patch) in [
        ("price_cents", json!({"price_cents": -1})),
        ("price_cents", json!({"price_cents": 1_000_000_000_001_i64})),
        ("price_cents", json!({"price_cents": i64::MAX})),
        ("currency", json!({"currency": "eur"})),
        ("countries", json!({"countries": []})),
        ("countries", json!({"countries": ["gb"]})),
        ("countries", json!({"countries": ["GBR"]})),
        ("name", json!({"name": " "})),
        ("name", json!({"name": "x".repeat(101)})),
        ("min_days", json!({"min_days": 5, "max_days": 2})),
        ("max_days", json!({"max_days": 100_000})),
        ("free_over_cents", json!({"free_over_cents": -5})),
    ] {
        let mut body = standard(&["GB"]);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let response = fleet
            .admin_send(Method::POST, "/api/v1/admin/shipping-methods", Some(&body))
            .await;
        bad.push((name, response.status()));
    }
    assert!(
        bad.iter()
            .all(|(_, s)| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{bad:?}"
    );
    // A million countries: bounded, 422 (or refused as too large), never a 500.
    let huge: Vec<String> = (0..200_000).map(|i| format!("{}", i % 100)).collect();
    let mut body = standard(&["GB"]);
    body["countries"] = json!(huge);
    let response = fleet
        .admin_send(Method::POST, "/api/v1/admin/shipping-methods", Some(&body))
        .await;
    assert!(response.status().is_client_error(), "{}", response.status());
}

#[tokio::test]
async fn tax_rates_are_set_per_country_in_basis_points() {
    let fleet = spawn_fleet().await;
    fleet.tax_rate("GB", 2_000).await;
    fleet.tax_rate("DE", 1_900).await;
    fleet.tax_rate("GB", 2_100).await;
    let response = fleet
        .admin_send(Method::GET, "/api/v1/admin/tax-rates", None)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let rates: Value = response.json().await.unwrap();
    let rates: Vec<(String, i64)> = rates["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["country"].as_str().unwrap().to_owned(),
                r["rate_bps"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(rates, [("DE".to_owned(), 1_900), ("GB".to_owned(), 2_100)]);

    for (path, body) in [
        ("/api/v1/admin/tax-rates/GB", json!({"rate_bps": 10_001})),
        ("/api/v1/admin/tax-rates/GB", json!({"rate_bps": -1})),
        ("/api/v1/admin/tax-rates/GB", json!({"rate_bps": 1e20})),
        ("/api/v1/admin/tax-rates/gb", json!({"rate_bps": 100})),
        ("/api/v1/admin/tax-rates/GBR", json!({"rate_bps": 100})),
    ] {
        let response = fleet.admin_send(Method::PUT, path, Some(&body)).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}"
        );
    }
    let ada = fleet.customer();
    let response = fleet
        .send(
            Method::PUT,
            "/api/v1/admin/tax-rates/GB",
            Some(&ada.token),
            Some(&json!({"rate_bps": 0})),
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn discount_codes_are_managed_by_admins_with_duplicates_409() {
    let fleet = spawn_fleet().await;
    let code = fleet
        .discount_code(json!({"code": "Spring10", "kind": "percent", "value": 10,
                              "max_redemptions": 3, "once_per_customer": true, "active": true}))
        .await;
    assert_eq!(code["code"], "SPRING10");
    assert_eq!(code["redemptions"], 0);
    let response = fleet
        .admin_send(
            Method::POST,
            "/api/v1/admin/discount-codes",
            Some(
                &json!({"code": "spring10", "kind": "fixed", "value": 500, "currency": "EUR",
                         "once_per_customer": false, "active": true}),
            ),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);

    let id = code["id"].as_str().unwrap();
    let response = fleet
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/admin/discount-codes/{id}"),
            Some(&json!({"active": false, "max_redemptions": null})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(
        (
            patched["active"].clone(),
            patched["max_redemptions"].clone()
        ),
        (json!(false), json!(null))
    );
    let missing = Uuid::new_v4();
    let response = fleet
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/admin/discount-codes/{missing}"),
            Some(&json!({"active": true})),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let listed: Value = fleet
        .admin_send(Method::GET, "/api/v1/admin/discount-codes", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    let mut statuses = Vec::new();
    for body in [
        json!({"code": "A", "kind": "percent", "value": 101}),
        json!({"code": "A", "kind": "percent", "value": 0}),
        json!({"code": "A", "kind": "percent", "value": 10, "currency": "EUR"}),
        json!({"code": "A", "kind": "fixed", "value": 500}),
        json!({"code": "A", "kind": "fixed", "value": -5, "currency": "EUR"}),
        json!({"code": "A", "kind": "fixed", "value": i64::MAX, "currency": "EUR"}),
        json!({"code": "A", "kind": "bogus", "value": 5}),
        json!({"code": "has space", "kind": "percent", "value": 5}),
        json!({"code": "x".repeat(65), "kind": "percent", "value": 5}),
        json!({"code": "A", "kind": "percent", "value": 5, "max_redemptions": 0}),
        json!({"code": "A", "kind": "percent", "value": 5,
               "starts_at": "2030-01-02T00:00:00Z", "ends_at": "2030-01-01T00:00:00Z"}),
    ] {
        let response = fleet
            .admin_send(Method::POST, "/api/v1/admin/discount-codes", Some(&body))
            .await;
        statuses.push((body, response.status()));
    }
    assert!(
        statuses
            .iter()
            .all(|(_, s)| *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn the_quote_prices_shipping_tax_and_the_code_as_checkout_charges_them() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 2_500, 10).await;
    let method = fleet.shipping_method(standard(&["GB", "DE"])).await;
    let method_id = method["id"].as_str().unwrap().to_owned();
    fleet.tax_rate("GB", 2_000).await;
    fleet
        .discount_code(json!({"code": "TEN", "kind": "percent", "value": 10}))
        .await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 2).await;

    // Without a destination: lines only.
    let cart = fleet.cart(&ada).await;
    assert_eq!(
        (
            &cart["subtotal_cents"],
            &cart["shipping_cents"],
            &cart["tax_cents"],
            &cart["total_cents"]
        ),
        (&json!(5_000), &json!(0), &json!(0), &json!(5_000))
    );

    let response = fleet.apply_code(&ada, "ten").await;
    assert_eq!(response.status(), StatusCode::OK);
    let cart: Value = response.json().await.unwrap();
    assert_eq!(cart["discount"]["code"], "TEN");
    assert_eq!(cart["discount_cents"], 500);

    let response = fleet
        .quote(&ada, &format!("country=GB&shipping_method_id={method_id}"))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let quote: Value = response.json().await.unwrap();
    // tax = 20% of (5000 - 500 + 490) = 998.
    assert_eq!(
        [
            &quote["subtotal_cents"],
            &quote["discount_cents"],
            &quote["shipping_cents"],
            &quote["tax_cents"],
            &quote["total_cents"]
        ],
        [
            &json!(5_000),
            &json!(500),
            &json!(490),
            &json!(998),
            &json!(5_988)
        ]
    );
    assert_eq!(quote["country"], "GB");
    assert_eq!(quote["shipping_method_id"], method_id.as_str());

    // Bad quote input: a field-named 422, never a 500.
    let queries = [
        ("country=gb".to_owned(), "country"),
        ("country=GBR".to_owned(), "country"),
        (format!("shipping_method_id={method_id}"), "country"),
        (
            format!("country=FR&shipping_method_id={method_id}"),
            "shipping_method_id",
        ),
        (
            format!("country=GB&shipping_method_id={}", Uuid::new_v4()),
            "shipping_method_id",
        ),
    ];
    for (query, expected) in &queries {
        let response = fleet.quote(&ada, query).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
        assert_eq!(field(&problem(response).await), *expected, "{query}");
    }
    let response = fleet
        .quote(&ada, "country=GB&shipping_method_id=not-a-uuid")
        .await;
    assert!(response.status().is_client_error());

    // Checkout charges exactly the quote; the order stores the breakdown.
    let response = fleet.checkout_via(&ada, "tok_visa", Some(&method_id)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();
    assert_eq!(
        [
            &order["subtotal_cents"],
            &order["discount_cents"],
            &order["shipping_cents"],
            &order["tax_cents"],
            &order["total_cents"]
        ],
        [
            &json!(5_000),
            &json!(500),
            &json!(490),
            &json!(998),
            &json!(5_988)
        ]
    );
    assert_eq!(order["discount"]["code"], "TEN");
    assert_eq!(order["shipping_method"]["id"], method_id.as_str());
    assert_eq!(order["shipping_method"]["name"], "Standard");
    fleet.assert_ledger_matches_orders().await;
    let charged: i64 =
        sqlx::query_scalar("select amount_cents from fake_payments where order_id = $1::uuid")
            .bind(order["id"].as_str().unwrap())
            .fetch_one(&fleet.order.pool)
            .await
            .unwrap();
    assert_eq!(charged, 5_988);

    // The event carries the breakdown.
    let events = fleet.notifications.wait_for("order_confirmed", 1).await;
    let data = &events[0]["data"];
    assert_eq!(
        [
            &data["subtotal_cents"],
            &data["discount_cents"],
            &data["shipping_cents"],
            &data["tax_cents"],
            &data["total_cents"],
            &data["discount_code"],
            &data["shipping_method"]
        ],
        [
            &json!(5_000),
            &json!(500),
            &json!(490),
            &json!(998),
            &json!(5_988),
            &json!("TEN"),
            &json!("Standard")
        ]
    );

    // History shows what was charged after the method changes and goes.
    fleet
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/admin/shipping-methods/{method_id}"),
            Some(&json!({"name": "Renamed", "price_cents": 9_999})),
        )
        .await;
    fleet
        .admin_send(
            Method::DELETE,
            &format!("/api/v1/admin/shipping-methods/{method_id}"),
            None,
        )
        .await;
    let id = order["id"].as_str().unwrap();
    let again: Value = fleet
        .send(
            Method::GET,
            &format!("/api/v1/orders/{id}"),
            Some(&ada.token),
            None,
            None,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["shipping_cents"], 490);
    assert_eq!(again["shipping_method"]["name"], "Standard");
    assert_eq!(again["total_cents"], 5_988);
}

#[tokio::test]
async fn a_deleted_method_makes_the_quote_and_checkout_ask_for_another() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 2_500, 10).await;
    let method = fleet.shipping_method(standard(&["GB"])).await;
    let id = method["id"].as_str().unwrap().to_owned();
    let other = fleet
        .shipping_method(
            json!({"name": "Pounds", "price_cents": 300, "currency": "GBP",
                                "min_days": 1, "max_days": 2, "countries": ["GB"]}),
        )
        .await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    assert_eq!(
        fleet
            .quote(&ada, &format!("country=GB&shipping_method_id={id}"))
            .await
            .status(),
        StatusCode::OK
    );
    fleet
        .admin_send(
            Method::DELETE,
            &format!("/api/v1/admin/shipping-methods/{id}"),
            None,
        )
        .await;
    let response = fleet
        .quote(&ada, &format!("country=GB&shipping_method_id={id}"))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem(response).await), "shipping_method_id");
    let response = fleet.checkout_via(&ada, "tok_visa", Some(&id)).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem(response).await), "shipping_method_id");

    // A method in another currency than the cart is 422.
    let other_id = other["id"].as_str().unwrap();
    let response = fleet
        .quote(&ada, &format!("country=GB&shipping_method_id={other_id}"))
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem(response).await), "shipping_method_id");
    // An active method ships to GB: checkout without one is 422.
    let response = fleet.checkout_via(&ada, "tok_visa", None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem(response).await), "shipping_method_id");
    assert_eq!(fleet.count_all_orders().await, 0, "nothing left behind");
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 0);
}

#[tokio::test]
async fn a_code_that_does_not_apply_is_422_naming_why() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    fleet
        .discount_code(json!({"code": "OLD", "kind": "percent", "value": 10,
                              "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-02-01T00:00:00Z"}))
        .await;
    fleet
        .discount_code(json!({"code": "LATER", "kind": "percent", "value": 10,
                              "starts_at": "2999-01-01T00:00:00Z"}))
        .await;
    fleet
        .discount_code(json!({"code": "OFF", "kind": "percent", "value": 10, "active": false}))
        .await;
    fleet
        .discount_code(
            json!({"code": "BIG", "kind": "percent", "value": 10, "min_subtotal_cents": 5_000}),
        )
        .await;
    fleet
        .discount_code(json!({"code": "POUNDS", "kind": "fixed", "value": 100, "currency": "GBP"}))
        .await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    for code in [
        "NOPE",
        "OLD",
        "LATER",
        "OFF",
        "BIG",
        "POUNDS",
        "x".repeat(300).as_str(),
        "",
    ] {
        let response = fleet.apply_code(&ada, code).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{code}"
        );
        let body = problem(response).await;
        assert_eq!(field(&body), "code", "{code}");
        assert!(body["errors"][0]["message"].is_string());
    }
    assert_eq!(fleet.cart(&ada).await["discount"], json!(null));

    // A fixed code larger than the subtotal makes it 0, never negative.
    fleet
        .discount_code(json!({"code": "HUGE", "kind": "fixed", "value": 50_000, "currency": "EUR"}))
        .await;
    let cart: Value = fleet.apply_code(&ada, "huge").await.json().await.unwrap();
    assert_eq!(
        (
            cart["discount_cents"].as_i64(),
            cart["total_cents"].as_i64()
        ),
        (Some(1_000), Some(0))
    );
    let response = fleet
        .send(
            Method::DELETE,
            "/api/v1/cart/discount",
            Some(&ada.token),
            None,
            None,
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cart: Value = response.json().await.unwrap();
    assert_eq!(
        (cart["discount"].clone(), cart["total_cents"].clone()),
        (json!(null), json!(1_000))
    );
}

#[tokio::test]
async fn a_code_that_became_invalid_since_it_was_applied_refuses_checkout_and_reserves_nothing() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 10).await;
    let code = fleet
        .discount_code(json!({"code": "SOON-OFF", "kind": "percent", "value": 10}))
        .await;
    let id = code["id"].as_str().unwrap();
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    assert_eq!(
        fleet.apply_code(&ada, "soon-off").await.status(),
        StatusCode::OK
    );
    fleet
        .admin_send(
            Method::PATCH,
            &format!("/api/v1/admin/discount-codes/{id}"),
            Some(&json!({"active": false})),
        )
        .await;
    let response = fleet.checkout_via(&ada, "tok_visa", None).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem(response).await), "discount");
    assert_eq!(fleet.count_all_orders().await, 0);
    assert_eq!(fleet.redemptions(id).await, (0, 0));
    assert_eq!(fleet.inventory(&lamp).await["reserved"], 0);
    assert_eq!(fleet.gateway_free_charges().await, 0);
}

impl Fleet {
    async fn gateway_free_charges(&self) -> i64 {
        sqlx::query_scalar("select count(*) from fake_payments")
            .fetch_one(&self.order.pool)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn compensations_give_the_redemption_back() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 1).await;
    let code = fleet
        .discount_code(json!({"code": "ONE", "kind": "percent", "value": 10, "max_redemptions": 1}))
        .await;
    let id = code["id"].as_str().unwrap();

    // Declined: order payment_failed, the redemption given back.
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    fleet.apply_code(&ada, "ONE").await;
    let response = fleet.checkout_via(&ada, "tok_declined", None).await;
    assert_eq!(response.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(fleet.redemptions(id).await, (0, 0));

    // Out of stock: 409, nothing held.
    let bob = fleet.customer();
    fleet.add_to_cart(&bob, &lamp, 1).await;
    fleet.apply_code(&bob, "ONE").await;
    let carol = fleet.customer();
    fleet.add_to_cart(&carol, &lamp, 1).await;
    assert_eq!(
        fleet.checkout_via(&carol, "tok_visa", None).await.status(),
        StatusCode::CREATED
    );
    let response = fleet.checkout_via(&bob, "tok_visa", None).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(fleet.redemptions(id).await, (0, 0));

    // Provider down: 503, nothing held.
    let lamp2 = fleet.product("Lamp 2", 1_000, 5).await;
    let dave = fleet.customer();
    fleet.add_to_cart(&dave, &lamp2, 1).await;
    fleet.apply_code(&dave, "ONE").await;
    let response = fleet.checkout_via(&dave, "tok_error", None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.redemptions(id).await, (0, 0));

    // And the code is still usable once.
    let response = fleet.checkout_via(&dave, "tok_visa", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(fleet.redemptions(id).await, (1, 1));
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["discount"]["code"], "ONE");
    assert_eq!(
        fleet.cart(&dave).await["discount"],
        json!(null),
        "the code came off the cart"
    );

    // Cancelled by the customer before shipping: the order keeps what it
    // was charged (its redemption stays: it was used).
    let erin = fleet.customer();
    fleet.add_to_cart(&erin, &lamp2, 1).await;
    let response = fleet.apply_code(&erin, "ONE").await;
    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "exhausted"
    );
}

/// `max_redemptions = 5` and 30 customers checking out with it at once:
/// exactly 5 orders carry it, the others are 422; redemptions that fail
/// payment are given back and usable again.
#[tokio::test]
async fn thirty_concurrent_checkouts_never_exceed_max_redemptions() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 1_000).await;
    let code = fleet
        .discount_code(
            json!({"code": "FIVE", "kind": "percent", "value": 20, "max_redemptions": 5}),
        )
        .await;
    let id = code["id"].as_str().unwrap();
    let customers: Vec<Customer> = (0..30).map(|_| fleet.customer()).collect();
    for customer in &customers {
        assert_eq!(
            fleet.add_to_cart(customer, &lamp, 1).await.status(),
            StatusCode::OK
        );
        assert_eq!(
            fleet.apply_code(customer, "five").await.status(),
            StatusCode::OK
        );
    }
    let responses = join_all(
        customers
            .iter()
            .map(|c| fleet.checkout_via(c, "tok_visa", None)),
    )
    .await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [vec![201; 5], vec![422; 25]].concat(),
        "{statuses:?}"
    );
    for response in responses {
        if response.status() == StatusCode::UNPROCESSABLE_ENTITY {
            assert_eq!(field(&problem(response).await), "discount");
        }
    }
    assert_eq!(fleet.orders_with_code(id, "confirmed").await, 5);
    assert_eq!(fleet.count_all_orders().await, 5);
    assert_eq!(fleet.redemptions(id).await, (5, 5));
    fleet.assert_ledger_matches_orders().await;

    // A second code of 5: 3 of its 5 checkouts are declined, so 3 more
    // checkouts can use it, and not a fourth.
    let code = fleet
        .discount_code(
            json!({"code": "FIVE-B", "kind": "percent", "value": 20, "max_redemptions": 5}),
        )
        .await;
    let id = code["id"].as_str().unwrap();
    let first: Vec<Customer> = (0..5).map(|_| fleet.customer()).collect();
    for customer in &first {
        fleet.add_to_cart(customer, &lamp, 1).await;
        assert_eq!(
            fleet.apply_code(customer, "FIVE-B").await.status(),
            StatusCode::OK
        );
    }
    let cards = [
        "tok_declined",
        "tok_declined",
        "tok_declined",
        "tok_visa",
        "tok_visa",
    ];
    let responses = join_all(
        first
            .iter()
            .zip(cards)
            .map(|(c, card)| fleet.checkout_via(c, card, None)),
    )
    .await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 402, 402, 402]);
    assert_eq!(fleet.redemptions(id).await, (2, 2));
    let more: Vec<Customer> = (0..4).map(|_| fleet.customer()).collect();
    for customer in &more {
        fleet.add_to_cart(customer, &lamp, 1).await;
        assert_eq!(
            fleet.apply_code(customer, "FIVE-B").await.status(),
            StatusCode::OK
        );
    }
    let responses = join_all(more.iter().map(|c| fleet.checkout_via(c, "tok_visa", None))).await;
    let mut statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 201, 201, 422]);
    assert_eq!(fleet.orders_with_code(id, "confirmed").await, 5);
    assert_eq!(fleet.orders_with_code(id, "payment_failed").await, 3);
    assert_eq!(fleet.redemptions(id).await, (5, 5));
    fleet.assert_ledger_matches_orders().await;
}

/// A once-per-customer code in 10 concurrent checkouts of one customer
/// (different keys): one redemption, whatever the interleaving. Several
/// worker threads, so the checkouts' opening statements really overlap.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_once_per_customer_code_is_redeemed_once_by_ten_concurrent_checkouts() {
    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 1_000).await;
    let code = fleet
        .discount_code(
            json!({"code": "WELCOME", "kind": "fixed", "value": 300, "currency": "EUR",
                              "once_per_customer": true}),
        )
        .await;
    let id = code["id"].as_str().unwrap();
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 2).await;
    assert_eq!(
        fleet.apply_code(&ada, "welcome").await.status(),
        StatusCode::OK
    );
    let responses = join_all((0..10).map(|_| fleet.checkout_via(&ada, "tok_visa", None))).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        statuses.iter().all(|s| [201, 409, 422].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(fleet.redemptions(id).await, (1, 1), "{statuses:?}");
    let with_code: i64 = sqlx::query_scalar(
        "select count(*) from orders where discount_code_id = $1::uuid and user_id = $2",
    )
    .bind(id)
    .bind(ada.id)
    .fetch_one(&fleet.order.pool)
    .await
    .unwrap();
    assert_eq!(with_code, 1, "{statuses:?}");
    fleet.assert_ledger_matches_orders().await;

    // And never again for this customer.
    fleet.add_to_cart(&ada, &lamp, 1).await;
    let response = fleet.apply_code(&ada, "WELCOME").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(field(&problem(response).await), "code");
}

#[tokio::test]
async fn without_methods_for_the_country_shipping_is_free_and_tax_still_applies() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_005, 10).await;
    fleet.shipping_method(standard(&["DE"])).await;
    fleet.tax_rate("GB", 1_250).await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    let response = fleet.checkout_via(&ada, "tok_visa", None).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();
    // 12.5% of 1005 = 125.625 -> 126 (half-up).
    assert_eq!(
        [
            &order["shipping_cents"],
            &order["tax_cents"],
            &order["total_cents"]
        ],
        [&json!(0), &json!(126), &json!(1_131)]
    );
    assert_eq!(order["shipping_method"], json!(null));
}

/// A crash after the reservation holds the redemption until the reconciler
/// settles the order; then it is given back and usable again.
#[tokio::test]
async fn the_reconciler_gives_back_the_redemption_of_an_interrupted_checkout() {
    let fleet = spawn_fleet_with(FleetOptions::default(), |s, _| {
        s.faults.after_step = Some(crate::helpers::halt_after(
            order_service::config::SagaStep::Reserved,
        ));
    })
    .await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    let code = fleet
        .discount_code(
            json!({"code": "SOLO", "kind": "percent", "value": 10, "max_redemptions": 1}),
        )
        .await;
    let id = code["id"].as_str().unwrap();
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    fleet.apply_code(&ada, "SOLO").await;
    let response = fleet.checkout_via(&ada, "tok_visa", None).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(fleet.redemptions(id).await, (1, 1), "held while pending");
    let bob = fleet.customer();
    fleet.add_to_cart(&bob, &lamp, 1).await;
    assert_eq!(
        fleet.apply_code(&bob, "SOLO").await.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "exhausted while held"
    );
    let report = fleet.reconcile().await;
    assert_eq!(report.released, 1, "{report:?}");
    assert_eq!(fleet.redemptions(id).await, (0, 0));
    assert_eq!(
        fleet.apply_code(&bob, "SOLO").await.status(),
        StatusCode::OK
    );
}

/// A deleted account's cart goes with its applied discount code.
#[tokio::test]
async fn erasing_an_account_deletes_the_code_applied_to_its_cart() {
    let fleet = spawn_fleet().await;
    let lamp = fleet.product("Lamp", 1_000, 5).await;
    fleet
        .discount_code(json!({"code": "GONE", "kind": "percent", "value": 10}))
        .await;
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    assert_eq!(
        fleet.apply_code(&ada, "GONE").await.status(),
        StatusCode::OK
    );
    let applied = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from carts where user_id = $1")
            .bind(ada.id)
            .fetch_one(&fleet.order.pool)
            .await
            .unwrap()
    };
    assert_eq!(applied().await, 1);
    let token = fleet.order.service_token("user-service");
    let event =
        json!({"event_id": Uuid::now_v7(), "user_id": ada.id, "deleted_at": chrono::Utc::now()});
    let response = fleet
        .send(
            Method::POST,
            "/internal/v1/user-deletions",
            Some(&token),
            Some(&event),
            None,
        )
        .await;
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(applied().await, 0);
}

/// The database, not the application, keeps a once-per-customer code to
/// one order: ten openings of one customer's checkout that all start before
/// any of them commits (the code's row is held locked meanwhile, as a slow
/// transaction would) redeem it once; the nine others are refused by the
/// unique index, which the saga turns into a 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_openings_of_one_customer_redeem_a_once_per_customer_code_once() {
    use order_service::features::checkout::repository::{self, NewOrder};

    let fleet = spawn_fleet_with(
        FleetOptions {
            big_pools: true,
            ..Default::default()
        },
        |_, _| {},
    )
    .await;
    let lamp = fleet.product("Lamp", 1_000, 100).await;
    let code = fleet
        .discount_code(json!({"code": "ONCE", "kind": "percent", "value": 10,
                              "once_per_customer": true}))
        .await;
    let id = code["id"].as_str().unwrap().to_owned();
    let ada = fleet.customer();
    fleet.add_to_cart(&ada, &lamp, 1).await;
    assert_eq!(
        fleet.apply_code(&ada, "ONCE").await.status(),
        StatusCode::OK
    );

    let pool = fleet.order.pool.clone();
    let mut holder = pool.begin().await.unwrap();
    sqlx::query("select 1 from discount_codes where discount_code_id = $1::uuid for update")
        .bind(&id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let openings: Vec<_> = (0..10)
        .map(|_| {
            let pool = pool.clone();
            let user_id = ada.id;
            tokio::spawn(async move {
                let shipping_address = address();
                let order = NewOrder {
                    order_id: Uuid::now_v7(),
                    user_id,
                    shipping_address: &shipping_address,
                    country: "GB",
                    shipping_method_id: None,
                    provider: "fake",
                    idempotency_key: None,
                };
                repository::open(&pool, &order).await
            })
        })
        .collect();
    // Every opening has read "not used yet" and waits on the code's row.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    holder.commit().await.unwrap();
    let mut redeemed = 0;
    let mut refused = 0;
    for opening in join_all(openings).await {
        match opening.unwrap() {
            Ok(opened) if opened.redeemed => redeemed += 1,
            Err(sqlx::Error::Database(db))
                if db.constraint() == Some(repository::ONCE_PER_CUSTOMER_KEY) =>
            {
                refused += 1
            }
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((redeemed, refused), (1, 9));
    assert_eq!(fleet.redemptions(&id).await, (1, 1));
}
