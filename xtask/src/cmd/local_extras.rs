//! What `cargo xtask up` adds around the fleet for local use: the nginx
//! gateway on :8080 (when nginx is installed), with the merged API document
//! and its docs UI and the storefront at `/`, and a local admin account.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::infra::fleet::Fleet;
use crate::infra::process::{self, GroupChild};
use crate::infra::workspace;

/// The gateway's local port (API.md).
pub const GATEWAY_PORT: u16 = 8080;

/// nginx running `deploy/nginx/nginx.local.conf`; stopped when dropped.
pub struct Gateway {
    child: GroupChild,
}

impl Gateway {
    /// Starts the gateway when nginx is installed; `None` (with a note) otherwise.
    /// Its access log goes to our stdout.
    pub fn start(root: &Path) -> Result<Option<Self>> {
        Self::start_logging_to(root, None)
    }

    /// Like [`Gateway::start`], with nginx's output in `log` when given.
    pub fn start_logging_to(root: &Path, log: Option<&Path>) -> Result<Option<Self>> {
        let Some(nginx) = find_nginx() else {
            println!(
                "note: nginx is not installed, so there is no gateway on :{GATEWAY_PORT}; call the services directly (Debian: apt-get install nginx)"
            );
            return Ok(None);
        };
        let prefix = workspace::scratch_dir(root).join("nginx");
        std::fs::create_dir_all(&prefix)
            .with_context(|| format!("creating {}", prefix.display()))?;
        // The api-docs site the config's second server block serves.
        for note in crate::cmd::frontend::assemble_api_docs_site(root, &prefix.join("api-docs"))? {
            println!("note: {note}");
        }
        link_storefront(root, &prefix)?;
        let config = root.join("deploy/nginx/nginx.local.conf");
        // Started by root, nginx's workers would run as `nobody`, who may not
        // enter the checkout (0700 under /root or `mktemp -d`) to read the
        // api-docs site and the storefront: keep them as the invoking user.
        let globals = if crate::infra::pg::is_root() {
            "daemon off; user root;"
        } else {
            "daemon off;"
        };
        let mut command = Command::new(nginx);
        command
            .arg("-p")
            .arg(&prefix)
            .arg("-c")
            .arg(&config)
            .args(["-e", "stderr", "-g", globals])
            .stdin(Stdio::null());
        if let Some(log) = log {
            let file = std::fs::File::create(log)
                .with_context(|| format!("creating {}", log.display()))?;
            command.stdout(file.try_clone()?).stderr(file);
        }
        let mut child = GroupChild::spawn(&mut command).context("starting nginx")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], GATEWAY_PORT));
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("nginx exited ({status}) before listening on :{GATEWAY_PORT}");
            }
            if Instant::now() > deadline {
                bail!("nginx did not listen on :{GATEWAY_PORT} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Some(Self { child }))
    }

    /// Stops nginx (SIGTERM is its fast shutdown).
    pub fn stop(mut self) -> Result<()> {
        self.child.terminate(Duration::from_secs(5)).map(|_| ())
    }
}

/// `<prefix>/storefront` -> `storefront/dist`: the `root` of the storefront
/// server in deploy/nginx/storefront.local.conf (relative to nginx's prefix).
fn link_storefront(root: &Path, prefix: &Path) -> Result<()> {
    let link = prefix.join("storefront");
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(&link).with_context(|| format!("removing {}", link.display()))?;
    }
    std::os::unix::fs::symlink(crate::cmd::storefront::dist_dir(root), &link)
        .with_context(|| format!("linking {}", link.display()))
}

fn find_nginx() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|p| p.join("nginx"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([
            PathBuf::from("/usr/sbin/nginx"),
            PathBuf::from("/usr/local/sbin/nginx"),
        ])
        .find(|p| p.is_file())
}

/// The local administrator `up` makes sure exists.
pub struct LocalAdmin {
    /// Its e-mail.
    pub email: String,
    /// Its password, when generated here (to print); `None` when it came from `ADMIN_PASSWORD`.
    pub generated_password: Option<String>,
}

/// Creates (or promotes) the local admin through `user-service create-admin`:
/// e-mail and password from `ADMIN_EMAIL` / `ADMIN_PASSWORD`, otherwise a
/// password generated once and kept in `target/xtask/local-admin-password`.
pub fn ensure_admin(root: &Path, fleet: &Fleet, release: bool) -> Result<Option<LocalAdmin>> {
    let Ok(database_url) = fleet.database_url("user-service") else {
        return Ok(None);
    };
    let email = std::env::var("ADMIN_EMAIL")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "admin@shop.local".into());
    let (password, generated) = match std::env::var("ADMIN_PASSWORD")
        .ok()
        .filter(|p| !p.is_empty())
    {
        Some(password) => (password, false),
        None => (stored_or_new_password(root)?, true),
    };
    let binary = workspace::target_dir(root)
        .join(if release { "release" } else { "debug" })
        .join("user-service");
    let mut command = Command::new(&binary);
    command
        .args(["create-admin", "--email", &email, "--reset-password"])
        .env("APP__DATABASE__URL", database_url)
        .env("ADMIN_PASSWORD", &password)
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn");
    let (status, output) = process::run_captured(&mut command)?;
    if !status.success() {
        bail!("user-service create-admin failed ({status}):\n{output}");
    }
    Ok(Some(LocalAdmin {
        email,
        generated_password: generated.then_some(password),
    }))
}

/// The local admin's e-mail and password, and whether the password was
/// generated here: `ADMIN_EMAIL` / `ADMIN_PASSWORD` when set, otherwise
/// `admin@shop.local` and the password generated once for this checkout.
pub fn admin_credentials(root: &Path) -> Result<(String, String, bool)> {
    let email = std::env::var("ADMIN_EMAIL")
        .ok()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "admin@shop.local".into());
    Ok(
        match std::env::var("ADMIN_PASSWORD")
            .ok()
            .filter(|p| !p.is_empty())
        {
            Some(password) => (email, password, false),
            None => (email, stored_or_new_password(root)?, true),
        },
    )
}

fn stored_or_new_password(root: &Path) -> Result<String> {
    let path = workspace::scratch_dir(root).join("local-admin-password");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 12 {
            return Ok(existing.to_owned());
        }
    }
    let mut bytes = [0u8; 18];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .context("reading /dev/urandom")?;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let password: String = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect();
    std::fs::create_dir_all(workspace::scratch_dir(root))?;
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("writing {}", path.display()))?;
    file.write_all(password.as_bytes())?;
    Ok(password)
}

/// notification-service's SMTP settings for `SMTP_URL`
/// (`smtp://[user:password@]host[:port]`, `smtps://` for implicit TLS,
/// `smtp+starttls://` for STARTTLS); empty when `SMTP_URL` is unset, so mail
/// goes to the service's log.
pub fn smtp_env(url: Option<&str>) -> Result<Vec<(String, String)>> {
    let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) else {
        return Ok(Vec::new());
    };
    let (scheme, rest) = url
        .split_once("://")
        .with_context(|| format!("SMTP_URL `{url}` is not scheme://host:port"))?;
    let (tls, default_port) = match scheme {
        "smtp" => ("none", 25),
        "smtp+starttls" => ("starttls", 587),
        "smtps" => ("tls", 465),
        other => bail!("SMTP_URL scheme `{other}` is not smtp, smtp+starttls or smtps"),
    };
    let rest = rest.trim_end_matches('/');
    let (credentials, host_port) = match rest.rsplit_once('@') {
        Some((credentials, host_port)) => (Some(credentials), host_port),
        None => (None, rest),
    };
    let (host, port) = match host_port.rsplit_once(':') {
        Some((host, port)) => (
            host,
            port.parse::<u16>()
                .with_context(|| format!("SMTP_URL port `{port}` is not a number"))?,
        ),
        None => (host_port, default_port),
    };
    if host.is_empty() {
        bail!("SMTP_URL `{url}` names no host");
    }
    let mut env = vec![
        ("APP__SMTP__HOST".to_owned(), host.to_owned()),
        ("APP__SMTP__PORT".to_owned(), port.to_string()),
        ("APP__SMTP__TLS".to_owned(), tls.to_owned()),
    ];
    if let Some(credentials) = credentials {
        let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
        env.push(("APP__SMTP__USERNAME".to_owned(), user.to_owned()));
        env.push(("APP__SMTP__PASSWORD".to_owned(), password.to_owned()));
    }
    Ok(env)
}

#[cfg(test)]
mod smtp_url_tests {
    use super::smtp_env;

    fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    #[test]
    fn unset_means_the_log() {
        assert!(smtp_env(None).unwrap().is_empty());
        assert!(smtp_env(Some("")).unwrap().is_empty());
    }

    #[test]
    fn parses_host_port_tls_and_credentials() {
        let env = smtp_env(Some("smtp://127.0.0.1:1025")).unwrap();
        assert_eq!(get(&env, "APP__SMTP__HOST"), Some("127.0.0.1"));
        assert_eq!(get(&env, "APP__SMTP__PORT"), Some("1025"));
        assert_eq!(get(&env, "APP__SMTP__TLS"), Some("none"));
        assert_eq!(get(&env, "APP__SMTP__USERNAME"), None);
        let env = smtp_env(Some("smtps://me:s3cret@mail.example.com")).unwrap();
        assert_eq!(get(&env, "APP__SMTP__PORT"), Some("465"));
        assert_eq!(get(&env, "APP__SMTP__TLS"), Some("tls"));
        assert_eq!(get(&env, "APP__SMTP__USERNAME"), Some("me"));
        assert_eq!(get(&env, "APP__SMTP__PASSWORD"), Some("s3cret"));
        assert!(smtp_env(Some("http://x")).is_err());
        assert!(smtp_env(Some("smtp://host:notaport")).is_err());
    }
}
