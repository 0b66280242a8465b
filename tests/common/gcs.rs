//! A small Google Cloud Storage server for the gs:// tests: the XML API
//! calls object_store's GCS client makes (PUT, GET, HEAD, DELETE of objects,
//! list-type=2 listing), over plain HTTP on 127.0.0.1, storing objects in
//! memory for real. The PyPI emulators reject object_store's uploads.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub type Objects = Arc<Mutex<BTreeMap<String, Vec<u8>>>>;

pub struct FakeGcs {
    pub url: String,
    pub objects: Objects,
}

impl FakeGcs {
    pub fn start() -> FakeGcs {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fake GCS");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let objects: Objects = Arc::default();
        let shared = objects.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let objects = shared.clone();
                std::thread::spawn(move || serve(stream, &objects));
            }
        });
        FakeGcs { url, objects }
    }

    /// A service-account key that points object_store at this server
    /// without OAuth.
    pub fn service_account_key(&self) -> String {
        serde_json::json!({
            "private_key": "unused",
            "private_key_id": "unused",
            "client_email": "test@rdbt.invalid",
            "disable_oauth": true,
            "gcs_base_url": self.url,
        })
        .to_string()
    }

    /// Object names under `prefix` (bucket included: `bucket/path`).
    pub fn names(&self, prefix: &str) -> Vec<String> {
        self.objects
            .lock()
            .expect("objects")
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&path[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else if bytes[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// `Range: bytes=a-b` (or `a-`, or `-n`) as a half-open byte range.
fn headers_range(headers: &BTreeMap<String, String>, len: usize) -> Option<(usize, usize)> {
    let spec = headers.get("range")?.strip_prefix("bytes=")?;
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.parse::<usize>().ok(), b.parse::<usize>().ok()) {
        (Some(a), Some(b)) => (a, b + 1),
        (Some(a), None) => (a, len),
        (None, Some(n)) => (len.saturating_sub(n), len),
        (None, None) => return None,
    };
    let end = end.min(len);
    (start < end).then_some((start, end))
}

fn serve(stream: TcpStream, objects: &Objects) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut request_headers = BTreeMap::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                request_headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let headers = &request_headers;
        let length: usize = headers
            .get("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let name = decode(path.trim_start_matches('/'));
        let query: BTreeMap<String, String> = query
            .split('&')
            .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let etag = |data: &[u8]| format!("\"{}\"", data.len());
        let modified = ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT".to_string());
        match method {
            "PUT" => {
                let data = match headers.get("x-goog-copy-source") {
                    Some(source) => objects
                        .lock()
                        .expect("objects")
                        .get(&decode(source))
                        .cloned()
                        .unwrap_or_default(),
                    None => body,
                };
                let tag = etag(&data);
                objects.lock().expect("objects").insert(name, data);
                respond(
                    &mut stream,
                    "200 OK",
                    &[("ETag", tag), ("x-goog-generation", "1".into())],
                    b"",
                );
            }
            "GET" | "HEAD" if query.contains_key("list-type") => {
                let bucket = name.trim_end_matches('/');
                let prefix = query.get("prefix").cloned().unwrap_or_default();
                let mut xml =
                    String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult>");
                for (key, data) in objects.lock().expect("objects").iter() {
                    let Some(object) = key.strip_prefix(&format!("{bucket}/")) else {
                        continue;
                    };
                    if object.starts_with(&prefix) {
                        xml.push_str(&format!(
                            "<Contents><Key>{object}</Key><Size>{}</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>{}</ETag></Contents>",
                            data.len(),
                            etag(data)
                        ));
                    }
                }
                xml.push_str("</ListBucketResult>");
                respond(
                    &mut stream,
                    "200 OK",
                    &[("Content-Type", "application/xml".into())],
                    xml.as_bytes(),
                );
            }
            "GET" | "HEAD" => {
                let found = objects.lock().expect("objects").get(&name).cloned();
                match found {
                    Some(data) => {
                        let headers = [
                            ("ETag", etag(&data)),
                            modified.clone(),
                            ("x-goog-generation", "1".into()),
                        ];
                        if method == "HEAD" {
                            let head = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nETag: {}\r\nLast-Modified: {}\r\n\r\n",
                                data.len(),
                                etag(&data),
                                modified.1
                            );
                            let _ = stream.write_all(head.as_bytes());
                        } else if let Some((start, end)) =
                            headers_range(&request_headers, data.len())
                        {
                            // Range reads (Parquet footers, the start of a file).
                            let mut with_range = headers.to_vec();
                            with_range.push((
                                "Content-Range",
                                format!("bytes {start}-{}/{}", end - 1, data.len()),
                            ));
                            respond(
                                &mut stream,
                                "206 Partial Content",
                                &with_range,
                                &data[start..end],
                            );
                        } else {
                            respond(&mut stream, "200 OK", &headers, &data);
                        }
                    }
                    None => respond(
                        &mut stream,
                        "404 Not Found",
                        &[],
                        b"<Error><Code>NoSuchKey</Code></Error>",
                    ),
                }
            }
            "DELETE" => {
                let existed = objects.lock().expect("objects").remove(&name).is_some();
                if existed {
                    respond(&mut stream, "204 No Content", &[], b"");
                } else {
                    respond(&mut stream, "404 Not Found", &[], b"");
                }
            }
            _ => respond(&mut stream, "501 Not Implemented", &[], b""),
        }
    }
}
