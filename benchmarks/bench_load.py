"""Twenty users at once against the real server on 127.0.0.1; write a markdown table.

Run::

    DEEPLING_CIFAR10=/path/to/cifar10 python benchmarks/bench_load.py

What it does, all on loopback and bounded (``--timeout``, default 900 s, then it stops):

1. starts ``python run.py`` (the demo CNN on CIFAR-10's 10,000 test images) on a free port;
2. **single session**: the twenty projections one after another (each submitted, followed
   to its result, then the next), images/s;
3. **twenty sessions**: the same twenty sizes (50–1,000 images each, fresh seeds so nothing
   is cached) submitted at once by twenty clients that poll their status, while two more
   clients fetch thumbnails and ``/health`` (the light requests) all along; images/s, the
   projection times (submit → result), the light requests' p99 (two clients, a request
   every ``--light-interval`` each), errors, cross-talk (every
   answer must have the size and classes it asked for), and the server's peak RSS; the job
   pool runs queued projections of one model and data as one shared forward pass, and
   ``/health`` counts the images the jobs asked for and the ones that went through the model;
4. **200 sequential requests** (projections of 10 images, thumbnails, health, refused bad
   bodies, 50 each) with the server's RSS at the start and the end.

The ratio (2 ÷ 3 in throughput) is measured in one run, side by side; absolute times vary
with the machine's load, which the table names (``uptime``).
"""

from __future__ import annotations

import _thread
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.browser import running_app  # noqa: E402
from tests.reliability import call, project, rss_mb, server_pid  # noqa: E402

OUT = ROOT / "benchmarks" / "results" / "load.md"


def sizes(n: int = 20, top: int = 1000, seed: int = 18) -> list[int]:
    return [int(s) for s in np.random.default_rng(seed).integers(min(50, top), top + 1, n)]


def timed_projection(base, count, seed, positions=None):
    start = time.perf_counter()
    submitted, result = project(base, {"mode": "random", "count": count, "seed": seed},
                                timeout=600, seen_positions=positions)
    took = time.perf_counter() - start
    ok = len(result["indices"]) == count and submitted["choice"]["seed"] == seed
    return took, ok


def light_requests(base, stop, latencies, errors, interval):
    i = 0
    while not stop.wait(interval):
        url = f"{base}/api/images/demo/default/{i % 10000}.png" if i % 2 else base + "/health"
        start = time.perf_counter()
        try:
            status = call(url, timeout=120)[0]
        except OSError as exc:  # a timeout or a refused connection is an error, counted
            status = type(exc).__name__
        latencies.append(time.perf_counter() - start)
        if status != 200:
            errors.append(status)
        i += 1


def peak_rss(pid, stop, peak):
    while not stop.is_set():
        try:
            peak[0] = max(peak[0], rss_mb(pid))
        except Exception:  # noqa: BLE001 - the server has stopped
            return
        time.sleep(0.2)


def sharing(base) -> dict:
    """The server's shared-pass counts so far (``/health``)."""
    return call(base + "/health")[2]["sharing"]


def shared_row(before, after) -> str:
    got = {k: after[k] - before[k] for k in after}
    return (f"{got['jobs']} jobs in {got['runs']} runs; {got['images_requested']:,} images asked "
            f"for, {got['images_forwarded']:,} through the model "
            f"({got['images_forwarded'] / max(1, got['images_requested']):.2f} of them)")


def run(args) -> list[tuple[str, str]]:
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    env = {"DEEPLING_MAX_SHARED_JOBS": str(args.max_shared), "DEEPLING_JOB_NICE": str(args.job_nice)}
    rows = [("date, load", f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {uptime}"),
            ("CPU cores, job workers", f"{os.cpu_count()}, {os.environ.get('DEEPLING_JOB_WORKERS') or 'default (cores ÷ 2)'}"),
            ("jobs shared at most per run, job threads' nice", f"{args.max_shared}, {args.job_nice}"),
            ("light clients", f"2, each waiting {args.light_interval * 1000:.0f} ms between requests")]
    base_seed = int(time.time()) % 1_000_000 * 100  # fresh: never a cached projection
    plan = sizes(args.sessions, args.max_count)
    with running_app(timeout=600, env=env) as base:
        pid = server_pid(base)
        project(base, {"mode": "random", "count": 50, "seed": base_seed - 1})  # traced, warm

        # single session: one after another
        shared0 = sharing(base)
        t0 = time.perf_counter()
        single = [timed_projection(base, n, base_seed + i) for i, n in enumerate(plan)]
        single_rate = sum(plan) / (time.perf_counter() - t0)

        # twenty sessions at once, with light requests beside them
        shared1 = sharing(base)
        stop, latencies, light_errors, peak, positions = threading.Event(), [], [], [0.0], []
        watchers = [threading.Thread(target=light_requests, args=(base, stop, latencies, light_errors, args.light_interval))
                    for _ in range(2)] + [threading.Thread(target=peak_rss, args=(pid, stop, peak))]
        for w in watchers:
            w.start()
        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.sessions) as pool:
            futures = [pool.submit(timed_projection, base, n, base_seed + 1000 + i, positions)
                       for i, n in enumerate(plan)]
            results, errors = [], 0
            for f in futures:
                try:
                    results.append(f.result())
                except Exception:  # noqa: BLE001 - counted, reported
                    errors += 1
        wall = time.perf_counter() - t0
        shared2 = sharing(base)
        stop.set()
        for w in watchers:
            w.join()
        many_rate = sum(plan) / wall
        times = sorted(t for t, _ in results)
        crosstalk = sum(not ok for _, ok in results) + sum(not ok for _, ok in single)
        lat = sorted(latencies)

        # 200 sequential requests, RSS at start and end
        rss_start = rss_mb(pid)
        for i in range(50):
            project(base, {"mode": "random", "count": 10, "seed": base_seed + 5000 + i})
            call(f"{base}/api/images/demo/default/{i}.png")
            call(base + "/health")
            call(base + "/api/projections", {"count": [i]})
        rss_end = rss_mb(pid)

    rows += [
        ("projections", f"{len(plan)} of {min(plan)}–{max(plan):,} random images ({sum(plan):,} in all)"),
        ("single session (one after another)", f"{single_rate:,.0f} images/s"),
        (f"{len(plan)} sessions at once", f"{many_rate:,.0f} images/s"),
        ("**throughput ratio** (at once ÷ single)", f"**{many_rate / single_rate:.2f}** (goal ≥ 0.8)"),
        ("projection time at once, p50 / p95", f"{times[len(times) // 2]:.1f} s / "
                                                f"{times[min(len(times) - 1, int(0.95 * len(times)))]:.1f} s"),
        ("projection time alone, p50", f"{statistics.median(t for t, _ in single):.1f} s"),
        ("largest place in the queue a client was told", str(max(positions, default=0))),
        ("forward passes, single session", shared_row(shared0, shared1)),
        (f"forward passes, {len(plan)} sessions at once", shared_row(shared1, shared2)),
        ("light requests during the load (thumbnails, /health)",
         f"{len(lat):,}; p50 {1000 * lat[len(lat) // 2]:.0f} ms, **p99 {1000 * lat[int(0.99 * (len(lat) - 1))]:.0f} ms** "
         f"(goal < 200 ms), max {1000 * lat[-1]:.0f} ms"),
        ("errors / cross-talk", f"{errors + len(light_errors)} / {crosstalk}"),
        ("server peak RSS during the load", f"{peak[0]:,.0f} MB"),
        ("200 sequential requests: RSS start → end", f"{rss_start:,.0f} → {rss_end:,.0f} MB "
                                                      f"({rss_end - rss_start:+.0f} MB)"),
    ]
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--max-count", type=int, default=1000,
                   help="largest projection (images); each asks for 50..this")
    p.add_argument("--timeout", type=float, default=900, help="stop after this many seconds")
    p.add_argument("--light-interval", type=float, default=0.05,
                   help="seconds each of the two light clients waits between its requests "
                        "(0: back to back, which spends a third of the CPU on them)")
    p.add_argument("--max-shared", type=int, default=32,
                   help="DEEPLING_MAX_SHARED_JOBS for the server (1: no shared passes)")
    p.add_argument("--job-nice", type=int, default=10,
                   help="DEEPLING_JOB_NICE for the server (0: jobs at the requests' priority)")
    args = p.parse_args(argv)
    # bounded whatever happens: interrupt the run (the server is stopped on the way out)
    timer = threading.Timer(args.timeout, _thread.interrupt_main)
    timer.daemon = True
    timer.start()
    rows = run(args)
    timer.cancel()
    table = ["# Twenty users at once (`python benchmarks/bench_load.py`)", "",
             "| what | figure |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]
    text = "\n".join(table) + "\n"
    print(text)
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
