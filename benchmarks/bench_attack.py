"""Light requests under attack: ``/health`` while heavy and forged requests run; a markdown table.

Run (through the machine's lock: it is heavy)::

    DEEPLING_CIFAR10=/path/to/cifar10 python benchmarks/bench_attack.py

What it does, on loopback and bounded (``--timeout``):

1. starts ``python run.py`` (the demo CNN on CIFAR-10's test images) on a free port;
2. at once: **18 model uploads** (the packaged demo ``.keras``, each vetted in the isolated
   worker), **4 forged big pictures** (a ``picture`` store holding a 6300×6300 PNG, sent
   to the strip view's callback as a forger would) and a **cold full-dataset request**
   (``POST /api/projections`` on ``default@all``: all 60,000 images, not yet loaded);
3. all along, one client asks ``/health`` every 50 ms; its p50/p99/max, the answers each
   attack got (201 stored, 503 "busy, retry", …) and the server's peak RSS growth.

The figure that matters is ``/health`` p99 (< 200 ms); absolute times vary with the
machine's load, which the table names (``uptime``).
"""

from __future__ import annotations

import _thread
import argparse
import base64
import os
import statistics
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from tests.browser import running_app  # noqa: E402
from tests.reliability import (call, callback_specs, forge, multipart, png_claiming,  # noqa: E402
                               rss_mb, server_pid)

OUT = ROOT / "benchmarks" / "results" / "attack.md"
MODEL = ROOT / "deepling" / "resources" / "demo_cnn.keras"


def health_poll(base, stop, latencies, statuses, interval=0.05):
    while not stop.wait(interval):
        start = time.perf_counter()
        try:
            status = call(base + "/health", timeout=60)[0]
        except OSError as exc:
            status = type(exc).__name__
        latencies.append(time.perf_counter() - start)
        statuses[status] += 1


def upload_model(base, data):
    body, headers = multipart("model.keras", data)
    try:
        return call(base + "/api/models", body, headers=headers, timeout=600)[0]
    except OSError as exc:
        return type(exc).__name__


def forged_picture(base, specs, png):
    status, answer, took = forge(base, specs, "focus-image.children", {
        "picture.data": {"png": png, "name": "forged"},
        "rendered.data": {"model": "demo", "data": "default"}}, timeout=600)
    return f"{status} ({'refused' if 'too large' in str(answer) else 'decoded'}, {took:.1f} s)"


def cold_full_dataset(base):
    start = time.perf_counter()
    status, _, answer = call(base + "/api/projections",
                             {"data": "default@all", "mode": "random", "count": 50}, timeout=600)
    return f"{status} after {time.perf_counter() - start:.1f} s"


def peak_rss(pid, stop, peak):
    while not stop.wait(0.2):
        try:
            peak[0] = max(peak[0], rss_mb(pid))
        except Exception:  # noqa: BLE001 - the server went away: the run reports it
            return


def run(args) -> list[tuple[str, str]]:
    load = os.getloadavg()
    with running_app(env={"DEEPLING_CACHE": args.cache} if args.cache else None) as base:
        pid = server_pid(base)
        specs = callback_specs(base)
        model = MODEL.read_bytes()
        png = base64.b64encode(png_claiming(6300, 6300)).decode()
        baseline = rss_mb(pid)
        stop, latencies, statuses, peak = threading.Event(), [], Counter(), [baseline]
        threads = [threading.Thread(target=health_poll, args=(base, stop, latencies, statuses)),
                   threading.Thread(target=peak_rss, args=(pid, stop, peak))]
        for t in threads:
            t.start()
        time.sleep(2)  # a quiet baseline first
        quiet = len(latencies)
        started = time.perf_counter()
        with ThreadPoolExecutor(24) as pool:
            uploads = [pool.submit(upload_model, base, model) for _ in range(18)]
            pictures = [pool.submit(forged_picture, base, specs, png) for _ in range(4)]
            cold = pool.submit(cold_full_dataset, base)
            upload_status = Counter(f.result() for f in uploads)
            picture_status = [f.result() for f in pictures]
            cold_status = cold.result()
        took = time.perf_counter() - started
        time.sleep(1)
        stop.set()
        for t in threads:
            t.join()
    under = sorted(latencies[quiet:])
    q = statistics.quantiles(under, n=100) if len(under) >= 2 else [under[0]] * 99
    return [
        ("machine load (1/5/15 min) at start", " / ".join(f"{x:.1f}" for x in load)),
        ("attack wall time", f"{took:.1f} s"),
        ("/health requests during the attack", f"{len(under):,} (every 50 ms)"),
        ("/health p50 / p99 / max", f"{q[49] * 1000:.0f} / {q[98] * 1000:.0f} / {under[-1] * 1000:.0f} ms"),
        ("/health answers", ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items(), key=str))),
        ("18 model uploads", ", ".join(f"{k}: {v}" for k, v in sorted(upload_status.items(), key=str))
         + " (503 = busy, retry after 5 s)"),
        ("4 forged 6300×6300 pictures", "; ".join(picture_status)),
        ("cold default@all projection request", cold_status),
        ("server RSS peak growth", f"{peak[0] - baseline:+.0f} MB (from {baseline:.0f} MB)"),
    ]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--timeout", type=float, default=900, help="stop after this many seconds")
    p.add_argument("--cache", help="DEEPLING_CACHE for the server (default: the usual one)")
    args = p.parse_args(argv)
    timer = threading.Timer(args.timeout, _thread.interrupt_main)
    timer.daemon = True
    timer.start()
    rows = run(args)
    timer.cancel()
    table = ["# Light requests under attack (`python benchmarks/bench_attack.py`)", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| what | figure |", "| --- | --- |"] + [f"| {a} | {b} |" for a, b in rows]
    text = "\n".join(table) + "\n"
    print(text)
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
