//! A minimal blocking HTTP/1.1 GET, enough for readiness polling without an HTTP client crate.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};

/// Sends `GET path` to `addr` and returns the response status code.
pub fn get_status(addr: SocketAddr, path: &str, timeout: Duration) -> Result<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    // One write: a server may answer and close after its first read.
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: xtask\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .with_context(|| format!("sending GET {path} to {addr}"))?;
    // The status line is all we need: "HTTP/1.1 200 OK".
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() {
        let n = stream
            .read(&mut head[len..])
            .context("reading the response")?;
        if n == 0 {
            break;
        }
        len += n;
        if head[..len].contains(&b'\n') {
            break;
        }
    }
    // Drain the (small) rest of the response so closing does not reset the
    // connection under the server's feet (servers log that as an error).
    let mut rest = [0u8; 4096];
    let mut drained = 0usize;
    while drained < 1 << 20 {
        match stream.read(&mut rest) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    parse_status(&head[..len]).with_context(|| {
        format!(
            "unexpected response from {addr}: {:?}",
            String::from_utf8_lossy(&head[..len])
        )
    })
}

fn parse_status(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(
            parse_status(b"HTTP/1.1 503 Service Unavailable\r\n"),
            Some(503)
        );
        assert_eq!(parse_status(b"garbage"), None);
    }

    #[test]
    fn gets_status_from_a_server() -> Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let server = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut conn, _) = listener.accept()?;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 512];
            while !buf.ends_with(b"\r\n\r\n") {
                match conn.read(&mut chunk)? {
                    0 => break,
                    n => buf.extend_from_slice(&chunk[..n]),
                }
            }
            conn.write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
        });
        assert_eq!(get_status(addr, "/ready", Duration::from_secs(5))?, 503);
        server.join().expect("server thread")?;
        Ok(())
    }
}
