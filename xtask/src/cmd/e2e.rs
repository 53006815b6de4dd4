//! `cargo xtask e2e`: the release binaries, their own Postgres, an SMTP
//! server and the gateway (when nginx is installed), driven through one
//! customer's whole journey over HTTP as a frontend would, ending with the
//! deletion of the account, checked in every service's database. Each step
//! prints one line; the first failure stops the run and names the step.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::cmd::stack::{Mail, Stack, StackOptions, wait_for_mail};
use crate::infra::pg::{self, PgBin, PgUrl};
use crate::infra::shop::{Api, Session, create_products, uuid_like};
use crate::infra::workspace;

/// Options of `cargo xtask e2e` (its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct E2eOptions {
    /// Build the release binaries first.
    #[arg(
        long = "no-build",
        action = clap::ArgAction::SetFalse,
        help = "Run the binaries already in target/release"
    )]
    pub build: bool,
}

/// Runs the journey; the fleet is stopped whatever happens.
pub fn run(opts: &E2eOptions) -> Result<()> {
    let root = workspace::root();
    let began = Instant::now();
    let stack = Stack::start(
        &root,
        StackOptions {
            release: true,
            build: opts.build,
            name: "e2e".into(),
            smtp: true,
            gateway: true,
            // As `cargo xtask up` runs it: dev-server origins allowed.
            env: crate::cmd::frontend::dev_cors_env(),
        },
    )?;
    println!(
        "e2e: fleet up in {:.1} s, calling {}",
        began.elapsed().as_secs_f64(),
        if stack.through_gateway {
            "through the gateway on :8080"
        } else {
            "the services directly (nginx is not installed)"
        }
    );
    let result = journey(&stack);
    if result.is_err() {
        eprintln!("e2e: service logs are in {}", stack.logs.display());
    }
    let stopped = stack.stop();
    result?;
    stopped?;
    println!("e2e: passed in {:.1} s", began.elapsed().as_secs_f64());
    Ok(())
}

/// What the journey needs of a running fleet: `cargo xtask e2e`'s local
/// [`Stack`], or the containers of `cargo xtask compose-check`.
pub trait Target {
    /// The API client (through the gateway when [`Target::through_gateway`]).
    fn api(&self) -> &Api;
    /// An administrator's access token.
    fn admin_token(&self) -> &str;
    /// Whether the API is called through the gateway on
    /// [`crate::cmd::local_extras::GATEWAY_PORT`].
    fn through_gateway(&self) -> bool;
    /// A service's own origin (`user-service` -> `http://127.0.0.1:8001`).
    fn direct_url(&self, service: &str) -> Result<String>;
    /// The Postgres superuser's URL of the fleet's database server.
    fn superuser_url(&self) -> Result<String>;
    /// Every mail the fleet has sent so far.
    fn mails(&self) -> Result<Vec<Mail>>;
    /// The log lines of a service (`order` for order-service) containing `needle`.
    fn log_lines(&self, short: &str, needle: &str) -> Result<Vec<String>>;
}

impl Target for Stack {
    fn api(&self) -> &Api {
        &self.api
    }
    fn admin_token(&self) -> &str {
        &self.admin_token
    }
    fn through_gateway(&self) -> bool {
        self.through_gateway
    }
    fn direct_url(&self, service: &str) -> Result<String> {
        self.fleet.base_url(service)
    }
    fn superuser_url(&self) -> Result<String> {
        Ok(self.fleet.superuser_url().to_owned())
    }
    fn mails(&self) -> Result<Vec<Mail>> {
        self.smtp
            .as_ref()
            .context("the e2e stack has an SMTP server")?
            .messages()
    }
    fn log_lines(&self, short: &str, needle: &str) -> Result<Vec<String>> {
        Stack::log_lines(self, short, needle)
    }
}

/// One customer's whole journey against `target`, step by step (one line
/// each); the first failure stops it and names the step.
pub fn journey(target: &dyn Target) -> Result<()> {
    Journey::new(target).run()
}

type Step<'s> = fn(&mut Journey<'s>) -> Result<()>;

struct Journey<'a> {
    stack: &'a dyn Target,
    api: &'a Api,
    run_id: String,
    email: String,
    password: String,
    products: Vec<String>,
    /// The shipping method the journey ships with.
    shipping_method: String,
    /// The discount code the journey applies.
    code: String,
    session: Option<Session>,
    order: Value,
}

const PRICE: i64 = 2499;
const STOCK: i64 = 5;
const MAIL_WAIT: Duration = Duration::from_secs(30);
/// Where the journey ships: a country only it configures (its own method
/// and tax rate), so other checkouts in the fleet are unaffected.
const COUNTRY: &str = "IS";
const SHIPPING_CENTS: i64 = 500;
const TAX_BPS: i64 = 2400;
const DISCOUNT_PERCENT: i64 = 10;
/// 3 * 2499 = 7497; 10% off, half-up: 750; + 500 shipping; 24% tax on
/// 7247, half-up: 1739.
const SUBTOTAL: i64 = 3 * PRICE;
const DISCOUNT: i64 = 750;
const TAX: i64 = 1739;
const TOTAL: i64 = SUBTOTAL - DISCOUNT + SHIPPING_CENTS + TAX;

impl<'a> Journey<'a> {
    fn new(stack: &'a dyn Target) -> Self {
        let run_id = uuid_like();
        let code = format!("E2E-{}", run_id_code(&run_id));
        Self {
            stack,
            api: stack.api(),
            email: format!("e2e-{run_id}@example.com"),
            password: "correct horse battery staple".into(),
            run_id,
            products: Vec::new(),
            shipping_method: String::new(),
            code,
            session: None,
            order: Value::Null,
        }
    }

    /// Waits for the mails to the customer matching `pred`.
    fn wait_mail(&self, pred: impl Fn(&Mail) -> bool) -> Result<Vec<Mail>> {
        wait_for_mail(|| self.stack.mails(), &self.email, MAIL_WAIT, pred)
    }

    fn run(&mut self) -> Result<()> {
        let steps: Vec<(&str, Step<'a>)> = vec![
            (
                "API document, docs UI and CORS for dev servers",
                Self::frontend_surface,
            ),
            ("admin stocks the catalog", Self::stock_catalog),
            (
                "admin sets shipping, tax and a discount code",
                Self::pricing,
            ),
            ("register and welcome mail", Self::register),
            ("login", Self::login),
            ("browse and search", Self::browse),
            ("cart, discount code and quote", Self::cart),
            ("checkout (and its replay)", Self::checkout),
            ("order history", Self::history),
            ("notification recorded and mailed", Self::confirmation),
            ("cancel: refund and restock", Self::cancel),
            ("password reset by the mailed token", Self::password_reset),
            (
                "refresh rotation and reuse detection",
                Self::refresh_rotation,
            ),
            ("logout", Self::logout),
            (
                "one request id across three services",
                Self::request_id_in_logs,
            ),
            (
                "security headers and the gateway's search limit",
                Self::defences,
            ),
            ("account deletion erased everywhere", Self::erasure),
        ];
        for (name, step) in steps {
            let began = Instant::now();
            step(self).with_context(|| format!("e2e step `{name}`"))?;
            println!(
                "  ok  {name:<40} {:>6.0} ms",
                began.elapsed().as_secs_f64() * 1000.0
            );
        }
        Ok(())
    }

    /// Every answer says nosniff (once), an answer to a request with
    /// credentials says no-store; through the gateway, a search flood from
    /// one address gets 429 problem+json with Retry-After (catalog-service
    /// has no limiter of its own, so those 429s are the gateway's).
    fn defences(&mut self) -> Result<()> {
        let session = self.api.login(&self.email, &self.password)?;
        let me = self
            .api
            .get(&self.api.bases.user, "/api/v1/users/me")
            .token(&session.access)
            .send()?
            .expect(200, "GET /users/me")?;
        ensure!(
            me.header_values("cache-control") == ["no-store"],
            "an authenticated answer's Cache-Control: {:?}",
            me.header_values("cache-control")
        );
        let listing = self
            .api
            .get(&self.api.bases.catalog, "/api/v1/products")
            .send()?
            .expect(200, "product listing")?;
        for reply in [&me, &listing] {
            ensure!(
                reply.header_values("x-content-type-options") == ["nosniff"],
                "X-Content-Type-Options: {:?}",
                reply.header_values("x-content-type-options")
            );
        }
        if !self.stack.through_gateway() {
            return Ok(());
        }
        for attempt in 1..=200 {
            let reply = self
                .api
                .get(&self.api.bases.catalog, "/api/v1/products?q=flood")
                .send()?;
            if reply.status == 429 {
                ensure!(
                    reply.body["status"] == 429 && reply.body["type"].is_string(),
                    "the gateway's 429 is not problem+json: {}",
                    reply.body
                );
                ensure!(
                    !reply.header_values("retry-after").is_empty(),
                    "the gateway's 429 has no Retry-After"
                );
                ensure!(reply.header_values("x-content-type-options") == ["nosniff"]);
                ensure!(attempt > 20, "throttled after only {attempt} searches");
                return Ok(());
            }
            reply.expect(200, "search")?;
        }
        bail!("200 searches in a row from one address were never throttled by the gateway")
    }

    fn token(&self) -> Result<&str> {
        Ok(&self.session.as_ref().context("logged in")?.access)
    }

    /// What a frontend developer's browser meets first: the merged document
    /// and the docs UI at the gateway, and CORS preflights from a dev server
    /// answered by every service, directly and through the gateway.
    fn frontend_surface(&mut self) -> Result<()> {
        let root = workspace::root();
        // One public path per service (each runs its own CORS layer).
        let paths = [
            ("user-service", "/api/v1/auth/login"),
            ("catalog-service", "/api/v1/products"),
            ("order-service", "/api/v1/checkout"),
            ("notification-service", "/api/v1/notification-preferences"),
        ];
        for (service, path) in paths {
            let direct = self.stack.direct_url(service)?;
            crate::cmd::frontend::check_cors(&direct, path)?;
        }
        if !self.stack.through_gateway() {
            println!(
                "      (nginx is not installed: the gateway's document and docs UI are not checked)"
            );
            return Ok(());
        }
        let gateway = format!(
            "http://127.0.0.1:{}",
            crate::cmd::local_extras::GATEWAY_PORT
        );
        crate::cmd::frontend::check_api_docs(&root, &gateway)?;
        for (_, path) in paths {
            crate::cmd::frontend::check_cors(&gateway, path)?;
        }
        Ok(())
    }

    fn stock_catalog(&mut self) -> Result<()> {
        let label = format!("Orrery {}", self.run_id);
        self.products = create_products(
            self.api,
            self.stack.admin_token(),
            &label,
            2,
            STOCK as u32,
            PRICE as u32,
        )?;
        Ok(())
    }

    fn register(&mut self) -> Result<()> {
        let user = self
            .api
            .register(&self.email, &self.password, "Ada Lovelace")?;
        ensure!(
            user["email"] == self.email.as_str(),
            "register answered {user}"
        );
        self.wait_mail(|m| {
            m.text
                .as_deref()
                .is_some_and(|t| t.contains("Ada Lovelace"))
        })?;
        Ok(())
    }

    fn login(&mut self) -> Result<()> {
        let session = self.api.login(&self.email, &self.password)?;
        let me = self
            .api
            .get(&self.api.bases.user, "/api/v1/users/me")
            .token(&session.access)
            .send()?
            .expect(200, "GET /users/me")?;
        ensure!(me.body["email"] == self.email.as_str());
        self.session = Some(session);
        Ok(())
    }

    fn browse(&mut self) -> Result<()> {
        let catalog = &self.api.bases.catalog;
        self.api
            .get(catalog, "/api/v1/categories")
            .send()?
            .expect(200, "categories")?;
        let search = self
            .api
            .get(
                catalog,
                &format!("/api/v1/products?q=orrery+{}", self.run_id),
            )
            .send()?
            .expect(200, "search")?;
        let found: Vec<&str> = search.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["id"].as_str())
            .collect();
        ensure!(
            self.products.iter().all(|id| found.contains(&id.as_str())),
            "search for the new products found {found:?}"
        );
        // A typo still finds them.
        let typo = self
            .api
            .get(catalog, "/api/v1/products?q=orery")
            .send()?
            .expect(200, "typo search")?;
        ensure!(
            typo.body["items"].as_array().is_some_and(|i| !i.is_empty()),
            "a typo found nothing: {}",
            typo.body
        );
        let detail = self
            .api
            .get(catalog, &format!("/api/v1/products/{}", self.products[0]))
            .send()?
            .expect(200, "product detail")?;
        let etag = detail.etag.context("product detail has an ETag")?;
        self.api
            .get(catalog, &format!("/api/v1/products/{}", self.products[0]))
            .header("if-none-match", &etag)
            .send()?
            .expect(304, "conditional product detail")?;
        Ok(())
    }

    fn cart(&mut self) -> Result<()> {
        let token = self.token()?.to_owned();
        self.api.add_to_cart(&token, &self.products[0], 2)?;
        self.api.add_to_cart(&token, &self.products[1], 1)?;
        let cart = self
            .api
            .get(&self.api.bases.order, "/api/v1/cart")
            .token(&token)
            .send()?
            .expect(200, "GET cart")?;
        ensure!(
            cart.body["subtotal_cents"] == 3 * PRICE,
            "cart subtotal: {}",
            cart.body
        );
        ensure!(cart.body["items"].as_array().is_some_and(|i| i.len() == 2));
        self.api
            .put(&self.api.bases.order, "/api/v1/cart/discount")
            .token(&token)
            .json(json!({"code": self.code.to_lowercase()}))
            .send()?
            .expect(200, "apply the discount code")?;
        let quote = self
            .api
            .get(
                &self.api.bases.order,
                &format!(
                    "/api/v1/cart?country={COUNTRY}&shipping_method_id={}",
                    self.shipping_method
                ),
            )
            .token(&token)
            .send()?
            .expect(200, "GET cart quote")?;
        let breakdown = |v: &Value| {
            [
                "subtotal_cents",
                "discount_cents",
                "shipping_cents",
                "tax_cents",
                "total_cents",
            ]
            .map(|k| v[k].as_i64())
        };
        ensure!(
            breakdown(&quote.body) == [SUBTOTAL, DISCOUNT, SHIPPING_CENTS, TAX, TOTAL].map(Some),
            "quote: {}",
            quote.body
        );
        Ok(())
    }

    /// The admin configures a shipping method and a tax rate for
    /// [`COUNTRY`] and a once-per-customer discount code.
    fn pricing(&mut self) -> Result<()> {
        let admin = self.stack.admin_token();
        let method = self
            .api
            .post(&self.api.bases.order, "/api/v1/admin/shipping-methods")
            .token(admin)
            .json(json!({"name": format!("E2E courier {}", self.run_id),
                         "price_cents": SHIPPING_CENTS, "currency": "EUR",
                         "min_days": 1, "max_days": 3, "countries": [COUNTRY]}))
            .send()?
            .expect(201, "create a shipping method")?;
        self.shipping_method = method.body["id"]
            .as_str()
            .context("the shipping method has an id")?
            .to_owned();
        self.api
            .put(
                &self.api.bases.order,
                &format!("/api/v1/admin/tax-rates/{COUNTRY}"),
            )
            .token(admin)
            .json(json!({"rate_bps": TAX_BPS}))
            .send()?
            .expect(200, "set a tax rate")?;
        self.api
            .post(&self.api.bases.order, "/api/v1/admin/discount-codes")
            .token(admin)
            .json(
                json!({"code": self.code, "kind": "percent", "value": DISCOUNT_PERCENT,
                         "once_per_customer": true, "active": true}),
            )
            .send()?
            .expect(201, "create a discount code")?;
        let listed = self
            .api
            .get(
                &self.api.bases.order,
                &format!("/api/v1/shipping-methods?country={COUNTRY}"),
            )
            .send()?
            .expect(200, "list shipping methods")?;
        ensure!(
            listed.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m["id"] == self.shipping_method.as_str()),
            "the method is listed for {COUNTRY}: {}",
            listed.body
        );
        Ok(())
    }

    fn request_id(&self) -> String {
        format!("e2e-checkout-{}", self.run_id)
    }

    fn checkout(&mut self) -> Result<()> {
        let token = self.token()?.to_owned();
        let key = format!("e2e-{}", self.run_id);
        let body = self.checkout_body();
        let first = self
            .api
            .post(&self.api.bases.order, "/api/v1/checkout")
            .token(&token)
            .header("idempotency-key", &key)
            .header("x-request-id", &self.request_id())
            .json(body.clone())
            .send()?
            .expect(201, "checkout")?;
        ensure!(first.request_id.as_deref() == Some(self.request_id().as_str()));
        ensure!(first.body["status"] == "confirmed", "order: {}", first.body);
        ensure!(
            first.body["total_cents"] == TOTAL
                && first.body["discount"]["code"] == self.code.as_str()
                && first.body["shipping_method"]["id"] == self.shipping_method.as_str(),
            "order: {}",
            first.body
        );
        let replay = self
            .api
            .post(&self.api.bases.order, "/api/v1/checkout")
            .token(&token)
            .header("idempotency-key", &key)
            .json(body)
            .send()?
            .expect(201, "checkout replay")?;
        ensure!(replay.body == first.body, "the replay differs");
        self.order = first.body;
        self.expect_available(&self.products[0].clone(), STOCK - 2)
    }

    /// Checks out to [`COUNTRY`] with the journey's method.
    fn checkout_body(&self) -> Value {
        let mut body = crate::infra::shop::checkout_body("tok_visa");
        body["shipping_address"]["country"] = json!(COUNTRY);
        body["shipping_method_id"] = json!(self.shipping_method);
        body
    }

    fn expect_available(&self, product: &str, expected: i64) -> Result<()> {
        let detail = self
            .api
            .get(
                &self.api.bases.catalog,
                &format!("/api/v1/products/{product}"),
            )
            .send()?
            .expect(200, "product detail")?;
        ensure!(
            detail.body["available"] == expected,
            "available is {} instead of {expected}",
            detail.body["available"]
        );
        Ok(())
    }

    fn order_id(&self) -> Result<String> {
        self.order["id"]
            .as_str()
            .map(str::to_owned)
            .context("the order has an id")
    }

    fn history(&mut self) -> Result<()> {
        let token = self.token()?.to_owned();
        let order_id = self.order_id()?;
        let list = self
            .api
            .get(&self.api.bases.order, "/api/v1/orders")
            .token(&token)
            .send()?
            .expect(200, "order history")?;
        ensure!(
            list.body["items"][0]["id"] == order_id.as_str(),
            "newest order first: {}",
            list.body
        );
        self.api
            .get(&self.api.bases.order, &format!("/api/v1/orders/{order_id}"))
            .token(&token)
            .send()?
            .expect(200, "order detail")?;
        let confirmed = self
            .api
            .get(&self.api.bases.order, "/api/v1/orders?status=cancelled")
            .token(&token)
            .send()?
            .expect(200, "filtered history")?;
        ensure!(
            confirmed.body["items"]
                .as_array()
                .is_some_and(Vec::is_empty)
        );
        Ok(())
    }

    /// Waits until the user's history shows `template` sent.
    fn wait_notification(&self, template: &str) -> Result<Value> {
        let deadline = Instant::now() + MAIL_WAIT;
        loop {
            let list = self
                .api
                .get(&self.api.bases.notification, "/api/v1/notifications")
                .token(self.token()?)
                .send()?
                .expect(200, "notification history")?;
            if let Some(item) = list.body["items"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["template"] == template && n["status"] == "sent")
            {
                return Ok(item.clone());
            }
            if Instant::now() > deadline {
                bail!("no sent `{template}` notification: {}", list.body);
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn mails_mentioning(&self, needle: &str) -> Result<Vec<Mail>> {
        self.wait_mail(|m| m.text.as_deref().is_some_and(|t| t.contains(needle)))
    }

    fn confirmation(&mut self) -> Result<()> {
        self.wait_notification("order_confirmed")?;
        let total = format!("{}.{:02}", TOTAL / 100, TOTAL % 100);
        let mails = self.mails_mentioning(&total)?;
        ensure!(mails.len() == 1, "{} confirmation mails", mails.len());
        let order_id = self.order_id()?;
        ensure!(
            mails[0].subject == format!("Your order {order_id} is confirmed"),
            "the confirmation's subject names the order: {:?}",
            mails[0].subject
        );
        let text = mails[0].text.as_deref().unwrap_or_default();
        ensure!(
            text.contains(&self.code),
            "the confirmation names the discount code: {text}"
        );
        ensure!(mails[0].html.is_some(), "the confirmation has an HTML part");
        Ok(())
    }

    fn cancel(&mut self) -> Result<()> {
        let token = self.token()?.to_owned();
        let order_id = self.order_id()?;
        let cancelled = self
            .api
            .post(
                &self.api.bases.order,
                &format!("/api/v1/orders/{order_id}/cancel"),
            )
            .token(&token)
            .header("idempotency-key", &format!("cancel-{}", self.run_id))
            .send()?
            .expect(200, "cancel")?;
        ensure!(cancelled.body["status"] == "cancelled");
        ensure!(
            cancelled.body["payment"]["status"] == "refunded",
            "payment after cancel: {}",
            cancelled.body["payment"]
        );
        self.expect_available(&self.products[0].clone(), STOCK)?;
        self.expect_available(&self.products[1].clone(), STOCK)?;
        self.wait_notification("order_cancelled")?;
        Ok(())
    }

    fn password_reset(&mut self) -> Result<()> {
        self.api
            .post(&self.api.bases.user, "/api/v1/auth/password-reset")
            .json(json!({"email": self.email}))
            .send()?
            .expect(202, "password reset request")?;
        let mails = self.wait_mail(|m| m.subject.to_lowercase().contains("password"))?;
        let text = mails[0].text.clone().unwrap_or_default();
        let token = reset_token(&text).context("a reset token in the mail")?;
        let new_password = "a brand new passphrase 42";
        self.api
            .post(&self.api.bases.user, "/api/v1/auth/password-reset/confirm")
            .json(json!({"token": token, "new_password": new_password}))
            .send()?
            .expect(204, "password reset confirm")?;
        let old = self
            .api
            .post(&self.api.bases.user, "/api/v1/auth/login")
            .json(json!({"email": self.email, "password": self.password}))
            .send()?;
        ensure!(
            old.status == 401,
            "the old password answered {}",
            old.status
        );
        self.password = new_password.into();
        self.session = Some(self.api.login(&self.email, &self.password)?);
        Ok(())
    }

    fn refresh(&self, refresh_token: &str) -> Result<crate::infra::shop::Reply> {
        self.api
            .post(&self.api.bases.user, "/api/v1/auth/refresh")
            .json(json!({"refresh_token": refresh_token}))
            .send()
    }

    fn refresh_rotation(&mut self) -> Result<()> {
        let first = self.session.clone().context("logged in")?;
        let rotated = self.refresh(&first.refresh)?.expect(200, "refresh")?;
        let second = rotated.str("refresh_token")?;
        let reuse = self.refresh(&first.refresh)?;
        ensure!(
            reuse.status == 401,
            "reusing a rotated token: {}",
            reuse.status
        );
        let family = self.refresh(&second)?;
        ensure!(
            family.status == 401,
            "the family survived reuse: {}",
            family.status
        );
        self.session = Some(self.api.login(&self.email, &self.password)?);
        Ok(())
    }

    fn logout(&mut self) -> Result<()> {
        let session = self.session.clone().context("logged in")?;
        self.api
            .post(&self.api.bases.user, "/api/v1/auth/logout")
            .token(&session.access)
            .json(json!({"refresh_token": session.refresh}))
            .send()?
            .expect(204, "logout")?;
        let after = self.refresh(&session.refresh)?;
        ensure!(
            after.status == 401,
            "refresh after logout: {}",
            after.status
        );
        Ok(())
    }

    fn request_id_in_logs(&mut self) -> Result<()> {
        let id = self.request_id();
        for service in ["order", "catalog", "notification"] {
            let lines = self.stack.log_lines(service, &id)?;
            ensure!(
                !lines.is_empty(),
                "no {service}-service log line carries request id {id}"
            );
        }
        Ok(())
    }
}

impl Journey<'_> {
    /// What the fleet's databases still hold about `user_id`: notification
    /// preferences, devices, notifications with event data, deliveries with
    /// an address or a body, cart lines, orders with an address, and
    /// user-service's notification events about the account.
    fn personal_rows(&self, user_id: &str) -> Result<Vec<(&'static str, i64)>> {
        let url = PgUrl::parse(&self.stack.superuser_url()?)?.with_database("shop");
        let bin = PgBin::locate()?;
        let checks = [
            (
                "notification preferences",
                format!(
                    "select count(*) from notifications.preferences where user_id = '{user_id}'"
                ),
            ),
            (
                "push subscriptions",
                format!(
                    "select count(*) from notifications.push_subscriptions where user_id = '{user_id}'"
                ),
            ),
            (
                "notification event data",
                format!(
                    "select count(*) from notifications.notifications
                     where user_id = '{user_id}' and data <> '{{}}'::jsonb"
                ),
            ),
            (
                "delivery addresses and bodies",
                format!(
                    "select count(*) from notifications.deliveries where user_id = '{user_id}'
                     and (target not like 'erased-%' or subject <> '' or body_text <> ''
                          or coalesce(body_html, '') <> '')"
                ),
            ),
            (
                "cart lines",
                format!("select count(*) from orders.cart_items where user_id = '{user_id}'"),
            ),
            (
                "order addresses",
                format!(
                    "select count(*) from orders.orders where user_id = '{user_id}'
                     and (shipping_address->>'name' <> '' or shipping_address->>'line1' <> '')"
                ),
            ),
            (
                "user-service notification events",
                format!(
                    "select count(*) from users.outbox where path = '/internal/v1/notifications'
                     and (payload->>'user_id' = '{user_id}' or payload->'to'->>'email' = '{}')",
                    self.email
                ),
            ),
        ];
        checks
            .into_iter()
            .map(|(what, sql)| {
                let out = pg::query(&bin, &url, &sql)?;
                let count = out
                    .trim()
                    .parse()
                    .with_context(|| format!("counting {what}: {out:?}"))?;
                Ok((what, count))
            })
            .collect()
    }

    /// `DELETE /users/me`: user-service forgets the account, and its
    /// `user_deleted` event makes order- and notification-service erase
    /// theirs (the order stays, without its address).
    fn erasure(&mut self) -> Result<()> {
        let session = self.api.login(&self.email, &self.password)?;
        let me = self
            .api
            .get(&self.api.bases.user, "/api/v1/users/me")
            .token(&session.access)
            .send()?
            .expect(200, "GET /users/me")?;
        let user_id = me.str("id")?;
        // It goes into SQL below: a UUID and nothing else.
        ensure!(
            user_id.len() == 36 && user_id.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
            "user id {user_id:?}"
        );
        // Something of theirs in each service first.
        self.api
            .put(
                &self.api.bases.notification,
                "/api/v1/notification-preferences",
            )
            .token(&session.access)
            .json(json!({"email": true, "sms": false, "push": true, "marketing": false}))
            .send()?
            .expect(200, "notification preferences")?;
        self.api
            .post(&self.api.bases.notification, "/api/v1/push-subscriptions")
            .token(&session.access)
            .json(json!({"platform": "web", "token": format!("e2e-device-{}", self.run_id)}))
            .send()?
            .expect(201, "push subscription")?;
        self.api
            .add_to_cart(&session.access, &self.products[0], 1)?;
        let before = self.personal_rows(&user_id)?;
        for what in [
            "notification preferences",
            "push subscriptions",
            "cart lines",
            "order addresses",
        ] {
            ensure!(
                before.iter().any(|(w, n)| *w == what && *n > 0),
                "nothing to erase in {what} before the deletion: {before:?}"
            );
        }

        self.api
            .delete(&self.api.bases.user, "/api/v1/users/me")
            .token(&session.access)
            .send()?
            .expect(204, "DELETE /users/me")?;
        self.api
            .get(&self.api.bases.user, "/api/v1/users/me")
            .token(&session.access)
            .send()?
            .expect(404, "GET /users/me after the deletion")?;

        let deadline = Instant::now() + MAIL_WAIT;
        loop {
            let left = self.personal_rows(&user_id)?;
            if left.iter().all(|(_, n)| *n == 0) {
                break;
            }
            if Instant::now() > deadline {
                bail!("personal data left after the deletion: {left:?}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        // The order is kept for the accounts, without the address.
        let orders = self
            .api
            .get(
                &self.api.bases.order,
                &format!("/api/v1/admin/orders?user_id={user_id}"),
            )
            .token(self.stack.admin_token())
            .send()?
            .expect(200, "admin order list")?;
        let order_id = self.order_id()?;
        let order = orders.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|o| o["id"] == order_id.as_str())
            .with_context(|| format!("the order is kept: {}", orders.body))?;
        ensure!(
            order["shipping_address"]["name"] == "" && order["shipping_address"]["line1"] == "",
            "the order still has an address: {}",
            order["shipping_address"]
        );
        ensure!(order["total_cents"] == self.order["total_cents"]);
        Ok(())
    }
}

/// The reset token in a mail: the value of a `token=` parameter, or the
/// longest URL-safe word of 32+ characters.
/// A discount code's suffix from the run id (letters and digits only).
fn run_id_code(run_id: &str) -> String {
    run_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect::<String>()
        .to_uppercase()
}

fn reset_token(text: &str) -> Option<String> {
    if let Some(start) = text.find("token=") {
        let rest = &text[start + "token=".len()..];
        let token: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        if !token.is_empty() {
            return Some(token);
        }
    }
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .filter(|word| word.len() >= 32)
        .max_by_key(|word| word.len())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::reset_token;

    #[test]
    fn finds_the_reset_token() {
        assert_eq!(
            reset_token("Open https://shop.example/reset?token=abc_DEF-123 now").as_deref(),
            Some("abc_DEF-123")
        );
        let bare = "Your code:\n\n  Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MA\n";
        assert_eq!(
            reset_token(bare).as_deref(),
            Some("Zm9vYmFyYmF6cXV4cXV1eHh5enp5MTIzNDU2Nzg5MA")
        );
        assert_eq!(reset_token("nothing here"), None);
    }
}
