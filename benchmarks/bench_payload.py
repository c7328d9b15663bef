"""Does a big layer-animation payload freeze the page? Main-thread long tasks while it loads.

A small Dash app holds the payload in a ``dcc.Store``, as the app does, and a clientside
callback hands it to the renderer (``Deepling.loadPayload`` → ``LayerScatter.setData`` → first
frame). Two ways side by side, alternating, in one run:

* ``base64``  — every array base64 inside the store's JSON (the app until 2026-12-03): Dash
                parses the whole JSON on the main thread, then ``Deepling.unpack`` decodes it;
* ``binary``  — the JSON carries layers and classes only and names a binary body (the app's
                way now, ``deepling/web/payload_bytes.py``), fetched as an ArrayBuffer and viewed
                in place.

Long tasks are the browser's own (``PerformanceObserver('longtask')``: main-thread tasks over
50 ms, during which the page cannot answer a click or a key), from the click that asks for
the payload to the first frame drawn with it. Synthetic positions (the payload's size and
shape are what matter), 18 layers, headless Chromium with software WebGL. Run:

    python benchmarks/bench_payload.py                       # writes benchmarks/results/payload.md
    python benchmarks/bench_payload.py --sizes 10000 --repeat 1 --no-write
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's deepling, not an installed one
sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_webgl_fps import cpu_model, load_average, make_driver  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "payload.md"
PORT = 8203
N_LAYERS = 18
MODES = ("base64", "binary")

MOUNT = """
async function (payload) {
  if (!payload) return window.dash_clientside.no_update;
  const d = await Deepling.loadPayload(payload);
  s.setData({n: d.n, nLayers: d.nLayers, positions: d.positions, colors: d.labels, palette: d.palette});
  s.setLayer(d.nLayers / 2);
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  window.drawnAt = performance.now();
  window.drawnN = d.n;
  if (window.gaps) gaps.on = false;
  return `${d.n} points`;
}
"""

# The renderer exists before the click, as in the app, where the first view made it (its
# shaders compile once per page); the click brings a new point set to it.
PROBE = """
window.s = window.s || new Deepling.LayerScatter(document.getElementById('plot'), {background: '#ffffff'});
window.longTasks = [];
// the longest gap between two turns of a message loop: the longest main-thread block, also
// below the long-task API's 50 ms
window.gaps = {last: performance.now(), max: 0, on: false};
const ch = new MessageChannel();
ch.port1.onmessage = () => { const t = performance.now();
  if (gaps.on) gaps.max = Math.max(gaps.max, t - gaps.last); gaps.last = t;
  if (window.drawnN == null || gaps.on) ch.port2.postMessage(0); };
window.startGaps = () => { gaps.on = true; gaps.max = 0; gaps.last = performance.now(); ch.port2.postMessage(0); };
new PerformanceObserver((list) => { for (const e of list.getEntries()) longTasks.push([e.startTime, e.duration]); })
  .observe({type: 'longtask', buffered: true});
"""


def synthetic_sequence(n: int, n_layers: int = N_LAYERS, seed: int = 0):
    """What :func:`deepling.web.wire.payload_arrays` reads of a LayerSequence."""
    rng = np.random.default_rng(seed)
    t = n_layers - 1
    return SimpleNamespace(
        names=[f"layer{i}" for i in range(n_layers)], types=["Conv2D"] * n_layers,
        shapes=[(8, 8, 16)] * n_layers, collapsed=np.zeros(n_layers, bool),
        layouts=rng.normal(0, 0.3, (n_layers, n, 2)).astype(np.float32),
        mirrored=np.zeros(t, bool), rotation_deg=np.zeros(t), residual_before=np.full(t, 0.5),
        residual_after=np.full(t, 0.2), warnings=[])


def make_app(sizes, assets: Path):
    import dash
    from dash import Input, Output, State, dcc, html
    from flask import Response

    from deepling.web.wire import binary_payload, pack, payload_arrays, sequence_payload

    names = [f"class {k}" for k in range(10)]
    payloads, bodies = {}, {}
    for n in sizes:
        seq = synthetic_sequence(n)
        labels = np.arange(n) % 10
        args = (seq, np.arange(n), labels, (labels + (np.arange(n) % 7 == 0)) % 10, np.linspace(0, 1, n))
        payloads[("base64", n)] = sequence_payload(*args, names, "bench/data")
        payloads[("binary", n)] = binary_payload(seq, names, "bench/data", f"/bench/{n}.bin")
        bodies[n] = pack(payload_arrays(*args))

    app = dash.Dash("bench_payload", assets_folder=str(assets), update_title=None)
    app.layout = html.Div([
        dcc.Location(id="url"), dcc.Store(id="payload"), html.Div(id="out"),
        html.Button("load", id="go"),
        html.Div(id="plot", style={"width": "900px", "height": "700px"}),
    ])

    @app.callback(Output("payload", "data"), Input("go", "n_clicks"), State("url", "search"),
                  prevent_initial_call=True)
    def send(_clicks, search):
        q = dict(p.split("=") for p in (search or "?").lstrip("?").split("&") if "=" in p)
        return payloads[(q["mode"], int(q["n"]))]

    app.clientside_callback(MOUNT, Output("out", "children"), Input("payload", "data"))

    @app.server.route("/bench/<int:n>.bin")
    def body(n):
        return Response(bodies[n], mimetype="application/octet-stream")

    sizes_json = {k: len(__import__("json").dumps(v)) for k, v in payloads.items()}
    return app, sizes_json, {n: len(b) for n, b in bodies.items()}


def run_case(driver, mode: str, n: int, timeout: float = 300) -> dict:
    driver.get(f"http://127.0.0.1:{PORT}/?mode={mode}&n={n}")
    deadline = time.time() + 60
    while not driver.execute_script("return !!document.getElementById('go') && !!window.Deepling"):
        if time.time() > deadline:
            raise RuntimeError("the bench page did not load")
        time.sleep(0.1)
    driver.execute_script(PROBE)
    time.sleep(0.5)  # the page's own start-up tasks settle before the click
    t0 = driver.execute_script("window.drawnN = null; startGaps(); window.clickedAt = performance.now();"
                               "document.getElementById('go').click();"
                               "return window.clickedAt;")
    deadline = time.time() + timeout
    while driver.execute_script("return window.drawnN") != n:
        if time.time() > deadline:
            raise RuntimeError(f"{mode} @ {n}: not drawn in {timeout} s")
        time.sleep(0.05)
    time.sleep(0.3)  # the observer reports a task after it ends
    drawn, tasks, block = driver.execute_script("return [window.drawnAt, window.longTasks, gaps.max];")
    tasks = [d for s, d in tasks if s + d >= t0 and s <= drawn]
    return {"ms": drawn - t0, "count": len(tasks), "total": sum(tasks), "max": max(tasks, default=0.0),
            "block": block}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,60000", help="comma-separated point counts")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (modes alternate within a round)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]

    assets = Path(tempfile.mkdtemp(prefix="deepling-bench-assets-"))
    for part in sorted((ROOT / "assets").glob("layer_scatter*.js")):  # the renderer's parts
        shutil.copy(part, assets)
    app, json_bytes, body_bytes = make_app(sizes, assets)
    import logging

    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = make_server("127.0.0.1", PORT, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    load_before = load_average()
    driver = make_driver()
    results = {}
    try:
        version = driver.capabilities.get("browserVersion", "?")
        for round_ in range(args.repeat):
            for n in sizes:
                for mode in MODES:
                    r = run_case(driver, mode, n)
                    results.setdefault((mode, n), []).append(r)
                    print(f"  round {round_ + 1} {mode:6s} n={n:>6,d}: {r['ms']:7.0f} ms to the first frame, "
                          f"longest block {r['block']:5.0f} ms, "
                          f"{r['count']} long tasks, {r['total']:6.0f} ms in all, longest {r['max']:5.0f} ms",
                          flush=True)
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(assets, ignore_errors=True)
    load_after = load_average()

    lines = table(sizes, results, json_bytes, body_bytes)
    print("\n" + "\n".join(lines))
    if not args.no_write:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report(lines, version, args, (load_before, load_after)))
        print(f"\nwrote {args.out}")
    return 0


def table(sizes, results, json_bytes, body_bytes) -> list[str]:
    med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
    rng = lambda rs, k: f"{min(r[k] for r in rs):.0f}–{max(r[k] for r in rs):.0f}"  # noqa: E731
    lines = ["| points × 18 layers | sent as | JSON in the store | binary body | longest main-thread block, ms "
             "| long tasks (> 50 ms): longest, ms | total, ms | count | click → first frame, ms |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        for mode in MODES:
            rs = results[(mode, n)]
            body = f"{body_bytes[n] / 1e6:.2f} MB" if mode == "binary" else "—"
            lines.append(f"| {n:,} | {mode} | {json_bytes[(mode, n)] / 1e6:.2f} MB | {body} "
                         f"| **{med(rs, 'block'):.0f}** ({rng(rs, 'block')}) "
                         f"| {med(rs, 'max'):.0f} ({rng(rs, 'max')}) | {med(rs, 'total'):.0f} ({rng(rs, 'total')}) "
                         f"| {med(rs, 'count'):.0f} | {med(rs, 'ms'):.0f} ({rng(rs, 'ms')}) |")
    return lines


def report(lines, version, args, loads) -> str:
    return "\n".join([
        "# Layer animation payload: main-thread long tasks while it loads",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} with `python benchmarks/bench_payload.py`"
        f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}.",
        "",
        f"- Browser: Chromium {version} headless (software WebGL); a Dash app with the payload in a "
        "`dcc.Store` and a clientside callback that mounts it, as the app's animation view does.",
        f"- CPU: {cpu_model()}, shared; load average (1/5/15 min) before {loads[0]}, after {loads[1]}.",
        f"- {args.repeat} round(s), the two ways alternating; cells: median (min–max). Long tasks from "
        "the click to the first frame drawn with the new points; a task over 50 ms is one the user "
        "can feel (the page answers no click, key or scroll meanwhile). The longest block is the longest "
        "gap between two turns of a `MessageChannel` loop over the same span (it sees blocks under 50 ms "
        "too; the loop itself costs a little).",
        "",
        *lines,
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
