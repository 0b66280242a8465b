//! A BigQuery API stand-in that answers from recorded exchanges
//! (tests/fixtures/bigquery_http/*.json), so the adapter's HTTP layer is
//! tested offline, and keeps every request for the test to inspect.
//!
//! A fixture is a list of `{"request": "METHOD /path-prefix", "body_contains":
//! optional text, "status": N, "response": JSON}`; each request takes the
//! first unused exchange that matches it.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub struct Replay {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Replay {
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

pub fn start(fixture: &str) -> Replay {
    let path = super::fixtures_dir().join("bigquery_http").join(fixture);
    let text = std::fs::read_to_string(&path).expect("recorded exchanges");
    let exchanges: Vec<Value> = serde_json::from_str(&text).expect("fixture JSON");
    let used = Arc::new(Mutex::new(vec![false; exchanges.len()]));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() || line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let method = parts.next().unwrap_or("").to_string();
            let target = parts.next().unwrap_or("").to_string();
            let mut headers = Vec::new();
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                    break;
                }
                if let Some((k, v)) = h.trim().split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    headers.push((k.to_ascii_lowercase(), v.trim().to_string()));
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            let body = String::from_utf8_lossy(&body).into_owned();
            let request = Request {
                method: method.clone(),
                path: target.clone(),
                headers,
                body: body.clone(),
            };
            seen.lock().unwrap().push(request);
            let mut used = used.lock().unwrap();
            let found = exchanges.iter().enumerate().find(|(i, e)| {
                let want = e["request"].as_str().unwrap_or("");
                let (m, p) = want.split_once(' ').unwrap_or(("", want));
                !used[*i]
                    && m == method
                    && target.starts_with(p)
                    && e["body_contains"]
                        .as_str()
                        .is_none_or(|needle| body.contains(needle))
            });
            let (status, response) = match found {
                Some((i, e)) => {
                    used[i] = true;
                    (
                        e["status"].as_u64().unwrap_or(200),
                        e["response"].to_string(),
                    )
                }
                None => (
                    599,
                    format!(
                        "{{\"error\": {{\"message\": \"no recorded exchange for {method} {target}\"}}}}"
                    ),
                ),
            };
            let reply = format!(
                "HTTP/1.1 {status} Recorded\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{response}",
                response.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    Replay { url, requests }
}
