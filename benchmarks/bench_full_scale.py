"""The layer animation on every image of CIFAR-10 (train + test, 60,000), in the real app.

Starts ``python run.py`` on a fresh cache folder and opens, in headless Chromium,
``/?data=default@all&mode=random&count=60000`` — all 60,000 images, every layer — and reports:

* the server process's peak resident memory while it loads, predicts and projects them
  (goal ≤ 2 GB; the predictions are a job the page follows, the projection another), the
  time until the views are built and until the projection is stored;
* whether and when the browser draws the 60,000 points (bounded by ``--draw-timeout``), and
  main-thread long tasks (a ``PerformanceObserver`` for ``longtask``, installed before the
  page's own scripts) while a page loads and mounts the payload from the cache, against the
  same page with 1,000 images: the difference is what the big payload costs the page;
* the server's memory after the same view was opened in more sessions (``--sessions``): it
  keeps no copy per session (the projection lives in the disk cache, the payload is built per
  request and dropped).

Run from the repository root (about 5–10 minutes; ~2 GB of free memory)::

    python benchmarks/bench_full_scale.py          # writes benchmarks/results/full_scale.md
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results" / "full_scale.md"

LONG_TASKS = """
window.__longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push([e.startTime, e.duration]);
  }).observe({type: 'longtask', buffered: true});
} catch (e) { window.__longTasks = null; }
"""
MOUNTED = """const v = window.Deepling && window.Deepling.animationView;
return !!(v && v.data && v.data.n === arguments[0] && v.scatter && v.scatter.stats().frames > 0);"""


class PeakRSS(threading.Thread):
    """Samples a process's resident memory; ``peak`` is the largest seen."""

    def __init__(self, pid, interval=0.1):
        import psutil

        super().__init__(daemon=True)
        self.proc, self.interval, self.peak, self.stop = psutil.Process(pid), interval, 0, threading.Event()

    def rss(self):
        return self.proc.memory_info().rss

    def run(self):
        while not self.stop.is_set():
            try:
                self.peak = max(self.peak, self.rss())
            except Exception:  # noqa: BLE001 - the process ended
                return
            time.sleep(self.interval)


def start_server(port, cache):
    env = {**os.environ, "DEEPLING_CACHE": cache, "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = open(Path(cache) / "server.log", "w")
    proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "--port", str(port)], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError("the server did not start: " + (Path(cache) / "server.log").read_text()[-2000:])


PAGE_UP = "return !!document.getElementById('anim-status');"


def open_view(driver, url, n, timeout, marks=None):
    """Open ``url`` and wait until its ``n`` points are drawn; ``marks`` (a dict) gets the
    seconds until the page's views were built (after a first visit's predictions job)."""
    from tests.browser import wait_for

    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LONG_TASKS})
    t0 = time.perf_counter()
    driver.get(url)
    deadline = time.time() + timeout
    while not driver.execute_script(MOUNTED, n):
        if marks is not None and "page" not in marks and driver.execute_script(PAGE_UP):
            marks["page"] = time.perf_counter() - t0
        if time.time() > deadline:
            status = driver.execute_script(
                "const e = document.getElementById('anim-status') || document.getElementById('page-status');"
                "return e && e.innerText;")
            raise RuntimeError(f"{n} points not drawn after {timeout} s (status: {status!r})")
        time.sleep(0.25)
    seconds = time.perf_counter() - t0
    time.sleep(2)  # long tasks that follow the mount
    wait_for(driver, "return true")
    tasks = driver.execute_script("return window.__longTasks")
    return seconds, tasks


def summary(tasks):
    if not tasks:
        return {"count": 0, "longest": 0.0, "blocking": 0.0}
    return {"count": len(tasks), "longest": max(d for _, d in tasks),
            "blocking": sum(max(0.0, d - 50) for _, d in tasks)}


def main(argv=None):
    from tests.browser import free_port, make_driver, quit_driver

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=60_000)
    ap.add_argument("--small", type=int, default=1_000)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--port", type=int, default=0, help="the server's port (default: a free one)")
    ap.add_argument("--timeout", type=float, default=600, help="seconds predicting and projecting may take")
    ap.add_argument("--draw-timeout", type=float, default=180, help="seconds the browser may take to draw")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    cache = tempfile.mkdtemp(prefix="deepling-full-scale-")
    proc, url = start_server(args.port or free_port(), cache)
    rss = PeakRSS(proc.pid)
    rss.start()
    rows, drawn = {}, {}
    try:
        started = rss.rss()
        big = f"{url}/?data=default@all&mode=random&count={args.count}&points=dots"
        small = f"{url}/?data=default@all&mode=random&count={args.small}&points=dots"
        driver = make_driver()
        try:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": LONG_TASKS})
            t0 = time.perf_counter()
            driver.get(big)
            until(lambda: driver.execute_script(PAGE_UP), args.timeout, "the page's views")
            page_s = time.perf_counter() - t0  # the predictions job, followed by the page
            until(lambda: stored(cache, args.count), args.timeout, "the stored projection")
            projected_s = time.perf_counter() - t0
            until(lambda: status(driver) != "starting…", 60, "the projection's answer", fail=False)
            computed_peak = rss.peak
            print(f"views after {page_s:.0f} s, projection stored after {projected_s:.0f} s; "
                  f"server peak {computed_peak / 2**30:.2f} GB", flush=True)
            ok = until(lambda: driver.execute_script(MOUNTED, args.count), args.draw_timeout,
                       "the points drawn", fail=False)
            drawn["first"] = time.perf_counter() - t0 if ok else None
            for name, page, n in (("small", small, args.small), ("big", big, args.count)):
                try:
                    seconds, tasks = open_view(driver, page, n, args.draw_timeout)
                    rows[name] = (seconds, summary(tasks))
                except RuntimeError as exc:
                    rows[name] = None
                    print(exc, flush=True)
                print(name, rows[name], flush=True)
        finally:
            quit_driver(driver)
        after_one = rss.rss()
        for _ in range(args.sessions):  # the same view in other sessions: answered from the cache
            d = make_driver()
            try:
                d.get(big)
                until(lambda: status(d) not in (None, "", "starting…"), 120, "the answer", fail=False)
            finally:
                quit_driver(d)
        after_more = rss.rss()
    finally:
        rss.stop.set()
        proc.terminate()
        proc.wait(20)
    load_after = " ".join(Path("/proc/loadavg").read_text().split()[:3])

    def row(name, n):
        if rows.get(name) is None:
            return f"| page load from the cache, {n:,} points | not drawn within {args.draw_timeout:.0f} s | |"
        seconds, s = rows[name]
        return (f"| page load from the cache, {n:,} points: drawn after; long tasks (count, longest, "
                f"total blocking) | {seconds:.1f} s; {s['count']}, {s['longest']:.0f} ms, "
                f"{s['blocking']:.0f} ms | |")

    first = drawn["first"]
    lines = [
        "# All 60,000 CIFAR-10 images in the layer animation",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} with `python benchmarks/bench_full_scale.py`; "
        f"load average (1/5/15 min) before {load_before}, after {load_after} (2 cores, shared).",
        "",
        "| figure | measured | goal |",
        "|---|---:|---|",
        f"| server peak RSS: start, loading and predicting all images, projecting {args.count:,} × all "
        f"layers, building the answer | {computed_peak / 2**30:.2f} GB (at start {started / 2**30:.2f} GB) "
        "| ≤ 2 GB |",
        f"| first visit: views built after the predictions job (load and predict every image) | {page_s:.0f} s | |",
        f"| first visit: projection of {args.count:,} images × all layers stored (a second job) "
        f"| {projected_s:.0f} s from the request | |",
        f"| first visit: points drawn | " + (f"{first:.0f} s" if first else
                                            f"not within {args.draw_timeout:.0f} s after the projection") + " | |",
        row("small", args.small),
        row("big", args.count),
    ]
    if rows.get("small") and rows.get("big"):
        extra = rows["big"][1]["blocking"] - rows["small"][1]["blocking"]
        lines.append(f"| blocking time the {args.count:,}-image page adds over {args.small:,} "
                     f"(all its views; the payload alone: payload.md) "
                     f"| {extra:.0f} ms | the page stays responsive |")
    lines += [
        f"| server RSS after one session, after {args.sessions} more opened the same view "
        f"| {after_one / 2**30:.2f} GB, {after_more / 2**30:.2f} GB | no copy per session |",
        "",
        "RSS is the server process's resident memory sampled every 0.1 s. Long tasks are main-thread "
        "tasks over 50 ms (`PerformanceObserver`, type `longtask`), counted from navigation until 2 s "
        "after the points are drawn, so the page's own start (Dash, React, Plotly) is in both rows; "
        "*total blocking* sums each task's time beyond 50 ms.",
        "",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


def until(condition, timeout, what, fail=True, interval=0.25):
    """Poll ``condition()`` until it is truthy; False (or RuntimeError) after ``timeout`` s."""
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            if fail:
                raise RuntimeError(f"{what}: not there after {timeout:.0f} s")
            return False
        time.sleep(interval)
    return True


def stored(cache, n):
    """Whether the server's projection cache holds a projection of ``n`` images (its layouts
    alone are n × 2 float32 per layer)."""
    return any(p.stat().st_size > n * 2 * 4 * 10 for p in (Path(cache) / "projections").glob("*.npz"))


def status(driver):
    return driver.execute_script("const e = document.getElementById('anim-status'); return e && e.innerText;")


if __name__ == "__main__":
    main()
