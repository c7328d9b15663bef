"""Architecture view for DenseNet121 (429 layers): server-side build and browser render.

Server side: ``layer_graph`` of the loaded model + ``graph_elements`` + ``canvas_style``, as the
view's callback does (the first view: the focus's stage and block unfolded; and everything
unfolded). In the app, in headless Chromium: a click on *fold all* / *unfold all* to the second
animation frame after Cytoscape holds the new elements (the server callback, the transfer
and the browser's render, all of it). The architecture does not depend on the input size, so
the model is built at 32×32 (weights=None): the layers and names are those of the 224×224 one.

    python benchmarks/bench_architecture.py          # prints a table, writes benchmarks/results/architecture.md
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

ROUNDS = 3


def server_side(model, collapsed_for):
    from deepling.models.graph import layer_graph
    from deepling.web.views.architecture import canvas_style, default_layer, graph_elements

    times, elements = [], None
    for _ in range(ROUNDS):
        t = time.perf_counter()
        g = layer_graph(model)
        focus = default_layer(g)
        collapsed = collapsed_for(g, focus)
        elements = graph_elements(g, collapsed, focus)
        canvas_style(g, collapsed)
        times.append(time.perf_counter() - t)
    return statistics.median(times), elements


def in_app(model_path):
    """Times in the real app: a click on *fold all / unfold all* to the frame after Cytoscape
    has drawn the new elements (the server callback, the transfer and the render)."""
    from tests.browser import make_driver, quit_driver, running_app, wait_for

    CY = "document.querySelector('#arch-graph')._cyreg.cy"
    results = {}
    # 200 small images as data: the view does not depend on them, and the app's start-up
    # predictions stay a few seconds (this is not a heavy job)
    import numpy as np

    data = Path(tempfile.mkdtemp()) / "tiny.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.integers(0, 256, (200, 32, 32, 3), dtype=np.uint8), y=np.arange(200) % 10)
    with running_app("--model", str(model_path), "--data", str(data), timeout=900) as url:
        driver = make_driver(window_size=(1400, 1000))
        driver.set_script_timeout(600)
        try:
            t0 = time.perf_counter()
            driver.get(url + "/?mode=random&count=50")
            wait_for(driver, f"const g = document.querySelector('#arch-graph'); return g && g._cyreg && {CY}.nodes().length > 0",
                     timeout=900, message="the architecture view")
            results["page: the view drawn after load (s)"] = [time.perf_counter() - t0]
            # wait for the page's first callbacks to settle
            time.sleep(20)
            for _ in range(ROUNDS):
                for label, want in (("fold all", "all folded"), ("unfold all", "429 layers drawn")):
                    ms = driver.execute_async_script(f"""
                        const done = arguments[arguments.length - 1];
                        const cy = {CY}, btn = document.getElementById('arch-fold');
                        if (btn.innerText.trim() !== arguments[0]) {{ done(null); return; }}
                        const before = cy.elements().length, t = performance.now();
                        const check = () => {{
                          if (cy.elements().length !== before) {{
                            requestAnimationFrame(() => requestAnimationFrame(() => done(performance.now() - t)));
                          }} else setTimeout(check, 5);
                        }};
                        btn.click(); check();""", label)
                    if ms is not None:
                        results.setdefault(f"click '{label}' → {want} (s)", []).append(ms / 1000)
                    time.sleep(1)
        finally:
            quit_driver(driver)
    return results


def main():
    import keras

    from deepling.web.views.architecture import all_folds, default_collapsed

    model = keras.applications.DenseNet121(weights=None, input_shape=(32, 32, 3), classes=10)
    rows = []
    t, els = server_side(model, default_collapsed)
    rows.append(("server: layer_graph + elements, first view", t, len(els)))
    t, els = server_side(model, lambda g, f: set())
    rows.append(("server: layer_graph + elements, all 429 layers unfolded", t, len(els)))
    t, els = server_side(model, lambda g, f: all_folds(g))
    rows.append(("server: layer_graph + elements, all folded", t, len(els)))
    for name, t, n in rows:
        print(f"{name}: {t * 1000:.0f} ms, {n} elements", flush=True)
    path = Path(tempfile.mkdtemp()) / "densenet121.keras"
    model.save(path)
    app = in_app(path)
    load = os.getloadavg()
    lines = [f"# Architecture view, DenseNet121 (429 layers)", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {load[0]:.1f} "
             f"(1 min) / {load[1]:.1f} (5 min) on 2 cores; medians of {ROUNDS} rounds.", "",
             "| step | time | elements |", "| --- | ---: | ---: |"]
    for name, t, n in rows:
        lines.append(f"| {name} | {t * 1000:.0f} ms | {n} |")
    for name, ts in app.items():
        lines.append(f"| app: {name} | {statistics.median(ts):.2f} s (min {min(ts):.2f}, max {max(ts):.2f}) | |")
    text = "\n".join(lines) + "\n"
    print(text)
    out = REPO / "benchmarks" / "results" / "architecture.md"
    out.write_text(text)
    print("saved", out)


if __name__ == "__main__":
    main()
