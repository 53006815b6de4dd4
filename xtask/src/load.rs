//! `cargo xtask bench checkout` and `cargo xtask bench fleet`: the release
//! binaries, their own Postgres and real HTTP clients at a fixed
//! concurrency. Figures are per endpoint (successful requests only; errors
//! are counted apart), written to `target/xtask/bench/<name>.json`; the fleet
//! benchmark also draws `latency.png` next to it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::shop::{Api, Bases, Session, create_products, uuid_like};
use crate::stack::{Stack, StackOptions};
use crate::{pytools, workspace};

/// Options of both benchmarks.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Concurrent clients (one customer each).
    pub concurrency: usize,
    /// Measured seconds (after the warm-up).
    pub seconds: u64,
    /// Unmeasured seconds first.
    pub warmup: u64,
    /// Build the release binaries first.
    pub build: bool,
}

pub use crate::bench::Figures as EndpointFigures;

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
        call: impl FnOnce(&Api, &Session) -> Result<crate::shop::Reply>,
    ) -> Option<crate::shop::Reply> {
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

/// Starts the stack, creates products and one customer per client.
fn prepare(
    name: &str,
    opts: &LoadOptions,
    products: usize,
) -> Result<(Stack, Arc<Vec<String>>, Vec<Customer>)> {
    let root = workspace::root();
    let stack = Stack::start(
        &root,
        StackOptions {
            release: true,
            build: opts.build,
            name: format!("bench-{name}"),
            smtp: false,
            gateway: false,
            // Many customers log in, and check out back to back, from
            // 127.0.0.1: the per-address and per-user limits would stop them.
            env: crate::stack::unlimited_env(),
        },
    )?;
    let ids = create_products(
        &stack.api,
        &stack.admin_token,
        &format!("Bench {}", uuid_like()),
        products,
        1_000_000,
        1999,
    )?;
    let mut sessions = Vec::with_capacity(opts.concurrency);
    for i in 0..opts.concurrency {
        let email = format!("bench-{i}-{}@example.com", uuid_like());
        let session = stack.api.new_customer(&email, PASSWORD)?;
        sessions.push((email, session));
    }
    Ok((stack, Arc::new(ids), sessions))
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
    std::thread::sleep(Duration::from_secs(opts.warmup));
    recording.store(true, Ordering::Relaxed);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(opts.seconds));
    recording.store(false, Ordering::Relaxed);
    let window = started.elapsed();
    stop.store(true, Ordering::Relaxed);
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

fn print_table(figures: &[EndpointFigures]) {
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9} {:>8}",
        "endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"
    );
    for f in figures {
        println!(
            "{:<28} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>8}",
            f.name, f.throughput, f.p50, f.p95, f.p99, f.errors
        );
    }
}

fn write_json(name: &str, opts: &LoadOptions, figures: &[EndpointFigures]) -> Result<PathBuf> {
    let dir = workspace::scratch_dir(&workspace::root()).join("bench");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    let body = json!({
        "benchmark": name,
        "concurrency": opts.concurrency,
        "seconds": opts.seconds,
        "endpoints": figures.iter().map(|f| json!({
            "endpoint": f.name, "ok": f.ok, "errors": f.errors, "throughput_rps": f.throughput,
            "p50_ms": f.p50, "p95_ms": f.p95, "p99_ms": f.p99,
        })).collect::<Vec<Value>>(),
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&body)?)?;
    Ok(path)
}

fn finish(
    name: &str,
    opts: &LoadOptions,
    mut record: Record,
    window: Duration,
) -> Result<Vec<EndpointFigures>> {
    let figures = summarize(&mut record, window);
    print_table(&figures);
    for sample in record.error_samples.iter().take(5) {
        println!("  error sample: {sample}");
    }
    let path = write_json(name, opts, &figures)?;
    println!("written to {}", path.display());
    Ok(figures)
}

/// `bench checkout`: every client adds one item and checks out, again and
/// again; the whole saga runs through catalog-service, the fake payment
/// provider and Postgres.
pub fn checkout(opts: &LoadOptions) -> Result<Vec<EndpointFigures>> {
    let (stack, products, sessions) = prepare("checkout", opts, 50)?;
    println!(
        "bench checkout: {} clients, {} s warm-up, {} s measured",
        opts.concurrency, opts.warmup, opts.seconds
    );
    let bases = stack.api.bases.clone();
    let result = drive(opts, &bases, &products, sessions, |client| {
        client.add_to_cart();
        client.checkout();
    });
    stack.stop()?;
    let (record, window) = result?;
    let figures = finish("checkout", opts, record, window)?;
    let checkout = figures
        .iter()
        .find(|f| f.name == "POST /checkout")
        .context("no checkout succeeded")?;
    println!(
        "checkout: {:.1} checkouts/s, p95 {:.1} ms against a 200 ms objective ({:.0}% of it)",
        checkout.throughput,
        checkout.p95,
        checkout.p95 / 2.0
    );
    Ok(figures)
}

/// Search words for the mixed workload (all in the generated names).
const WORDS: &[&str] = &["bench", "item", "itme", "bench item", "1", "2"];

/// `bench fleet`: a shop's mix. Per action, out of 100: 30 product listing,
/// 22 search, 20 product detail, 8 view cart, 10 add to cart, 4 checkout,
/// 3 order history, 2 notification history, 1 login (the customer's own).
pub fn fleet(opts: &LoadOptions) -> Result<Vec<EndpointFigures>> {
    let (stack, products, sessions) = prepare("fleet", opts, 200)?;
    println!(
        "bench fleet: {} clients, {} s warm-up, {} s measured",
        opts.concurrency, opts.warmup, opts.seconds
    );
    let bases = stack.api.bases.clone();
    let result = drive(opts, &bases, &products, sessions, mixed_action);
    stack.stop()?;
    let (record, window) = result?;
    let figures = finish("fleet", opts, record, window)?;
    let json = workspace::scratch_dir(&workspace::root()).join("bench/fleet.json");
    let png = json.with_file_name("fleet-latency.png");
    draw_chart(&workspace::root(), &json, &png)?;
    println!("chart: {}", png.display());
    Ok(figures)
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
rows = [e for e in data["endpoints"] if e["ok"] > 0]
names = [e["endpoint"] for e in rows]
fig, ax = plt.subplots(figsize=(12, 6))
width = 0.27
xs = range(len(rows))
for i, (key, label) in enumerate([("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99")]):
    bars = ax.bar([x + (i - 1) * width for x in xs], [e[key] for e in rows], width, label=label)
    ax.bar_label(bars, fmt="%.0f", fontsize=7)
ax.set_xticks(list(xs))
ax.set_xticklabels([f"{n}\n{e['throughput_rps']:.0f} req/s" for n, e in zip(names, rows)], fontsize=8)
ax.set_ylabel("latency (ms)")
ax.set_title(f"bench fleet: {data['concurrency']} clients, {data['seconds']} s, latency per endpoint")
ax.legend()
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
