//! A native load tool for `orchard serve` on loopback (BENCHMARKS.md,
//! "Serving"): N clients post one photo back to back for a bounded time over
//! keep-alive HTTP/1.1 connections, on one tokio thread, so the client takes
//! little of the cores it shares with the service.
//!
//! ```text
//! cargo run --release -p orchard-serve --example load -- 127.0.0.1:8080 PHOTO.jpg 200 20
//! ```
//!
//! Arguments: address, photo, clients, seconds. Prints answered/s, statuses,
//! p50/p99 latency of the 200s, connection errors (with their kinds), and the
//! mean model batch from `/metrics`. A 503 is followed by a wait of its
//! `Retry-After` seconds, as a well-behaved client does.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One answered request: status and latency; or a connection error.
enum Outcome {
    Answer {
        status: u16,
        latency: Duration,
        retry_after: u64,
    },
    Error(String),
}

async fn post(
    conn: &mut Option<BufReader<TcpStream>>,
    addr: &str,
    head: &[u8],
    body: &[u8],
) -> Outcome {
    let start = Instant::now();
    let result: std::io::Result<(u16, u64, bool)> = async {
        if conn.is_none() {
            *conn = Some(BufReader::new(TcpStream::connect(addr).await?));
        }
        let stream = conn.as_mut().expect("connected");
        stream.get_mut().write_all(head).await?;
        stream.get_mut().write_all(body).await?;
        let mut line = String::new();
        stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut retry, mut close) = (0usize, 0u64, false);
        loop {
            line.clear();
            stream.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.parse().unwrap_or(0),
                "retry-after" => retry = value.parse().unwrap_or(1),
                "connection" => close = value.eq_ignore_ascii_case("close"),
                _ => {}
            }
        }
        let mut sink = vec![0u8; length];
        stream.read_exact(&mut sink).await?;
        Ok((status, retry, close))
    }
    .await;
    match result {
        Ok((status, retry_after, close)) => {
            if close {
                *conn = None;
            }
            Outcome::Answer {
                status,
                latency: start.elapsed(),
                retry_after,
            }
        }
        Err(e) => {
            *conn = None;
            Outcome::Error(format!("{:?}", e.kind()))
        }
    }
}

async fn mean_batch(addr: &str) -> Option<f64> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await.ok()?;
    let value = |name: &str| -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))?
            .rsplit_once(' ')?
            .1
            .parse()
            .ok()
    };
    Some(value("orchard_model_batch_size_sum")? / value("orchard_model_batch_size_count")?)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, photo, clients, seconds] = args.as_slice() else {
        eprintln!(
            "usage: load ADDRESS PHOTO CLIENTS SECONDS (e.g. 127.0.0.1:8080 apple.jpg 200 20)"
        );
        std::process::exit(2);
    };
    assert!(
        addr.starts_with("127.") || addr.starts_with("localhost") || addr.starts_with("[::1]"),
        "loopback only"
    );
    let body = std::fs::read(photo).expect("read the photo");
    let clients: usize = clients.parse().expect("clients");
    let seconds: f64 = seconds.parse().expect("seconds");
    let head = format!(
        "POST /v1/identify HTTP/1.1\r\nHost: {addr}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let batch_before = mean_batch(addr).await;
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (addr, head, body) = (addr.clone(), head.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let mut conn = None;
                let mut outcomes = Vec::new();
                while Instant::now() < deadline {
                    let outcome = post(&mut conn, &addr, head.as_bytes(), &body).await;
                    if let Outcome::Answer { retry_after, .. } = &outcome {
                        if *retry_after > 0 {
                            tokio::time::sleep(Duration::from_secs(*retry_after)).await;
                        }
                    }
                    outcomes.push(outcome);
                }
                outcomes
            }));
        }
        let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        let mut ok_latencies = Vec::new();
        for task in tasks {
            for outcome in task.await.expect("client task") {
                match outcome {
                    Outcome::Answer {
                        status, latency, ..
                    } => {
                        *statuses.entry(status).or_default() += 1;
                        if status == 200 {
                            ok_latencies.push(latency.as_secs_f64() * 1000.0);
                        }
                    }
                    Outcome::Error(kind) => *errors.entry(kind).or_default() += 1,
                }
            }
        }
        let elapsed = started.elapsed().as_secs_f64();
        ok_latencies.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            ok_latencies
                .get(
                    ((ok_latencies.len() as f64 * p) as usize)
                        .min(ok_latencies.len().saturating_sub(1)),
                )
                .copied()
                .unwrap_or(f64::NAN)
        };
        println!(
            "{clients} clients, {elapsed:.1} s: {:.1} answered (200) per s; statuses {statuses:?}; \
             connection errors {errors:?}",
            ok_latencies.len() as f64 / elapsed
        );
        println!("200s: p50 {:.0} ms, p99 {:.0} ms", pct(0.5), pct(0.99));
        if let (Some(before), Some(after)) = (batch_before, mean_batch(addr).await) {
            println!("mean model batch since start: {after:.2} (before this run {before:.2})");
        }
    });
}
