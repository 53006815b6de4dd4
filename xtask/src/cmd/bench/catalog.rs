//! `cargo xtask bench catalog`: catalog-service over N generated products
//! (seeded in SQL, the same data on every side), driven by wrk (or client
//! threads without it) at a fixed concurrency: `GET /health` first, the
//! service's HTTP ceiling through its whole middleware stack, then product by
//! id, searches (one word, two words, a typo, words every product has) and a
//! sorted listing, each reported as a fraction of that ceiling.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::builder::TypedValueParser as _;
use serde_json::{Value, json};
use ureq::Agent;

use crate::cmd::bench::{Bench, BenchFleet, Figures, Plan, Report};
use crate::infra::pg::{PgBin, psql};
use crate::infra::workspace;

/// Options of `cargo xtask bench catalog` (its command line).
#[derive(Debug, Clone, clap::Args)]
pub struct CatalogBench {
    /// Products to generate.
    #[arg(long, default_value_t = 100_000)]
    pub products: u32,
    /// Concurrent clients, in every scenario.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..).map(usize::from))]
    pub concurrency: usize,
    /// Measured seconds per scenario (after a 2 s warm-up).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: u64,
}

/// The ceiling scenario.
pub const HEALTH: &str = "GET /health";

/// Runs the benchmark as `plan` says and prints its report.
pub fn catalog(opts: &CatalogBench, plan: &Plan) -> Result<Report> {
    crate::cmd::bench::run(opts, plan)
}

impl Bench for CatalogBench {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn settings(&self) -> Value {
        json!({
            "products": self.products,
            "concurrency": self.concurrency,
            "seconds": self.seconds,
        })
    }

    fn ceiling(&self) -> Option<&'static str> {
        Some(HEALTH)
    }

    fn round(&self, fleet: &BenchFleet) -> Result<Vec<Figures>> {
        let base = fleet.bases()?.catalog;
        println!("seeding {} products ...", self.products);
        let seeded = Instant::now();
        psql(
            &PgBin::locate()?,
            &fleet.database_url("catalog")?,
            &generation_sql(self.products),
        )?;
        println!("seeded in {:.1} s", seeded.elapsed().as_secs_f64());

        let ids = sample_ids(&agent(), &base)?;
        let mut figures = Vec::new();
        for (name, urls) in scenarios(&base, &ids) {
            let measured = measure(name, &urls, self)?;
            println!("{}", measured.line());
            figures.push(measured);
        }
        Ok(figures)
    }
}

/// Every scenario in the order measured, with the URLs its clients cycle through.
fn scenarios(base: &str, ids: &[String]) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (HEALTH, vec![format!("{base}/health")]),
        (
            "product by id",
            ids.iter()
                .map(|id| format!("{base}/api/v1/products/{id}"))
                .collect(),
        ),
        (
            "search, one word",
            search_urls(
                base,
                &[
                    "lamp", "chair", "kettle", "walnut", "speaker", "rug", "mirror", "tent",
                ],
            ),
        ),
        (
            "search, two words",
            search_urls(
                base,
                &[
                    "oak table",
                    "brass lamp",
                    "leather wallet",
                    "smart watch",
                    "glass vase",
                    "steel bottle",
                ],
            ),
        ),
        (
            "search, typo",
            search_urls(
                base,
                &["lamb", "chiar", "kettel", "speakr", "miror", "wallett"],
            ),
        ),
        (
            // Every generated description has each of these words, so every
            // product matches: the catalog README's known slow case.
            "search, dense words",
            search_urls(
                base,
                &[
                    "companion pairs",
                    "pairs everyday",
                    "companion materials",
                    "everyday materials use",
                ],
            ),
        ),
        (
            "list, category + price sort",
            vec![format!("{base}/api/v1/products?sort=price_asc&limit=20")],
        ),
    ]
}

fn agent() -> Agent {
    Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

fn search_urls(base: &str, queries: &[&str]) -> Vec<String> {
    queries
        .iter()
        .map(|q| format!("{base}/api/v1/products?q={}&limit=20", q.replace(' ', "+")))
        .collect()
}

/// A few hundred real ids, from the API's own listing.
fn sample_ids(agent: &Agent, base: &str) -> Result<Vec<String>> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut url = format!("{base}/api/v1/products?limit=100&sort=price_desc");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let mut response = agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let page: Value = response.body_mut().read_json()?;
        ids.extend(
            page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["id"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    if ids.is_empty() {
        bail!("the catalog lists no products after seeding");
    }
    Ok(ids)
}

/// wrk (installed from the distribution's packages when missing) keeps
/// `concurrency` connections busy cycling through `urls`: 2 s of warm-up,
/// then `seconds` measured. Being C with one event loop per thread, it takes
/// far less of the two cores from the service than client threads would.
/// Without wrk (and no way to install it), Rust client threads do the same.
fn measure(name: &str, urls: &[String], opts: &CatalogBench) -> Result<Figures> {
    match wrk() {
        Some(wrk) => measure_with_wrk(&wrk, name, urls, opts),
        None => measure_with_threads(name, urls, opts),
    }
}

fn wrk() -> Option<std::path::PathBuf> {
    if let Some(found) = crate::cmd::lint_deploy::find_on_path("wrk") {
        return Some(found);
    }
    match crate::cmd::lint_deploy::apt_install(&["wrk"]) {
        Ok(()) => crate::cmd::lint_deploy::find_on_path("wrk"),
        Err(err) => {
            eprintln!("note: wrk is not available ({err:#}); measuring with client threads");
            None
        }
    }
}

/// Cycles through the paths given in `PATHS` and prints one `RESULT` line.
const WRK_SCRIPT: &str = r#"
local paths = {}
for p in string.gmatch(os.getenv("PATHS"), "[^\n]+") do table.insert(paths, p) end
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f\n", summary.requests,
    e.status + e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000))
end
"#;

fn measure_with_wrk(
    wrk: &Path,
    name: &str,
    urls: &[String],
    opts: &CatalogBench,
) -> Result<Figures> {
    let base = urls
        .first()
        .and_then(|u| origin(u))
        .context("no URL to measure")?;
    let paths: Vec<&str> = urls.iter().map(|u| &u[base.len()..]).collect();
    let dir = workspace::scratch_dir(&workspace::root()).join("bench");
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("cycle.lua");
    std::fs::write(&script, WRK_SCRIPT)?;
    // wrk refuses fewer connections than threads.
    let threads = opts.concurrency.clamp(1, 2);
    let run = |seconds: u64| -> Result<String> {
        let output = std::process::Command::new(wrk)
            .args([
                "-t",
                &threads.to_string(),
                "-c",
                &opts.concurrency.to_string(),
            ])
            .args(["-d", &format!("{seconds}s"), "--timeout", "10s", "-s"])
            .arg(&script)
            .arg(base)
            .env("PATHS", paths.join("\n"))
            .output()
            .context("running wrk")?;
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "wrk failed: {text}{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(text)
    };
    run(2)?;
    parse_wrk_result(name, &run(opts.seconds)?)
}

/// `http://127.0.0.1:8002` of `http://127.0.0.1:8002/api/v1/...`.
fn origin(url: &str) -> Option<&str> {
    let after_scheme = url.find("://")? + 3;
    let end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    Some(&url[..end])
}

/// Figures from the `RESULT requests errors micros p50 p95 p99` line the
/// script prints (latencies in ms).
fn parse_wrk_result(name: &str, output: &str) -> Result<Figures> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .with_context(|| format!("no RESULT line in wrk's output:\n{output}"))?;
    let fields: Vec<f64> = line
        .split_whitespace()
        .map(|f| f.parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("unreadable wrk result `{line}`"))?;
    let [requests, errors, micros, p50, p95, p99] = fields[..] else {
        bail!("unexpected wrk result `{line}`");
    };
    if micros <= 0.0 {
        bail!("wrk measured for no time: `{line}`");
    }
    let ok = (requests - errors).max(0.0);
    Ok(Figures {
        name: name.to_owned(),
        ok: ok as usize,
        errors: errors as usize,
        throughput: ok / (micros / 1e6),
        p50,
        p95,
        p99,
    })
}

/// `concurrency` client threads cycling through `urls`: 2 s of warm-up,
/// then `seconds` measured.
fn measure_with_threads(name: &str, urls: &[String], opts: &CatalogBench) -> Result<Figures> {
    let urls = Arc::new(urls.to_vec());
    let recording = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..opts.concurrency)
        .map(|worker| {
            let (urls, recording, stop, errors) = (
                urls.clone(),
                recording.clone(),
                stop.clone(),
                errors.clone(),
            );
            std::thread::spawn(move || {
                let agent = agent();
                let mut latencies = Vec::new();
                let mut next = worker;
                while !stop.load(Ordering::Relaxed) {
                    let url = &urls[next % urls.len()];
                    next += opts_stride(worker);
                    let started = Instant::now();
                    let ok = agent
                        .get(url)
                        .call()
                        .map(|mut r| r.status() == 200 && r.body_mut().read_to_vec().is_ok())
                        .unwrap_or(false);
                    let elapsed = started.elapsed();
                    if recording.load(Ordering::Relaxed) {
                        if ok {
                            latencies.push(elapsed);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    let window = crate::cmd::bench::record_window(
        Duration::from_secs(2),
        Duration::from_secs(opts.seconds),
        &recording,
        &stop,
    );
    let mut latencies: Vec<Duration> = Vec::new();
    for worker in workers {
        latencies.extend(
            worker
                .join()
                .map_err(|_| anyhow::anyhow!("a client thread panicked"))?,
        );
    }
    Ok(Figures::from_latencies(
        name,
        latencies,
        errors.load(Ordering::Relaxed),
        window,
    ))
}

/// Workers walk the URL list with different strides so they do not ask the
/// same thing in lock-step.
fn opts_stride(worker: usize) -> usize {
    [1, 3, 5, 7, 11, 13][worker % 6]
}

/// `products` generated products over a 40-category tree: 30 adjectives x 40
/// nouns x 10 suffixes, so search terms match realistic fractions of the
/// catalog; stock varies so `in_stock` filters something.
fn generation_sql(products: u32) -> String {
    format!(
        r#"
insert into categories (category_id, name, slug)
select gen_random_uuid(), 'Bench category ' || i, 'bench-cat-' || i from generate_series(1, 40) i;
update categories c set parent_id = p.category_id
from (select category_id, row_number() over (order by slug) rn from categories where slug like 'bench-cat-%') p,
     (select category_id, row_number() over (order by slug) rn from categories where slug like 'bench-cat-%') me
where me.category_id = c.category_id and me.rn > 8 and p.rn = 1 + (me.rn % 8);
create temporary table bench_categories as
select category_id, row_number() over (order by slug) - 1 as position from categories where slug like 'bench-cat-%';
with adj as (select array['Brass','Oak','Walnut','Modern','Vintage','Compact','Portable','Wireless','Ergonomic','Classic','Rustic','Minimal','Smart','Heavy','Light','Soft','Large','Small','Premium','Eco','Industrial','Nordic','Velvet','Ceramic','Glass','Steel','Bamboo','Linen','Leather','Copper'] a),
noun as (select array['Lamp','Chair','Table','Desk','Rug','Mug','Kettle','Speaker','Headphones','Keyboard','Mouse','Monitor','Sofa','Pillow','Blanket','Vase','Mirror','Shelf','Cabinet','Stool','Bench','Clock','Candle','Plate','Bowl','Knife','Pan','Backpack','Wallet','Jacket','Sneakers','Watch','Umbrella','Bottle','Tent','Bicycle','Helmet','Notebook','Pen','Frame'] n),
extra as (select array['Pro','Mini','Max','Plus','Set','Kit','XL','II','Edition','Classic'] e)
insert into products (product_id, sku, name, slug, description, price_cents, currency, category_id, on_hand, reserved, created_at)
select gen_random_uuid(), 'BENCH-' || i,
  a[1 + (i*7) % 30] || ' ' || n[1 + (i*13) % 40] || ' ' || e[1 + (i*3) % 10] || ' ' || i,
  'bench-' || i,
  'A ' || lower(a[1 + (i*11) % 30]) || ' ' || lower(n[1 + (i*17) % 40]) || ' companion, pairs well with any ' || lower(n[1 + (i*19) % 40]) || '. Made of ' || lower(a[1 + (i*23) % 30]) || ' materials for everyday use.',
  100 + (i * 7919) % 500000, 'EUR', bc.category_id, i % 20, 0, now() - make_interval(secs => i)
from generate_series(1, {products}) i
cross join adj cross join noun cross join extra
join bench_categories bc on bc.position = i % 40;
vacuum analyze;
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_comes_first_and_every_scenario_targets_the_same_origin() {
        let ids = vec!["a".to_owned(), "b".to_owned()];
        let all = scenarios("http://127.0.0.1:8002", &ids);
        assert_eq!(
            all[0],
            (HEALTH, vec!["http://127.0.0.1:8002/health".to_owned()])
        );
        assert_eq!(
            all[1].1,
            [
                "http://127.0.0.1:8002/api/v1/products/a",
                "http://127.0.0.1:8002/api/v1/products/b"
            ]
        );
        for (name, urls) in &all {
            assert!(!urls.is_empty(), "{name}");
            for url in urls {
                assert_eq!(origin(url), Some("http://127.0.0.1:8002"), "{url}");
            }
        }
    }

    #[test]
    fn the_dense_search_asks_for_words_every_generated_description_has() {
        let ids = vec!["a".to_owned()];
        let all = scenarios("http://h:1", &ids);
        let (_, dense) = all
            .iter()
            .find(|(name, _)| *name == "search, dense words")
            .expect("a dense-words scenario");
        assert!(
            dense.contains(&"http://h:1/api/v1/products?q=companion+pairs&limit=20".to_owned())
        );
        let sql = generation_sql(10);
        let description = sql
            .lines()
            .find(|l| l.contains("companion"))
            .expect("the description template");
        for url in dense {
            let query = url
                .split("q=")
                .nth(1)
                .and_then(|q| q.split('&').next())
                .expect("a q parameter");
            for word in query.split('+') {
                // Each word is a fixed part of the template, not a chosen adjective or noun.
                assert!(description.contains(word), "`{word}` in {description}");
            }
            assert!(query.contains('+'), "several words: {query}");
        }
    }

    #[test]
    fn origin_is_scheme_host_and_port() {
        assert_eq!(
            origin("http://127.0.0.1:8002/health"),
            Some("http://127.0.0.1:8002")
        );
        assert_eq!(
            origin("http://127.0.0.1:8002"),
            Some("http://127.0.0.1:8002")
        );
        assert_eq!(origin("127.0.0.1:8002/health"), None);
    }

    #[test]
    fn wrk_results_become_figures_of_the_successful_requests() -> Result<()> {
        let out = "Running 15s test\nRESULT 150000 1000 15000000 1.500 4.250 9.000\n";
        let f = parse_wrk_result("product by id", out)?;
        assert_eq!(f.name, "product by id");
        assert_eq!((f.ok, f.errors), (149_000, 1000));
        assert_eq!(f.throughput, 149_000.0 / 15.0);
        assert_eq!((f.p50, f.p95, f.p99), (1.5, 4.25, 9.0));

        assert!(parse_wrk_result("x", "Running 15s test\n").is_err());
        assert!(parse_wrk_result("x", "RESULT 1 2 three 4 5 6").is_err());
        assert!(parse_wrk_result("x", "RESULT 1 2 3").is_err());
        assert!(parse_wrk_result("x", "RESULT 1 0 0 1 1 1").is_err());
        Ok(())
    }
}
