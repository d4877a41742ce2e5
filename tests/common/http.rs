//! A small HTTP/1.1 file server on 127.0.0.1 (ephemeral port) for tests,
//! serving a folder, with injectable faults per path and hit counters.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// What to do instead of answering normally, once.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status and no body.
    Status(u16),
    /// 429 with `Retry-After: SECONDS`.
    TooMany(u64),
    /// Send the headers and half the body, then close the connection.
    CutBody,
}

#[derive(Default)]
struct State {
    hits: HashMap<String, usize>,
    faults: HashMap<String, VecDeque<Fault>>,
}

pub struct Server {
    pub addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `root` until dropped.
    pub fn serve_dir(root: PathBuf) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (state2, stop2) = (state.clone(), stop.clone());
        let handle = thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (root, state) = (root.clone(), state2.clone());
                thread::spawn(move || handle(stream, &root, &state));
            }
        });
        Server {
            addr,
            state,
            stop,
            handle: Some(handle),
        }
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Queues faults for requests of `path` (then it answers normally).
    pub fn fault(&self, path: &str, faults: Vec<Fault>) {
        self.state
            .lock()
            .unwrap()
            .faults
            .insert(path.to_string(), faults.into());
    }

    /// Requests seen for `path`.
    pub fn hits(&self, path: &str) -> usize {
        self.state.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    /// Requests seen in all.
    pub fn total_hits(&self) -> usize {
        self.state.lock().unwrap().hits.values().sum()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn handle(stream: TcpStream, root: &std::path::Path, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts
        .next()
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .to_string();
    let fault = {
        let mut state = state.lock().unwrap();
        *state.hits.entry(path.clone()).or_default() += 1;
        state.faults.get_mut(&path).and_then(VecDeque::pop_front)
    };
    let mut stream = stream;
    let file = root.join(path.trim_start_matches('/'));
    let body = if file.is_file() {
        std::fs::read(&file).ok()
    } else {
        None
    };
    let respond = |stream: &mut TcpStream, status: &str, extra: &str, body: &[u8], send: usize| {
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        if method != "HEAD" {
            let _ = stream.write_all(&body[..send]);
        }
        let _ = stream.flush();
    };
    match (fault, body) {
        (Some(Fault::Status(code)), _) => respond(&mut stream, &format!("{code} Fault"), "", b"", 0),
        (Some(Fault::TooMany(seconds)), _) => respond(
            &mut stream,
            "429 Too Many Requests",
            &format!("Retry-After: {seconds}\r\n"),
            b"",
            0,
        ),
        (Some(Fault::CutBody), Some(body)) => {
            let half = body.len() / 2;
            respond(&mut stream, "200 OK", "", &body, half);
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        (_, Some(body)) => respond(&mut stream, "200 OK", "", &body, body.len()),
        (_, None) => respond(&mut stream, "404 Not Found", "", b"", 0),
    }
}
