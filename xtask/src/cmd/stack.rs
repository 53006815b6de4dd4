//! The whole shop on this machine for the fleet tools (`e2e`, `fuzz`,
//! `chaos`, `bench checkout|fleet`): the [`Fleet`] (Postgres and the four
//! services), an SMTP server that keeps what it receives, the nginx gateway
//! when installed, and an administrator's token.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cmd::local_extras::{GATEWAY_PORT, Gateway, admin_credentials, ensure_admin};
use crate::infra::fleet::{Fleet, FleetOptions, Output};
use crate::infra::process::GroupChild;
use crate::infra::shop::{Api, Bases};
use crate::infra::{pg, pytools, workspace};

/// Environment that lifts the fleet's rate limits, for load runs whose many
/// customers log in and check out back to back from 127.0.0.1 (bench,
/// chaos): user-service's per-address limit, order-service's checkout
/// attempts per address and per user, and declines per user. The e2e
/// journey keeps the defaults.
pub fn unlimited_env() -> Vec<(String, String)> {
    [
        "APP__RATE_LIMIT__PER_IP_PER_MINUTE",
        "APP__CHECKOUT_LIMITS__ATTEMPTS_PER_ADDRESS_PER_MINUTE",
        "APP__CHECKOUT_LIMITS__ATTEMPTS_PER_USER",
        "APP__CHECKOUT_LIMITS__DECLINES_PER_USER",
    ]
    .into_iter()
    .map(|key| (key.to_owned(), "1000000".to_owned()))
    .collect()
}

/// How to start a [`Stack`].
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Run the release binaries (the debug ones otherwise).
    pub release: bool,
    /// Build them first.
    pub build: bool,
    /// Name of the private cluster and of the scratch directory.
    pub name: String,
    /// Start an SMTP server and point notification-service at it.
    pub smtp: bool,
    /// Route the API through the nginx gateway when nginx is installed.
    pub gateway: bool,
    /// Extra environment for the services.
    pub env: Vec<(String, String)>,
}

/// A running shop; [`Stack::stop`] stops all of it (dropping it does too).
pub struct Stack {
    /// Postgres and the services.
    pub fleet: Fleet,
    /// The API client (through the gateway when it runs).
    pub api: Api,
    /// An administrator's access token (valid 15 minutes).
    pub admin_token: String,
    /// Where the services' `<short>.log` files are.
    pub logs: PathBuf,
    /// The mail server, when asked for.
    pub smtp: Option<SmtpSink>,
    gateway: Option<Gateway>,
    /// Whether calls go through the gateway.
    pub through_gateway: bool,
}

impl Stack {
    /// Builds (release), starts everything and logs the local admin in.
    pub fn start(root: &Path, opts: StackOptions) -> Result<Self> {
        let scratch = workspace::scratch_dir(root).join(&opts.name);
        if scratch.exists() {
            std::fs::remove_dir_all(&scratch)
                .with_context(|| format!("clearing {}", scratch.display()))?;
        }
        let logs = scratch.join("logs");
        std::fs::create_dir_all(&logs)?;
        let smtp = if opts.smtp {
            Some(SmtpSink::start(root, &scratch.join("mail"))?)
        } else {
            None
        };
        let mut env = opts.env.clone();
        if let Some(smtp) = &smtp {
            env.extend([
                ("APP__SMTP__HOST".into(), "127.0.0.1".into()),
                ("APP__SMTP__PORT".into(), smtp.port.to_string()),
                ("APP__SMTP__TLS".into(), "none".into()),
            ]);
        }
        let fleet = Fleet::start(
            root,
            FleetOptions {
                release: opts.release,
                build: opts.build,
                output: Output::LogDir(logs.clone()),
                cluster_name: opts.name.clone(),
                env,
                ..FleetOptions::default()
            },
        )?;
        ensure_admin(root, &fleet, opts.release)?;
        let gateway = if opts.gateway {
            Gateway::start_logging_to(root, Some(&logs.join("gateway.log")))?
        } else {
            None
        };
        let through_gateway = gateway.is_some();
        let bases = if through_gateway {
            Bases::gateway(&format!("http://127.0.0.1:{GATEWAY_PORT}"))
        } else {
            Bases::direct(&crate::infra::services::present(root)?)?
        };
        let api = Api::new(bases, Duration::from_secs(30));
        let (email, password, _) = admin_credentials(root)?;
        let admin_token = api.login(&email, &password)?.access;
        Ok(Self {
            fleet,
            api,
            admin_token,
            logs,
            smtp,
            gateway,
            through_gateway,
        })
    }

    /// The log lines of a service (by short name) containing `needle`.
    pub fn log_lines(&self, short: &str, needle: &str) -> Result<Vec<String>> {
        let path = self.logs.join(format!("{short}.log"));
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(text
            .lines()
            .filter(|line| line.contains(needle))
            .map(str::to_owned)
            .collect())
    }

    /// Stops the gateway, the services, Postgres and the mail server.
    pub fn stop(self) -> Result<()> {
        if let Some(gateway) = self.gateway {
            gateway.stop()?;
        }
        self.fleet.stop()?;
        if let Some(smtp) = self.smtp {
            smtp.stop()?;
        }
        Ok(())
    }
}

/// aiosmtpd on a free port, keeping every message in a Maildir.
pub struct SmtpSink {
    child: GroupChild,
    /// Its port on 127.0.0.1.
    pub port: u16,
    maildir: PathBuf,
    python: PathBuf,
}

/// One received message, decoded.
#[derive(Debug, Clone, Deserialize)]
pub struct Mail {
    /// Envelope recipients.
    pub rcpt_to: String,
    /// `To:` header.
    pub to: String,
    /// `Subject:` header.
    pub subject: String,
    /// `Message-ID:` header (a redelivered message repeats it).
    pub message_id: String,
    /// The text/plain part.
    pub text: Option<String>,
    /// The text/html part.
    pub html: Option<String>,
}

/// Reads a Maildir and prints its messages as JSON, MIME decoded.
const READ_MAILDIR: &str = r#"
import email, email.policy, json, mailbox, sys
out = []
box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in sorted(box.keys()):
    msg = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
    def part(kind):
        body = msg.get_body(preferencelist=(kind,))
        return body.get_content() if body is not None else None
    out.append({"rcpt_to": str(msg.get("X-RcptTo", "")), "to": str(msg.get("To", "")),
                "subject": str(msg.get("Subject", "")), "message_id": str(msg.get("Message-ID", "")),
                "text": part("plain"), "html": part("html")})
print(json.dumps(out))
"#;

impl SmtpSink {
    /// Installs aiosmtpd when missing and starts it.
    pub fn start(root: &Path, maildir: &Path) -> Result<Self> {
        let bin = pytools::ensure(root, &[&pytools::AIOSMTPD])?;
        let port = pg::free_port()?;
        let mut command = Command::new(bin.join("aiosmtpd"));
        command
            .args(["-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = GroupChild::spawn(&mut command).context("starting aiosmtpd")?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if let Some(status) = child.try_wait()? {
                bail!("aiosmtpd exited ({status}) before listening");
            }
            if Instant::now() > deadline {
                bail!("aiosmtpd did not listen on {addr} within 15 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(Self {
            child,
            port,
            maildir: maildir.to_owned(),
            python: bin.join("python"),
        })
    }

    /// Every message received so far.
    pub fn messages(&self) -> Result<Vec<Mail>> {
        if !self.maildir.join("new").exists() {
            return Ok(Vec::new());
        }
        let output = Command::new(&self.python)
            .args(["-c", READ_MAILDIR])
            .arg(&self.maildir)
            .output()
            .context("reading the maildir")?;
        if !output.status.success() {
            bail!(
                "reading the maildir failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(serde_json::from_slice(&output.stdout)?)
    }

    /// Waits up to `timeout` for the messages to `recipient` matching `pred`.
    pub fn wait_for(
        &self,
        recipient: &str,
        timeout: Duration,
        pred: impl Fn(&Mail) -> bool,
    ) -> Result<Vec<Mail>> {
        wait_for_mail(|| self.messages(), recipient, timeout, pred)
    }

    /// Stops the server.
    pub fn stop(mut self) -> Result<()> {
        self.child.terminate(Duration::from_secs(5)).map(|_| ())
    }
}

/// Waits up to `timeout` until `mails` lists messages to `recipient`
/// matching `pred`, and returns them.
pub fn wait_for_mail(
    mails: impl Fn() -> Result<Vec<Mail>>,
    recipient: &str,
    timeout: Duration,
    pred: impl Fn(&Mail) -> bool,
) -> Result<Vec<Mail>> {
    let deadline = Instant::now() + timeout;
    loop {
        let found: Vec<Mail> = mails()?
            .into_iter()
            .filter(|m| m.rcpt_to.contains(recipient) && pred(m))
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
        if Instant::now() > deadline {
            bail!("no matching mail to {recipient} within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
