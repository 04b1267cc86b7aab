"""Load test of `orchard serve` on loopback (BENCHMARKS.md, "Serving").

    .venv/bin/python bench/serve_load.py http://127.0.0.1:8080 PHOTO.jpg --clients 200 --seconds 20
    .venv/bin/python bench/serve_load.py http://127.0.0.1:8080 PHOTO.jpg --rate 20 --seconds 20

Closed loop (--clients N): N threads post the photo back to back. Open loop
(--rate R): one request every 1/R s; clients wait Retry-After on 503, each on its own thread, so latency
includes any queueing. Bounded in time; only loopback. Prints requests/s,
p50/p99 latency by status, and the mean model batch size from /metrics.
The client runs on the same cores as the service, which lowers the figures.
"""
import argparse, http.client, threading, time, urllib.parse

p = argparse.ArgumentParser()
p.add_argument("url"); p.add_argument("photo")
p.add_argument("--clients", type=int, default=0); p.add_argument("--rate", type=float, default=0)
p.add_argument("--seconds", type=float, default=20)
a = p.parse_args()
u = urllib.parse.urlparse(a.url)
assert u.hostname in ("127.0.0.1", "localhost", "::1"), "loopback only"
body = open(a.photo, "rb").read()
results, lock = [], threading.Lock()

def one():
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    t = time.perf_counter()
    try:
        c.request("POST", "/v1/identify", body, {"Content-Type": "image/jpeg"})
        r = c.getresponse(); r.read(); status = r.status
        retry = float(r.getheader("Retry-After") or 0) if status == 503 else 0
    except Exception:
        status, retry = 0, 0
    with lock:
        results.append((status, time.perf_counter() - t))
    c.close()
    time.sleep(retry)  # a client that honours Retry-After

def metric(name):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10); c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    return {l.split(" ")[0]: float(l.split(" ")[1]) for l in text.splitlines() if l.startswith(name)}

before = metric("orchard_model_batch_size")
end = time.perf_counter() + a.seconds
threads = []
if a.clients:
    def loop():
        while time.perf_counter() < end: one()
    threads = [threading.Thread(target=loop) for _ in range(a.clients)]
    for t in threads: t.start()
else:
    n = 0; start = time.perf_counter()
    while time.perf_counter() < end:
        t = threading.Thread(target=one); t.start(); threads.append(t); n += 1
        time.sleep(max(0, start + n / a.rate - time.perf_counter()))
for t in threads: t.join()
after = metric("orchard_model_batch_size")
calls = after["orchard_model_batch_size_count"] - before["orchard_model_batch_size_count"]
photos = after["orchard_model_batch_size_sum"] - before["orchard_model_batch_size_sum"]
ok = sorted(l for s, l in results if s == 200)
by = {}
for s, _ in results: by[s] = by.get(s, 0) + 1
q = lambda xs, f: xs[min(len(xs) - 1, int(f * len(xs)))] * 1e3 if xs else float("nan")
print(f"requests {len(results)} in {a.seconds:.0f} s: {len(ok) / a.seconds:.1f} answered/s; statuses {by}")
print(f"latency of 200s: p50 {q(ok, .5):.0f} ms, p99 {q(ok, .99):.0f} ms; mean batch {photos / max(calls, 1):.2f} over {calls:.0f} model calls")
