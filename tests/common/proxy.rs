//! A loopback HTTP proxy in front of a real registry: counts requests,
//! injects faults (a status, 429 with Retry-After, a connection cut in the
//! middle of a response) and can demand Bearer tokens that its own token
//! endpoint issues for Basic credentials.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// One injected failure.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status.
    Status(u16),
    /// 429 with `Retry-After: SECONDS`.
    TooMany(u64),
    /// Forward, then cut the response after half of it.
    Cut,
}

#[derive(Default)]
struct State {
    /// (method, path without query) -> count.
    hits: HashMap<(String, String), usize>,
    /// (method, path prefix) -> faults to use up.
    faults: Vec<((String, String), VecDeque<Fault>)>,
}

/// Bearer settings: the token the proxy issues for `user:password`.
#[derive(Debug, Clone)]
pub struct Bearer {
    pub user: String,
    pub password: String,
    pub token: String,
}

pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream: String, bearer: Option<Bearer>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (state, upstream, bearer) = (state2.clone(), upstream.clone(), bearer.clone());
                thread::spawn(move || serve(stream, &upstream, &state, bearer.as_ref(), addr));
            }
        });
        Proxy { addr, state, stop }
    }

    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Queues faults for requests whose method matches and path starts with `prefix`.
    pub fn fault(&self, method: &str, prefix: &str, faults: Vec<Fault>) {
        self.state
            .lock()
            .unwrap()
            .faults
            .push(((method.to_string(), prefix.to_string()), faults.into()));
    }

    /// Requests with this method whose path starts with `prefix`.
    pub fn hits(&self, method: &str, prefix: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .hits
            .iter()
            .filter(|((m, p), _)| m == method && p.starts_with(prefix))
            .map(|(_, n)| n)
            .sum()
    }

    /// Every (method, path) seen, with counts.
    pub fn all_hits(&self) -> HashMap<(String, String), usize> {
        self.state.lock().unwrap().hits.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// Method, target, headers and body of one request.
type RawRequest = (String, String, Vec<(String, String)>, Vec<u8>);

fn read_request(stream: &TcpStream) -> Option<RawRequest> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.trim_end().split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
            headers.push((name.to_string(), value.trim().to_string()));
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).ok()?;
    Some((method, target, headers, body))
}

fn respond(stream: &mut TcpStream, status: &str, headers: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn serve(
    mut stream: TcpStream,
    upstream: &str,
    state: &Mutex<State>,
    bearer: Option<&Bearer>,
    me: SocketAddr,
) {
    let Some((method, target, headers, body)) = read_request(&stream) else {
        return;
    };
    let path = target.split('?').next().unwrap_or(&target).to_string();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    if let Some(bearer) = bearer {
        if path == "/token" {
            use base64::Engine as _;
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("{}:{}", bearer.user, bearer.password))
            );
            if header("authorization") == expected {
                let body = format!(r#"{{"token":"{}"}}"#, bearer.token);
                respond(
                    &mut stream,
                    "200 OK",
                    "Content-Type: application/json\r\n",
                    body.as_bytes(),
                );
            } else {
                respond(&mut stream, "401 Unauthorized", "", b"");
            }
            return;
        }
        if header("authorization") != format!("Bearer {}", bearer.token) {
            let challenge = format!(
                "WWW-Authenticate: Bearer realm=\"http://{me}/token\",service=\"test-registry\",scope=\"repository:x:pull\"\r\n"
            );
            respond(
                &mut stream,
                "401 Unauthorized",
                &challenge,
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            );
            return;
        }
    }
    let fault = {
        let mut state = state.lock().unwrap();
        *state.hits.entry((method.clone(), path.clone())).or_default() += 1;
        state
            .faults
            .iter_mut()
            .find(|((m, prefix), queue)| {
                *m == method && path.starts_with(prefix.as_str()) && !queue.is_empty()
            })
            .and_then(|(_, queue)| queue.pop_front())
    };
    match fault {
        Some(Fault::Status(code)) => return respond(&mut stream, &format!("{code} Injected"), "", b""),
        Some(Fault::TooMany(seconds)) => {
            return respond(
                &mut stream,
                "429 Too Many Requests",
                &format!("Retry-After: {seconds}\r\n"),
                b"",
            );
        }
        _ => {}
    }
    // Forward as is (the Host header stays ours, so Location URLs point here).
    let Ok(mut up) = TcpStream::connect(upstream) else {
        return respond(&mut stream, "502 Bad Gateway", "", b"");
    };
    let mut request = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in &headers {
        let dropped = name.eq_ignore_ascii_case("connection")
            || (bearer.is_some() && name.eq_ignore_ascii_case("authorization"));
        if !dropped {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    request.push_str("Connection: close\r\n\r\n");
    let _ = up.write_all(request.as_bytes());
    let _ = up.write_all(&body);
    let mut response = Vec::new();
    let _ = up.read_to_end(&mut response);
    if matches!(fault, Some(Fault::Cut)) {
        let _ = stream.write_all(&response[..response.len() / 2]);
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return;
    }
    let _ = stream.write_all(&response);
}
