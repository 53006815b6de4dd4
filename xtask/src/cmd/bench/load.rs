//! `cargo xtask bench checkout` and `cargo xtask bench fleet`: one customer
//! per client thread, each with its own session, against the whole fleet.
//! Figures are per endpoint (successful requests only; errors are counted
//! apart) and go into the shared report ([`crate::cmd::bench::run`]); the fleet
//! benchmark also draws `target/xtask/bench/fleet-latency.png`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::builder::TypedValueParser as _;
use serde_json::{Value, json};

use crate::cmd::bench::{Bench, BenchFleet, Plan, Report};
use crate::infra::shop::{Api, Bases, Session, create_products, uuid_like};
use crate::infra::{pytools, workspace};

/// Options of both benchmarks (their command line).
#[derive(Debug, Clone, clap::Args)]
pub struct LoadOptions {
    /// Concurrent customers.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pub concurrency: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
    /// Unmeasured seconds first.
    #[arg(skip = 3_u64)]
    pub warmup: u64,
}

pub use crate::cmd::bench::Figures as EndpointFigures;

/// What one client thread recorded: per endpoint, latencies and errors.
#[derive(Default)]
struct Record {
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    errors: BTreeMap<&'static str, usize>,
    error_samples: Vec<String>,
}

impl Record {
    fn add(&mut self, endpoint: &'static str, elapsed: Duration, ok: bool, detail: &str) {
        if ok {
            self.latencies.entry(endpoint).or_default().push(elapsed);
        } else {
            *self.errors.entry(endpoint).or_default() += 1;
            if self.error_samples.len() < 5 {
                self.error_samples.push(format!("{endpoint}: {detail}"));
            }
        }
    }

    fn merge(&mut self, other: Record) {
        for (k, mut v) in other.latencies {
            self.latencies.entry(k).or_default().append(&mut v);
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.error_samples.extend(other.error_samples);
    }
}

/// A client: its own API handle, customer and random numbers.
struct Client {
    api: Api,
    session: Session,
    email: String,
    products: Arc<Vec<String>>,
    rng: u64,
    recording: Arc<AtomicBool>,
    record: Record,
}

impl Client {
    fn next(&mut self) -> u64 {
        // xorshift64*: enough to pick actions and products.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn product(&mut self) -> String {
        let i = (self.next() % self.products.len() as u64) as usize;
        self.products[i].clone()
    }

    /// Times `call`, recording it when the measured window is open.
    fn timed(
        &mut self,
        endpoint: &'static str,
        expected: u16,
        call: impl FnOnce(&Api, &Session) -> Result<crate::infra::shop::Reply>,
    ) -> Option<crate::infra::shop::Reply> {
        let started = Instant::now();
        let outcome = call(&self.api, &self.session);
        let elapsed = started.elapsed();
        let recording = self.recording.load(Ordering::Relaxed);
        match outcome {
            Ok(reply) if reply.status == expected => {
                if recording {
                    self.record.add(endpoint, elapsed, true, "");
                }
                Some(reply)
            }
            Ok(reply) => {
                if recording {
                    let detail = format!("{} {}", reply.status, reply.body);
                    self.record.add(endpoint, elapsed, false, &detail);
                }
                None
            }
            Err(err) => {
                if recording {
                    self.record
                        .add(endpoint, elapsed, false, &format!("{err:#}"));
                }
                None
            }
        }
    }

    fn add_to_cart(&mut self) {
        let product = self.product();
        self.timed("POST /cart/items", 200, |api, s| {
            api.post(&api.bases.order, "/api/v1/cart/items")
                .token(&s.access)
                .json(json!({"product_id": product, "quantity": 1}))
                .send()
        });
    }

    fn checkout(&mut self) {
        let key = uuid_like();
        self.timed("POST /checkout", 201, |api, s| {
            api.checkout(&s.access, &key, "tok_visa", None)
        });
    }
}

/// Every bench customer's password.
const PASSWORD: &str = "bench password 1234";

/// A customer's e-mail and session.
type Customer = (String, Session);

/// Creates products and one customer per client on a ready fleet.
fn prepare(
    fleet: &BenchFleet,
    opts: &LoadOptions,
    products: usize,
) -> Result<(Arc<Vec<String>>, Vec<Customer>)> {
    let api = Api::new(fleet.bases()?, Duration::from_secs(30));
    let ids = create_products(
        &api,
        fleet.admin_token(),
        &format!("Bench {}", uuid_like()),
        products,
        1_000_000,
        1999,
    )?;
    let mut sessions = Vec::with_capacity(opts.concurrency);
    for i in 0..opts.concurrency {
        let email = format!("bench-{i}-{}@example.com", uuid_like());
        let session = api.new_customer(&email, PASSWORD)?;
        sessions.push((email, session));
    }
    Ok((Arc::new(ids), sessions))
}

/// Runs `body` on one thread per session for warm-up + window; returns the
/// merged record and the measured window.
fn drive(
    opts: &LoadOptions,
    bases: &Bases,
    products: &Arc<Vec<String>>,
    sessions: Vec<Customer>,
    body: fn(&mut Client),
) -> Result<(Record, Duration)> {
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = sessions
        .into_iter()
        .enumerate()
        .map(|(i, (email, session))| {
            let mut client = Client {
                api: Api::new(bases.clone(), Duration::from_secs(30)),
                session,
                email,
                products: Arc::clone(products),
                rng: 0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9),
                recording: Arc::clone(&recording),
                record: Record::default(),
            };
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    body(&mut client);
                }
                client.record
            })
        })
        .collect();
    let window = crate::cmd::bench::record_window(
        Duration::from_secs(opts.warmup),
        Duration::from_secs(opts.seconds),
        &recording,
        &stop,
    );
    let mut merged = Record::default();
    for thread in threads {
        merged.merge(
            thread
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?,
        );
    }
    Ok((merged, window))
}

fn summarize(record: &mut Record, window: Duration) -> Vec<EndpointFigures> {
    let mut names: Vec<&'static str> = record.latencies.keys().copied().collect();
    for name in record.errors.keys() {
        if !names.contains(name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let latencies = record.latencies.remove(name).unwrap_or_default();
            let errors = record.errors.get(name).copied().unwrap_or(0);
            EndpointFigures::from_latencies(name, latencies, errors, window)
        })
        .collect()
}

/// Prepares the customers, drives `body` for warm-up + window, prints and
/// returns the figures per endpoint.
fn measure(
    fleet: &BenchFleet,
    opts: &LoadOptions,
    products: usize,
    body: fn(&mut Client),
) -> Result<Vec<EndpointFigures>> {
    let (products, sessions) = prepare(fleet, opts, products)?;
    println!(
        "{} clients, {} s warm-up, {} s measured",
        opts.concurrency, opts.warmup, opts.seconds
    );
    let (mut record, window) = drive(opts, &fleet.bases()?, &products, sessions, body)?;
    let figures = summarize(&mut record, window);
    for f in &figures {
        println!("{}", f.line());
    }
    for sample in record.error_samples.iter().take(5) {
        println!("  error sample: {sample}");
    }
    Ok(figures)
}

/// `bench checkout` or `bench fleet`: what each client does, again and again.
#[derive(Debug, Clone)]
pub struct LoadBench {
    name: &'static str,
    opts: LoadOptions,
    /// Products created before the round.
    products: usize,
    body: fn(&mut Client),
}

impl LoadBench {
    /// Every client adds one item and checks out.
    pub fn checkout(opts: LoadOptions) -> Self {
        Self {
            name: "checkout",
            opts,
            products: 50,
            body: |client| {
                client.add_to_cart();
                client.checkout();
            },
        }
    }

    /// Every client acts like a shopper ([`mixed_action`]).
    pub fn fleet(opts: LoadOptions) -> Self {
        Self {
            name: "fleet",
            opts,
            products: 200,
            body: mixed_action,
        }
    }
}

impl Bench for LoadBench {
    fn name(&self) -> &'static str {
        self.name
    }

    fn settings(&self) -> Value {
        json!({
            "concurrency": self.opts.concurrency,
            "seconds": self.opts.seconds,
            "warmup": self.opts.warmup,
        })
    }

    fn env(&self) -> Vec<(String, String)> {
        // Many customers log in, and check out back to back, from
        // 127.0.0.1: the per-address and per-user limits would stop them.
        crate::cmd::stack::unlimited_env()
    }

    fn round(&self, fleet: &BenchFleet) -> Result<Vec<EndpointFigures>> {
        let figures = measure(fleet, &self.opts, self.products, self.body)?;
        print_outbox_backlog(fleet)?;
        Ok(figures)
    }
}

/// Prints how many of order-service's outbox events (the confirmation mails)
/// were still undelivered when the window closed: a fleet that confirms
/// orders faster than it relays their mails looks faster than one that
/// keeps up, and this line shows the difference.
fn print_outbox_backlog(fleet: &BenchFleet) -> Result<()> {
    let pending = crate::infra::pg::query(
        &crate::infra::pg::PgBin::locate()?,
        &fleet.database_url("order")?,
        "select count(*) from outbox where delivered_at is null and failed_at is null",
    );
    // A revision whose outbox differs must not fail the round it measured.
    let pending = pending.map_or_else(|err| format!("n/a ({err:#})"), |n| n.trim().to_owned());
    println!("order-service outbox: {pending} events undelivered at the end of the window");
    Ok(())
}

/// `bench checkout`: every client adds one item and checks out, again and
/// again; the whole saga runs through catalog-service, the fake payment
/// provider and Postgres.
pub fn checkout(opts: &LoadOptions, plan: &Plan) -> Result<Report> {
    let report = crate::cmd::bench::run(&LoadBench::checkout(opts.clone()), plan)?;
    let summary = report.summary();
    let checkout = summary
        .iter()
        .find(|s| s.name == "POST /checkout")
        .context("no checkout succeeded")?;
    for (side, figures) in report.sides.iter().zip(&checkout.sides) {
        if let Some(f) = figures {
            println!(
                "{}: {:.1} checkouts/s, p95 {:.1} ms against a 200 ms objective ({:.0}% of it)",
                side.label,
                f.throughput,
                f.p95,
                f.p95 / 2.0
            );
        }
    }
    Ok(report)
}

/// Search words for the mixed workload (all in the generated names).
const WORDS: &[&str] = &["bench", "item", "itme", "bench item", "1", "2"];

/// `bench fleet`: a shop's mix. Per action, out of 100: 30 product listing,
/// 22 search, 20 product detail, 8 view cart, 10 add to cart, 4 checkout,
/// 3 order history, 2 notification history, 1 login (the customer's own).
pub fn fleet(opts: &LoadOptions, plan: &Plan) -> Result<Report> {
    let report = crate::cmd::bench::run(&LoadBench::fleet(opts.clone()), plan)?;
    let root = workspace::root();
    let json = crate::cmd::bench::report::reports_dir(&root).join("fleet.json");
    let png = json.with_file_name("fleet-latency.png");
    draw_chart(&root, &json, &png)?;
    println!("chart: {}", png.display());
    Ok(report)
}

fn mixed_action(client: &mut Client) {
    let roll = client.next() % 100;
    match roll {
        0..30 => {
            let sort = ["newest", "price_asc", "price_desc", "name"][(client.next() % 4) as usize];
            client.timed("GET /products", 200, |api, _| {
                api.get(
                    &api.bases.catalog,
                    &format!("/api/v1/products?sort={sort}&limit=20"),
                )
                .send()
            });
        }
        30..52 => {
            let word = WORDS[(client.next() % WORDS.len() as u64) as usize].replace(' ', "+");
            client.timed("GET /products?q=", 200, |api, _| {
                api.get(
                    &api.bases.catalog,
                    &format!("/api/v1/products?q={word}&limit=20"),
                )
                .send()
            });
        }
        52..72 => {
            let product = client.product();
            client.timed("GET /products/{id}", 200, |api, _| {
                api.get(&api.bases.catalog, &format!("/api/v1/products/{product}"))
                    .send()
            });
        }
        72..80 => {
            client.timed("GET /cart", 200, |api, s| {
                api.get(&api.bases.order, "/api/v1/cart")
                    .token(&s.access)
                    .send()
            });
        }
        80..90 => client.add_to_cart(),
        90..94 => {
            client.add_to_cart();
            client.checkout();
        }
        94..97 => {
            client.timed("GET /orders", 200, |api, s| {
                api.get(&api.bases.order, "/api/v1/orders")
                    .token(&s.access)
                    .send()
            });
        }
        97..99 => {
            client.timed("GET /notifications", 200, |api, s| {
                api.get(&api.bases.notification, "/api/v1/notifications")
                    .token(&s.access)
                    .send()
            });
        }
        _ => {
            // The customer logs in again (argon2 and a new token family).
            let email = client.email.clone();
            if let Some(reply) = client.timed("POST /auth/login", 200, |api, _| {
                api.post(&api.bases.user, "/api/v1/auth/login")
                    .json(json!({"email": email, "password": PASSWORD}))
                    .send()
            }) && let (Ok(access), Ok(refresh)) =
                (reply.str("access_token"), reply.str("refresh_token"))
            {
                client.session = Session { access, refresh };
            }
        }
    }
}

/// Grouped bars of p50/p95/p99 per endpoint, drawn with matplotlib.
const CHART: &str = r#"
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
data = json.load(open(sys.argv[1]))
sides = [s["label"] for s in data["sides"]]
def figures(row, side):
    return row["sides"].get(side) or {}
rows = [r for r in data["summary"] if any(figures(r, s).get("ok", 0) > 0 for s in sides)]
keys = [("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")]
per_group = len(sides) * len(keys)
width = 0.84 / per_group
fig, ax = plt.subplots(figsize=(min(20, max(12, len(rows) * len(sides))), 6))
xs = range(len(rows))
i = 0
for side in sides:
    for key, label in keys:
        offset = (i - (per_group - 1) / 2) * width
        values = [figures(r, side).get(key) or 0 for r in rows]
        name = f"{side} {label}" if len(sides) > 1 else label
        hatch = "//" if side != sides[-1] else None
        bars = ax.bar([x + offset for x in xs], values, width, label=name, hatch=hatch)
        ax.bar_label(bars, fmt="%.0f", fontsize=6)
        i += 1
def tick(row):
    rates = " / ".join(f"{figures(row, s).get('throughput_rps') or 0:.0f}" for s in sides)
    return f"{row['scenario']}\n{rates} req/s"
ax.set_xticks(list(xs))
ax.set_xticklabels([tick(r) for r in rows], fontsize=8)
ax.set_ylabel("latency (ms)")
settings = data["settings"]
ax.set_title(f"bench fleet: {settings['concurrency']} clients, {settings['seconds']} s, "
             f"latency per endpoint ({' / '.join(sides)})")
ax.legend(fontsize=7, ncol=len(sides))
ax.grid(axis="y", alpha=0.3)
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=120)
"#;

const MATPLOTLIB: pytools::PyTool = pytools::PyTool {
    requirement: "matplotlib==3.11.2",
    executable: "python",
};

fn draw_chart(root: &Path, json: &Path, png: &Path) -> Result<()> {
    let bin = pytools::ensure(root, &[])?;
    let probe = Command::new(bin.join("python"))
        .args(["-c", "import matplotlib"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        pytools::pip_install(&pytools::venv(root), &[MATPLOTLIB.requirement])?;
    }
    let status = Command::new(bin.join("python"))
        .args(["-c", CHART])
        .arg(json)
        .arg(png)
        .status()
        .context("running matplotlib")?;
    if !status.success() {
        bail!("drawing the chart failed ({status})");
    }
    Ok(())
}
