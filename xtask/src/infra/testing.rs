//! Fixtures for xtask's own tests: a fake workspace whose "services" are
//! shell scripts, so the fleet machinery can be exercised without building
//! the real services.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anyhow::Result;

use crate::infra::workspace;

/// A stand-in service binary: `migrate` prints and exits (or fails with exit 3
/// if a file `fail-migrate` exists next to it); `serve` answers 200 on every
/// path and logs its port, JWKS URL and log format. Needs `python3`.
pub const FAKE_SERVICE: &str = r#"#!/bin/sh
case "$1" in
  migrate)
    echo "migrating with $APP__DATABASE__URL"
    if [ -e "$(dirname "$0")/fail-migrate" ]; then echo "relation does not exist" >&2; exit 3; fi
    exit 0;;
  *)
    exec python3 -c '
import http.server, os
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *args):
        print("GET", self.path, flush=True)
port = int(os.environ["APP__SERVER__PORT"])
print("listening on", port, "jwks", os.environ["APP__AUTH__JWKS_URL"], "format", os.environ["LOG_FORMAT"], flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
';;
esac
"#;

/// Writes a workspace at `root` whose members are `packages`, each with a
/// [`FAKE_SERVICE`] as its debug binary (`target/debug/<package>`) and
/// template metadata: ports 8001, 8002, ... in order, the schema its short
/// name with `_data`.
pub fn fake_workspace(root: &Path, packages: &[&str]) -> Result<()> {
    let members: Vec<String> = packages.iter().map(|p| format!("\"{p}\"")).collect();
    std::fs::write(
        root.join("Cargo.toml"),
        format!("[workspace]\nmembers = [{}]\n", members.join(", ")),
    )?;
    let bin_dir = workspace::target_dir(root).join("debug");
    std::fs::create_dir_all(&bin_dir)?;
    for (i, package) in packages.iter().enumerate() {
        std::fs::create_dir_all(root.join(package))?;
        // Not the bare short name: `user` is a reserved word in SQL.
        let schema = format!(
            "{}_data",
            package.trim_end_matches("-service").replace('-', "_")
        );
        std::fs::write(
            root.join(package).join("Cargo.toml"),
            format!(
                "[package]\nname = \"{package}\"\n\n[package.metadata.template]\nschema = \"{schema}\"\nport = {}\n",
                8001 + i
            ),
        )?;
        let exe = bin_dir.join(package);
        std::fs::write(&exe, FAKE_SERVICE)?;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

/// A fake `cargo` for running xtask commands against a fake workspace: it
/// records its arguments and environment in `<dir>/cargo.log` and succeeds.
pub fn fake_cargo(dir: &Path) -> Result<std::path::PathBuf> {
    let path = dir.join("fake-cargo");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"$* | DATABASE_URL=$DATABASE_URL SQLX_OFFLINE=$SQLX_OFFLINE\" >> '{}'\nexit 0\n",
            dir.join("cargo.log").display()
        ),
    )?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
    Ok(path)
}
