//! `orchard serve` for the serve and uploads tests: the process on a free
//! port, raw HTTP/1.1 requests and their replies, and one small classifier
//! bundle trained once per test run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::common::{assert_ok, orchard, subset};

/// A running `orchard serve`, stopped when dropped.
pub struct Server {
    pub child: Child,
    /// `127.0.0.1:PORT`, as the service printed it.
    pub addr: String,
}

impl Server {
    /// `orchard serve --classifier CLASSIFIER --bind 127.0.0.1:0 EXTRA…`.
    pub fn start(classifier: &Path, extra: &[&str]) -> Server {
        Server::spawn(
            Command::new(env!("CARGO_BIN_EXE_orchard")),
            classifier,
            extra,
        )
    }

    /// As [`Server::start`], from `cmd` (the binary, with its environment).
    pub fn spawn(mut cmd: Command, classifier: &Path, extra: &[&str]) -> Server {
        let mut child = cmd
            .args([
                "serve",
                "--classifier",
                classifier.to_str().unwrap(),
                "--bind",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("start orchard serve");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = match lines.next() {
                Some(Ok(line)) => line,
                _ => panic!("serve stopped before serving: {:?}", child.wait()),
            };
            if let Some(at) = line.find("serving on http://") {
                break line[at + "serving on http://".len()..].trim().to_string();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
    }

    /// One request on a new connection.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Reply {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        // A server may answer (413) before reading everything: ignore write errors.
        let _ = stream.write_all(body);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        Reply::parse(&raw)
    }

    /// `POST path` with a content type.
    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Reply {
        self.request("POST", path, &[("Content-Type", content_type)], body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP reply: status, headers (names lowercase) and the body (chunked
/// transfer decoded).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// Parses a whole HTTP/1.1 reply.
    pub fn parse(raw: &[u8]) -> Reply {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or(raw.len());
        let head = String::from_utf8_lossy(&raw[..split]);
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = raw.get(split + 4..).unwrap_or_default().to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"))
        {
            body = unchunk(&body);
        }
        Reply {
            status,
            headers,
            body,
        }
    }

    /// The body as JSON (panics with the reply otherwise).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&body[..end]).trim(), 16).unwrap_or(0);
        if size == 0 || body.len() < end + 4 + size {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 4 + size..];
    }
    out
}

/// A four-species classifier bundle, trained once per test run (under the
/// build folder's scratch space, replaced each run) for every test that
/// serves.
pub fn small_model() -> &'static Path {
    static MODEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-model");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let photos = subset(
            &dir,
            &[
                ("apple", 40),
                ("lemon", 40),
                ("mango", 40),
                ("raspberry", 40),
            ],
        );
        let model = dir.join("fruit-model");
        assert_ok(&orchard(&[
            "train",
            photos.to_str().unwrap(),
            "--classifier",
            model.to_str().unwrap(),
        ]));
        model
    })
}
