//! `cargo xtask db`: a provisioned private Postgres alone, until Ctrl-C.

use std::time::Duration;

use anyhow::Result;

use crate::infra::pg::{self, PgCluster};
use crate::infra::{services, signals, workspace};

/// Starts and provisions a private cluster, prints its URLs, waits for a signal, stops it.
pub fn run() -> Result<()> {
    let root = workspace::root();
    let mut cluster = PgCluster::start(&root, "db")?;
    let specs = services::present(&root)?;
    let urls = pg::provision(cluster.bin(), &cluster.superuser_url(), &specs)?;
    println!("export DATABASE_URL={}", cluster.superuser_url());
    println!("# per-service URLs (APP__DATABASE__URL):");
    for (package, url) in &urls {
        println!("#   {package:<22} {url}");
    }
    println!(
        "# log: {}\n# Ctrl-C stops it.",
        cluster.data_dir().join("postgres.log").display()
    );
    while !signals::interrupted() {
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster.stop()
}
