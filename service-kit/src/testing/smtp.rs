//! A small real SMTP server for tests: it listens on `127.0.0.1:<free port>`,
//! speaks enough SMTP for lettre and other clients (220 greeting, EHLO/HELO,
//! MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET, NOOP, QUIT), records
//! every message it accepts, and can be told to refuse transactions with a
//! transient `451` to exercise retries.
//!
//! ```no_run
//! # async fn example() {
//! use service_kit::testing::smtp::{FailAt, SmtpServer};
//! use std::time::Duration;
//!
//! let smtp = SmtpServer::start().await;
//! smtp.fail_next(2, FailAt::MailFrom); // the next two transactions get 451
//! // ... point the service at smtp.host() / smtp.port() (no TLS) ...
//! let mails = smtp.wait_for(1, Duration::from_secs(10)).await;
//! assert_eq!(mails[0].to, vec!["ada@example.com".to_owned()]);
//! # }
//! ```
//!
//! Not implemented: AUTH, STARTTLS, SIZE limits, pipelining beyond reading
//! one command per line (clients that pipeline still work: replies are sent
//! in order).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Where an injected failure refuses a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAt {
    /// `MAIL FROM` is answered `451` (nothing is transferred).
    MailFrom,
    /// The end of `DATA` (the final `.`) is answered `451`: the message was
    /// transferred but is not accepted, and not recorded.
    EndOfData,
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`), without angle brackets.
    pub from: String,
    /// The envelope recipients (`RCPT TO`), without angle brackets.
    pub to: Vec<String>,
    /// The message as transferred (headers and body, CRLF line ends,
    /// dot-unstuffed, without the final `.`).
    pub data: Vec<u8>,
}

impl ReceivedMail {
    /// The message as text (lossy for non-UTF-8 bytes).
    pub fn data_str(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

#[derive(Debug, Default)]
struct State {
    received: Vec<ReceivedMail>,
    /// Transactions still to refuse (`None`: refuse them all).
    fail_remaining: Option<usize>,
    fail_at: Option<FailAt>,
    refused: usize,
    transactions: usize,
}

/// A running SMTP server; it stops when dropped.
pub struct SmtpServer {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
    accept: JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panicking test thread must not hide the messages from the others.
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SmtpServer {
    /// Starts the server on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the SMTP test server");
        let addr = listener.local_addr().expect("bound address");
        let state = Arc::new(Mutex::new(State::default()));
        let arrived = Arc::new(Notify::new());
        let accept = {
            let state = Arc::clone(&state);
            let arrived = Arc::clone(&arrived);
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let state = Arc::clone(&state);
                    let arrived = Arc::clone(&arrived);
                    tokio::spawn(async move {
                        let _ = session(stream, state, arrived).await;
                    });
                }
            })
        };
        Self {
            addr,
            state,
            arrived,
            accept,
        }
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `"127.0.0.1"`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// Refuses the next `n` transactions with `451` at `at`, then accepts
    /// again.
    pub fn fail_next(&self, n: usize, at: FailAt) {
        let mut state = lock(&self.state);
        state.fail_remaining = Some(n);
        state.fail_at = Some(at);
    }

    /// Refuses every transaction with `451` at `at` until [`Self::recover`].
    pub fn fail_all(&self, at: FailAt) {
        let mut state = lock(&self.state);
        state.fail_remaining = None;
        state.fail_at = Some(at);
    }

    /// Accepts every transaction again.
    pub fn recover(&self) {
        let mut state = lock(&self.state);
        state.fail_remaining = Some(0);
        state.fail_at = None;
    }

    /// The messages accepted so far, in arrival order.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.state).received.clone()
    }

    /// How many messages were accepted so far.
    pub fn message_count(&self) -> usize {
        lock(&self.state).received.len()
    }

    /// How many transactions were refused by an injected failure.
    pub fn refused(&self) -> usize {
        lock(&self.state).refused
    }

    /// How many transactions were started (`MAIL FROM` received), refused
    /// ones included.
    pub fn transactions(&self) -> usize {
        lock(&self.state).transactions
    }

    /// Waits until at least `n` messages have arrived and returns them all;
    /// panics after `timeout`.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let received = self.messages();
            if received.len() >= n {
                return received;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "expected {n} message(s) within {timeout:?}, got {}",
                    self.message_count()
                );
            }
        }
    }

    /// Whether an injected failure applies to this transaction at `at`; a
    /// counted failure is used up.
    fn should_fail(state: &mut State, at: FailAt) -> bool {
        if state.fail_at != Some(at) {
            return false;
        }
        match state.fail_remaining {
            None => {
                state.refused += 1;
                true
            }
            Some(0) => false,
            Some(n) => {
                state.fail_remaining = Some(n - 1);
                state.refused += 1;
                true
            }
        }
    }
}

/// The address inside `FROM:<a@b> PARAMS` / `TO:<a@b>`.
fn path_argument(rest: &str) -> String {
    let rest = rest.trim();
    match (rest.find('<'), rest.find('>')) {
        (Some(open), Some(close)) if close > open => rest[open + 1..close].to_owned(),
        _ => rest
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

async fn session(
    stream: TcpStream,
    state: Arc<Mutex<State>>,
    arrived: Arc<Notify>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write
        .write_all(b"220 localhost ESMTP test server\r\n")
        .await?;
    let mut from: Option<String> = None;
    let mut to: Vec<String> = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        let upper = text.to_ascii_uppercase();
        let verb = upper.split_whitespace().next().unwrap_or_default();
        let reply: &[u8] = match verb {
            "EHLO" => {
                b"250-localhost greets you\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 PIPELINING\r\n"
            }
            "HELO" => b"250 localhost\r\n",
            "MAIL" if upper.starts_with("MAIL FROM:") => {
                let mut guard = lock(&state);
                guard.transactions += 1;
                if SmtpServer::should_fail(&mut guard, FailAt::MailFrom) {
                    from = None;
                    to.clear();
                    b"451 4.3.0 Temporary failure, try again later\r\n"
                } else {
                    from = Some(path_argument(&text["MAIL FROM:".len()..]));
                    to.clear();
                    b"250 2.1.0 OK\r\n"
                }
            }
            "RCPT" if upper.starts_with("RCPT TO:") => {
                if from.is_none() {
                    b"503 5.5.1 MAIL first\r\n"
                } else {
                    to.push(path_argument(&text["RCPT TO:".len()..]));
                    b"250 2.1.5 OK\r\n"
                }
            }
            "DATA" => {
                if from.is_none() || to.is_empty() {
                    b"503 5.5.1 RCPT first\r\n"
                } else {
                    write
                        .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let data = read_data(&mut reader).await?;
                    let mut guard = lock(&state);
                    let envelope_from = from.take().unwrap_or_default();
                    let envelope_to = std::mem::take(&mut to);
                    if SmtpServer::should_fail(&mut guard, FailAt::EndOfData) {
                        b"451 4.3.0 Temporary failure, try again later\r\n"
                    } else {
                        guard.received.push(ReceivedMail {
                            from: envelope_from,
                            to: envelope_to,
                            data,
                        });
                        drop(guard);
                        arrived.notify_waiters();
                        b"250 2.0.0 OK: queued\r\n"
                    }
                }
            }
            "RSET" => {
                from = None;
                to.clear();
                b"250 2.0.0 OK\r\n"
            }
            "NOOP" => b"250 2.0.0 OK\r\n",
            "VRFY" => b"252 2.0.0 Cannot VRFY\r\n",
            "QUIT" => {
                write.write_all(b"221 2.0.0 Bye\r\n").await?;
                return Ok(());
            }
            _ => b"500 5.5.2 Command not recognized\r\n",
        };
        write.write_all(reply).await?;
    }
}

/// Reads DATA lines up to the lone `.`, undoing dot-stuffing.
async fn read_data<R: AsyncBufReadExt + Unpin>(reader: &mut R) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let content = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(&line);
        if content == b"." {
            return Ok(data);
        }
        let content = content.strip_prefix(b".").unwrap_or(content);
        data.extend_from_slice(content);
        data.extend_from_slice(b"\r\n");
    }
}
