//! `rdbt docs serve`: the generated site over HTTP. Only files under the
//! site folder are served (no listing, no path outside it), GET and HEAD
//! only, bound to loopback unless told otherwise.

use super::DocsError;
use std::path::{Component, Path, PathBuf};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct Server {
    listener: TcpListener,
    root: PathBuf,
}

/// Binds `host:port` (port 0 picks a free one) for the site in `root`.
pub async fn serve(root: &Path, host: &str, port: u16) -> Result<Server, DocsError> {
    let address = format!("{host}:{port}");
    let listener = TcpListener::bind(&address)
        .await
        .map_err(|source| DocsError::Bind {
            address: address.clone(),
            source,
        })?;
    let root = root.canonicalize().map_err(|e| DocsError::Artifact {
        path: root.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(Server { listener, root })
}

impl Server {
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// Answers requests until the process ends.
    pub async fn run(self) {
        let root = std::sync::Arc::new(self.root);
        loop {
            let Ok((stream, _)) = self.listener.accept().await else {
                continue;
            };
            let root = root.clone();
            tokio::spawn(async move {
                let _ = answer(stream, &root).await;
            });
        }
    }
}

async fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 16 * 1024 {
            return respond(
                &mut stream,
                431,
                "text/plain",
                b"request header too large",
                true,
            )
            .await;
        }
    }
    let text = String::from_utf8_lossy(&head);
    let mut parts = text.lines().next().unwrap_or_default().split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let with_body = method == "GET";
    if method != "GET" && method != "HEAD" {
        return respond(&mut stream, 405, "text/plain", b"only GET and HEAD", true).await;
    }
    let Some(path) = resolve(root, target) else {
        return respond(&mut stream, 400, "text/plain", b"bad path", with_body).await;
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => respond(&mut stream, 200, content_type(&path), &bytes, with_body).await,
        Err(_) => respond(&mut stream, 404, "text/plain", b"not found", with_body).await,
    }
}

/// The file a request target names inside `root`, or None when it would
/// leave it (`..`, absolute parts, symlinks pointing out) or is malformed.
pub(crate) fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_decode(path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for component in Path::new(decoded.trim_start_matches('/')).components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    if out.is_dir() {
        out.push("index.html");
    }
    match out.canonicalize() {
        Ok(real) => real.starts_with(root).then_some(real),
        // Missing: answered with 404 when read.
        Err(_) => Some(out),
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &[u8],
    with_body: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Request Header Fields Too Large",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\ncache-control: no-cache\r\nx-content-type-options: nosniff\r\ncontent-security-policy: default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_outside_the_site_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        std::fs::create_dir_all(site.join("data")).unwrap();
        std::fs::write(site.join("index.html"), "x").unwrap();
        std::fs::write(site.join("data/a b.js"), "x").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "x").unwrap();
        let root = site.canonicalize().unwrap();
        assert_eq!(resolve(&root, "/").unwrap(), root.join("index.html"));
        assert_eq!(
            resolve(&root, "/data/a%20b.js?x=1").unwrap(),
            root.join("data/a b.js")
        );
        assert_eq!(
            resolve(&root, "/missing.js").unwrap(),
            root.join("missing.js")
        );
        for bad in [
            "/../secret.txt",
            "/data/../../secret.txt",
            "/%2e%2e/secret.txt",
            "/..%2fsecret.txt",
            "/data/%00",
            "/..\\secret.txt",
            "/%zz",
        ] {
            assert_eq!(resolve(&root, bad), None, "{bad}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("secret.txt"), site.join("link")).unwrap();
            assert_eq!(resolve(&root, "/link"), None);
        }
    }
}
