//! `cargo xtask chaos`: a stream of checkouts while notification-service,
//! then catalog-service are killed (SIGKILL) and restarted, then Postgres
//! crashes and restarts under the running services. Afterwards, once the
//! fleet has settled, the invariants are checked in the databases:
//!
//! - no oversold stock: for every product, units sold = units in confirmed
//!   orders, nothing reserved is left behind, no counter went negative;
//! - no order confirmed without a charge, no charge without a confirmed order
//!   (a charge for an order that did not confirm must be refunded);
//! - every confirmed order's notification delivered exactly once;
//! - every service ready again with no restart after the Postgres crash.
//!
//! Clients behave like a careful frontend: on a 503 or a broken connection
//! they retry the same checkout with the same `Idempotency-Key`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::cmd::stack::{Stack, StackOptions};
use crate::infra::pg::{self, PgBin, PgUrl};
use crate::infra::shop::{Api, Session, create_products, uuid_like};
use crate::infra::workspace;

/// Options of `cargo xtask chaos` (its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct ChaosOptions {
    /// Concurrent customers.
    #[arg(long, default_value_t = 8)]
    pub clients: usize,
    /// Build the release binaries first.
    #[arg(
        long = "no-build",
        action = clap::ArgAction::SetFalse,
        help = "Run the binaries already in target/release"
    )]
    pub build: bool,
}

/// Products and their stock: enough that the run sells some out.
const PRODUCTS: usize = 4;
const STOCK: u32 = 700;

#[derive(Default)]
struct Tally {
    confirmed: AtomicUsize,
    out_of_stock: AtomicUsize,
    retried: AtomicUsize,
    gave_up: AtomicUsize,
    other: AtomicUsize,
}

/// Runs the scenario and checks the invariants.
pub fn run(opts: &ChaosOptions) -> Result<()> {
    let root = workspace::root();
    let mut stack = Stack::start(
        &root,
        StackOptions {
            release: true,
            build: opts.build,
            name: "chaos".into(),
            smtp: true,
            gateway: false,
            env: [
                // Customers stream checkouts from 127.0.0.1 for minutes.
                crate::cmd::stack::unlimited_env(),
                vec![
                    // Resolve stuck sagas quickly so the run settles in seconds.
                    ("APP__CHECKOUT__RECONCILER_INTERVAL_SECS".into(), "2".into()),
                    (
                        "APP__CHECKOUT__RECONCILER_STALE_AFTER_SECS".into(),
                        "20".into(),
                    ),
                    // A killed worker's claimed deliveries are taken over sooner.
                    ("APP__DELIVERY__CLAIM_LEASE_SECS".into(), "15".into()),
                ],
            ]
            .concat(),
        },
    )?;
    let result = scenario(&mut stack, opts);
    if result.is_err() {
        eprintln!("chaos: service logs are in {}", stack.logs.display());
    }
    let stopped = stack.stop();
    result?;
    stopped
}

fn scenario(stack: &mut Stack, opts: &ChaosOptions) -> Result<()> {
    let products = Arc::new(create_products(
        &stack.api,
        &stack.admin_token,
        &format!("Chaos {}", uuid_like()),
        PRODUCTS,
        STOCK,
        1250,
    )?);
    let mut sessions = Vec::new();
    for i in 0..opts.clients {
        let email = format!("chaos-{i}-{}@example.com", uuid_like());
        sessions.push(stack.api.new_customer(&email, "chaos password 1234")?);
    }
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let bases = stack.api.bases.clone();
    let workers: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, session)| {
            let (tally, stop, products) = (tally.clone(), stop.clone(), products.clone());
            let api = Api::new(bases.clone(), Duration::from_secs(15));
            std::thread::spawn(move || shopper(&api, &session, &products, i, &tally, &stop))
        })
        .collect();

    let began = Instant::now();
    let at = |secs: u64| {
        let target = Duration::from_secs(secs);
        if let Some(wait) = target.checked_sub(began.elapsed()) {
            std::thread::sleep(wait);
        }
    };
    at(5);
    println!(
        "chaos: t={:>4.1}s kill notification-service",
        began.elapsed().as_secs_f64()
    );
    stack.fleet.kill("notification-service")?;
    at(10);
    println!(
        "chaos: t={:>4.1}s restart notification-service",
        began.elapsed().as_secs_f64()
    );
    stack.fleet.restart("notification-service")?;
    at(15);
    println!(
        "chaos: t={:>4.1}s kill catalog-service",
        began.elapsed().as_secs_f64()
    );
    stack.fleet.kill("catalog-service")?;
    at(20);
    println!(
        "chaos: t={:>4.1}s restart catalog-service",
        began.elapsed().as_secs_f64()
    );
    stack.fleet.restart("catalog-service")?;
    at(26);
    println!(
        "chaos: t={:>4.1}s crash and restart Postgres",
        began.elapsed().as_secs_f64()
    );
    stack.fleet.crash_restart_postgres()?;
    at(36);
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker
            .join()
            .map_err(|_| anyhow::anyhow!("a shopper thread panicked"))?;
    }
    println!(
        "chaos: stream done after {:.0} s: {} confirmed, {} out of stock, {} retried after 503/transport errors, {} given up, {} other answers",
        began.elapsed().as_secs_f64(),
        tally.confirmed.load(Ordering::Relaxed),
        tally.out_of_stock.load(Ordering::Relaxed),
        tally.retried.load(Ordering::Relaxed),
        tally.gave_up.load(Ordering::Relaxed),
        tally.other.load(Ordering::Relaxed),
    );
    if tally.confirmed.load(Ordering::Relaxed) == 0 {
        bail!("no checkout confirmed during the run");
    }

    // Every service must come back by itself after the Postgres crash.
    wait_ready(stack, Duration::from_secs(60))?;
    println!("chaos: ok   every service ready again without a restart");
    let shop = PgUrl::parse(stack.fleet.superuser_url())?.with_database("shop");
    let bin = PgBin::locate()?;
    settle(&bin, &shop, Duration::from_secs(120))?;
    check_invariants(&bin, &shop, &products, stack)
}

/// One customer: cart, checkout, and the same key again while the answer is
/// 503 or the connection breaks.
fn shopper(
    api: &Api,
    session: &Session,
    products: &[String],
    worker: usize,
    tally: &Tally,
    stop: &AtomicBool,
) {
    let mut round = worker;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let product = &products[round % products.len()];
        let added = api
            .post(&api.bases.order, "/api/v1/cart/items")
            .token(&session.access)
            .json(json!({"product_id": product, "quantity": 1}))
            .send();
        if !matches!(added, Ok(ref r) if r.status == 200) {
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        let key = format!("chaos-{}", uuid_like());
        let mut attempts = 0;
        loop {
            attempts += 1;
            match api.checkout(&session.access, &key, "tok_visa", None) {
                Ok(reply) if reply.status == 201 => {
                    tally.confirmed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Ok(reply) if reply.status == 409 && reply.body["short_items"].is_array() => {
                    tally.out_of_stock.fetch_add(1, Ordering::Relaxed);
                    // Sold out: empty the cart and go on.
                    let _ = api
                        .delete(&api.bases.order, "/api/v1/cart")
                        .token(&session.access)
                        .send();
                    break;
                }
                Ok(reply) if reply.status == 503 || reply.status == 409 => {}
                Ok(_) => {
                    tally.other.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(_) => {}
            }
            if attempts >= 60 {
                tally.gave_up.fetch_add(1, Ordering::Relaxed);
                break;
            }
            tally.retried.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

fn wait_ready(stack: &mut Stack, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let names: Vec<String> = stack.fleet.services().map(|s| s.package.clone()).collect();
    for name in names {
        let base = stack.fleet.base_url(&name)?;
        loop {
            let ready = stack.api.get(&base, "/ready").send().map(|r| r.status);
            if matches!(ready, Ok(200)) {
                break;
            }
            if !stack.fleet.is_running(&name)? {
                bail!("{name} exited after the Postgres restart");
            }
            if Instant::now() > deadline {
                bail!("{name} is not ready {timeout:?} after the Postgres restart: {ready:?}");
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }
    Ok(())
}

fn number(bin: &PgBin, url: &str, sql: &str) -> Result<i64> {
    let out = pg::query(bin, url, sql)?;
    out.trim()
        .parse()
        .with_context(|| format!("`{sql}` answered {out:?}"))
}

/// Waits until no saga is pending, no reservation is held, every outbox is
/// delivered and no notification is waiting to be sent.
fn settle(bin: &PgBin, url: &str, timeout: Duration) -> Result<()> {
    let began = Instant::now();
    let deadline = began + timeout;
    let open_work = [
        (
            "pending orders",
            "select count(*) from orders.orders where status = 'pending'",
        ),
        (
            "held reservations",
            "select count(*) from catalog.reservations where status = 'active'",
        ),
        (
            "undelivered order events",
            "select count(*) from orders.outbox where delivered_at is null and failed_at is null",
        ),
        (
            "queued notifications",
            "select count(*) from notifications.deliveries where status = 'pending'",
        ),
    ];
    loop {
        let mut waiting = Vec::new();
        for (label, sql) in open_work {
            let n = number(bin, url, sql)?;
            if n > 0 {
                waiting.push(format!("{n} {label}"));
            }
        }
        if waiting.is_empty() {
            println!(
                "chaos: ok   settled {:.1} s after the stream (no pending saga, reservation, event or delivery)",
                began.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "the fleet did not settle within {timeout:?}: {}",
                waiting.join(", ")
            );
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn check_invariants(bin: &PgBin, url: &str, products: &[String], stack: &Stack) -> Result<()> {
    let ids = products
        .iter()
        .map(|id| format!("'{id}'"))
        .collect::<Vec<_>>()
        .join(",");
    let checks: Vec<(&str, String)> = vec![
        (
            "no oversold stock: sold = units in confirmed orders, per product",
            format!(
                "select count(*) from catalog.products p
                 where p.product_id in ({ids})
                   and {STOCK} - p.on_hand <> coalesce((
                       select sum(i.quantity) from orders.order_items i
                       join orders.orders o on o.order_id = i.order_id
                       where i.product_id = p.product_id
                         and o.status in ('confirmed', 'shipped', 'delivered')), 0)"
            ),
        ),
        (
            "no stock counter negative or reserved left behind",
            format!(
                "select count(*) from catalog.products
                 where product_id in ({ids}) and (on_hand < 0 or reserved <> 0)"
            ),
        ),
        (
            "no order confirmed without a charge",
            "select count(*) from orders.orders o
             where o.status = 'confirmed' and not exists (
                 select 1 from orders.fake_payments f
                 where f.order_id = o.order_id and f.status = 'succeeded'
                   and f.amount_cents = o.total_cents and f.refunded_cents = 0)"
                .into(),
        ),
        (
            "no charge without a confirmed order (others refunded)",
            "select count(*) from orders.fake_payments f
             left join orders.orders o on o.order_id = f.order_id
             where f.status = 'succeeded' and f.refunded_cents < f.amount_cents
               and o.status is distinct from 'confirmed'"
                .into(),
        ),
        (
            "every confirmed order notified exactly once",
            "select count(*) from orders.orders o
             where o.status = 'confirmed' and 1 <> (
                 select count(*) from notifications.notifications n
                 where n.template = 'order_confirmed' and n.data->>'order_id' = o.order_id::text)"
                .into(),
        ),
        (
            "every confirmed order's mail sent",
            "select count(*) from notifications.notifications n
             join notifications.deliveries d on d.notification_id = n.notification_id
             where n.template = 'order_confirmed' and d.channel = 'email' and d.status <> 'sent'"
                .into(),
        ),
    ];
    let mut failed = Vec::new();
    for (label, sql) in &checks {
        let violations = number(bin, url, sql)?;
        if violations == 0 {
            println!("chaos: ok   {label}");
        } else {
            println!("chaos: FAIL {label}: {violations} violation(s)");
            failed.push(*label);
        }
    }
    // The SMTP server's side: each confirmed order mailed under exactly one
    // Message-ID (one delivery). A message the server accepted just before
    // a process was killed, and so before `sent` was recorded, is sent again
    // with the same Message-ID: a receiver drops it as a duplicate. Those are
    // counted and shown, not hidden.
    let confirmed: std::collections::BTreeSet<String> = pg::query(
        bin,
        url,
        "select order_id from orders.orders where status = 'confirmed'",
    )?
    .lines()
    .map(str::to_owned)
    .collect();
    let smtp = stack.smtp.as_ref().context("the chaos stack has SMTP")?;
    let mut ids_by_order: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
        std::collections::BTreeMap::new();
    let mut received = 0;
    for mail in smtp.messages()? {
        if let Some(order) = mail
            .subject
            .strip_prefix("Your order ")
            .and_then(|rest| rest.strip_suffix(" is confirmed"))
        {
            received += 1;
            ids_by_order
                .entry(order.to_owned())
                .or_default()
                .insert(mail.message_id.clone());
        }
    }
    let unmailed = confirmed
        .iter()
        .filter(|order| !ids_by_order.contains_key(*order))
        .count();
    let twice = ids_by_order.values().filter(|ids| ids.len() > 1).count();
    let strangers = ids_by_order
        .keys()
        .filter(|order| !confirmed.contains(*order))
        .count();
    let distinct: usize = ids_by_order.values().map(|ids| ids.len()).sum();
    if unmailed == 0 && twice == 0 && strangers == 0 {
        println!(
            "chaos: ok   the SMTP server holds one message per confirmed order ({} orders, {} messages; {} redelivered with the same Message-ID)",
            confirmed.len(),
            distinct,
            received - distinct
        );
    } else {
        println!(
            "chaos: FAIL mails: {unmailed} confirmed order(s) never mailed, {twice} mailed as two different messages, {strangers} mail(s) for orders not confirmed"
        );
        failed.push("one mail per confirmed order");
    }
    if !failed.is_empty() {
        bail!(
            "chaos: {} invariant(s) violated: {}",
            failed.len(),
            failed.join("; ")
        );
    }
    println!("chaos: all invariants hold");
    Ok(())
}
