"""Frames per second of the layer animation: custom WebGL renderer vs Plotly scattergl.

Both play the same synthetic projection (10 classes separating over 12 layers) in headless
Chromium at 2 layers/s, ping-pong, for each point count:

* ``webgl``       — assets/layer_scatter_*.js (the renderer's parts), ``play()``; frames counted by the renderer.
* ``webgl+sync``  — the same, plus a 1-pixel ``readPixels`` after every frame, which blocks until
                    the GPU process has executed the frame: proof the frames are really drawn, not
                    just queued. It also stops JS and GPU from overlapping, so it is a lower bound.
* ``plotly``      — one scattergl trace per class; every animation frame computes the interpolated
                    x/y and awaits ``Plotly.restyle`` of all traces; counted when it resolves.

A bare requestAnimationFrame loop is measured first: it is the browser's frame cap, so nothing
can exceed it. Run (after training has finished, it needs the CPU):

    nice -n 10 python benchmarks/bench_webgl_fps.py            # writes benchmarks/results/webgl_fps.md
    python benchmarks/bench_webgl_fps.py --sizes 1000 --seconds 2 --no-write   # quick check
"""

from __future__ import annotations

import argparse
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's deepling, not an installed one
RENDERER_JS = sorted((ROOT / "assets").glob("layer_scatter*.js"))  # its parts, in Dash's order
RESULTS = ROOT / "benchmarks" / "results" / "webgl_fps.md"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless flags the project uses everywhere. No --disable-gpu-vsync / --disable-frame-rate-limit:
# those let rAF run uncapped and would report frames no display could show.
CHROME_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
WINDOW = (1000, 800)
PLOT = (900, 700)

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>Deepling FPS benchmark</title>
<style>
  body { margin: 0; background: #fff; font: 13px system-ui, sans-serif; }
  #plot { width: %(w)dpx; height: %(h)dpx; background: #fff; }
</style>
<script src="%(plotly)s"></script>
%(renderer)s
</head><body><div id="plot"></div>
<script>
"use strict";
// Deterministic stand-in for a real projection: classes start mixed and separate with depth,
// each point keeps its own offset so it moves coherently, some points end in the wrong cluster.
function makeData(n, nLayers, nClasses, seed) {
  let s = seed >>> 0;
  const rnd = () => { s = (s + 0x6D2B79F5) >>> 0; let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  const centres = [];
  for (let k = 0; k < nClasses; k++) {
    const a = 2 * Math.PI * k / nClasses + 0.3 * gauss(), r = 0.45 + 0.2 * rnd();
    centres.push([r * Math.cos(a), r * Math.sin(a)]);
  }
  const colors = new Uint8Array(n), marks = new Uint8Array(n);
  const other = new Uint8Array(n), zx = new Float32Array(n), zy = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    colors[i] = Math.floor(rnd() * nClasses);
    const wrong = rnd() < 0.12;
    other[i] = wrong ? Math.floor(rnd() * nClasses) : colors[i];
    marks[i] = wrong && other[i] !== colors[i] ? 1 : 0;
    zx[i] = gauss(); zy[i] = gauss();
  }
  const positions = new Float32Array(nLayers * n * 2);
  for (let l = 0; l < nLayers; l++) {
    const sep = Math.pow(l / (nLayers - 1), 1.3), spread = 0.22 * (1 - sep) + 0.09;
    const rot = 0.35 * Math.sin(1.7 * l), c = Math.cos(rot), sn = Math.sin(rot);
    for (let i = 0; i < n; i++) {
      const a = centres[colors[i]], b = centres[other[i]], w = marks[i] ? sep : 0;
      const x = sep * ((1 - w) * a[0] + w * b[0]) + spread * zx[i] + 0.02 * gauss();
      const y = sep * ((1 - w) * a[1] + w * b[1]) + spread * zy[i] + 0.02 * gauss();
      const o = 2 * (l * n + i);
      positions[o] = Math.max(-1, Math.min(1, c * x - sn * y));
      positions[o + 1] = Math.max(-1, Math.min(1, sn * x + c * y));
    }
  }
  return { n, nLayers, positions, colors, marks };
}
const PALETTE = %(palette)s;  // the app's class colours (deepling/web/views/common.py)
const SPEED = 2;  // layers per second
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function measureRaf(seconds) {
  let frames = 0, run = true;
  const loop = () => { frames++; if (run) requestAnimationFrame(loop); };
  requestAnimationFrame(loop);
  await sleep(300);
  const f0 = frames, t0 = performance.now();
  await sleep(seconds * 1000);
  const fps = (frames - f0) / ((performance.now() - t0) / 1000);
  run = false;
  return { fps };
}

// A thumbnail atlas laid out as deepling/web/wire.py lays it out (32-px tiles up to
// 4,096 images, 16 px up to 16,384), each tile a smooth random picture.
function makeAtlas(n, seed) {
  const tile = n <= 4096 ? 32 : n <= 16384 ? 16 : 8, columns = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / columns), width = columns * tile, height = rows * tile;
  const data = new Uint8Array(width * height * 4);
  let s = seed >>> 0;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  for (let t = 0; t < n; t++) {
    const ox = (t %% columns) * tile, oy = Math.floor(t / columns) * tile;
    const c0 = [rnd(), rnd(), rnd()], c1 = [rnd(), rnd(), rnd()];
    for (let y = 0; y < tile; y++) for (let x = 0; x < tile; x++) {
      const w = (x + y) / (2 * tile), o = 4 * ((oy + y) * width + ox + x);
      for (let c = 0; c < 3; c++) data[o + c] = 255 * (c0[c] * (1 - w) + c1[c] * w);
      data[o + 3] = 255;
    }
  }
  return { image: { width, height, data }, tile, columns };
}

async function runWebGL(n, seconds, warmup, sync, thumbnails) {
  const data = makeData(n, 12, 10, 7);
  const el = document.getElementById('plot');
  const px = new Uint8Array(4);
  let s;
  s = new Deepling.LayerScatter(el, { onFrame: sync ? () => s.gl.readPixels(0, 0, 1, 1, s.gl.RGBA, s.gl.UNSIGNED_BYTE, px) : null });
  s.setData(Object.assign({ palette: PALETTE }, data));
  if (thumbnails) { s.setAtlas(makeAtlas(n, 11)); s.setStyle('thumbnails'); }
  s.play({ speed: SPEED, loop: 'bounce' });
  await sleep(warmup * 1000);
  const f0 = s.stats().frames, t0 = performance.now();
  await sleep(seconds * 1000);
  const fps = (s.stats().frames - f0) / ((performance.now() - t0) / 1000);
  const playing = s.isPlaying(), drewThumbnails = s.stats().thumbnails;
  s.destroy();
  return { fps, webgl: s.webgl, playing, thumbnails: drewThumbnails };
}

// One scattergl trace per class (Plotly's way to get legend toggles, and the fastest of the
// variants tried: per-point colour strings and a numeric colour scale were slower).
async function runPlotly(n, seconds, warmup) {
  const D = makeData(n, 12, 10, 7);
  const el = document.getElementById('plot');
  const groups = PALETTE.map(() => []);
  D.colors.forEach((k, i) => groups[k].push(i));
  const P = D.positions, end = D.nLayers - 1;
  const layoutAt = (t) => {
    const lo = Math.min(Math.floor(t), end - 1), m = t - lo, a = lo * n * 2, b = a + n * 2;
    const xs = [], ys = [];
    for (const g of groups) {
      const x = new Float32Array(g.length), y = new Float32Array(g.length);
      g.forEach((i, j) => {
        x[j] = P[a + 2 * i] + (P[b + 2 * i] - P[a + 2 * i]) * m;
        y[j] = P[a + 2 * i + 1] + (P[b + 2 * i + 1] - P[a + 2 * i + 1]) * m;
      });
      xs.push(x); ys.push(y);
    }
    return { x: xs, y: ys };
  };
  const first = layoutAt(0);
  const axis = { range: [-1.1, 1.1], visible: false, fixedrange: true };
  await Plotly.newPlot(el, groups.map((g, k) => ({ type: 'scattergl', mode: 'markers', x: first.x[k],
    y: first.y[k], marker: { color: PALETTE[k], size: 5, opacity: 0.75 } })),
    { width: %(w)d, height: %(h)d, margin: { l: 0, r: 0, t: 0, b: 0 }, xaxis: axis,
      yaxis: Object.assign({ scaleanchor: 'x' }, axis), showlegend: false },
    { displayModeBar: false, responsive: false });
  let t = 0, dir = 1, last = null, frames = 0, run = true;
  const frame = (now) => {
    const dt = last == null ? 0 : Math.min(0.1, (now - last) / 1000);
    last = now;
    t += dir * SPEED * dt;
    if (t > end) { t = 2 * end - t; dir = -1; } else if (t < 0) { t = -t; dir = 1; }
    Plotly.restyle(el, layoutAt(t)).then(() => { frames++; if (run) requestAnimationFrame(frame); });
  };
  requestAnimationFrame(frame);
  await sleep(warmup * 1000);
  const f0 = frames, t0 = performance.now();
  await sleep(seconds * 1000);
  const fps = (frames - f0) / ((performance.now() - t0) / 1000);
  run = false;
  Plotly.purge(el);
  return { fps };
}

window.benchCase = async function (kind, n, seconds, warmup) {
  if (kind === 'raf') return measureRaf(seconds);
  if (kind === 'plotly') return runPlotly(n, seconds, warmup);
  return runWebGL(n, seconds, warmup, kind === 'webgl+sync', kind === 'thumbnails');
};
</script></body></html>
"""


def make_driver(extra_flags=()):
    """Headless Chromium through selenium 3.141 (dash[testing]) or 4.x."""
    import selenium
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options

    opts = Options()
    opts.binary_location = CHROMIUM
    for flag in [*CHROME_FLAGS, *extra_flags, f"--window-size={WINDOW[0]},{WINDOW[1]}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='deepling-bench-')}"]:
        opts.add_argument(flag)
    if int(selenium.__version__.split(".")[0]) >= 4:
        from selenium.webdriver.chrome.service import Service

        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    else:
        from selenium.webdriver.remote.remote_connection import RemoteConnection

        RemoteConnection.set_timeout(300)  # 3.141 hands urllib3 2.x a sentinel timeout it rejects
        driver = webdriver.Chrome(executable_path=CHROMEDRIVER, options=opts)
    driver.set_script_timeout(600)
    return driver


def plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def write_page(folder: Path) -> Path:
    page = folder / "fps_page.html"
    import json

    from deepling.web.views.common import palette_rgb

    page.write_text(PAGE % {"w": PLOT[0], "h": PLOT[1], "plotly": plotly_js().as_uri(),
                            "renderer": "".join(f'<script src="{f.as_uri()}"></script>' for f in RENDERER_JS), "palette": json.dumps(palette_rgb(10))})
    return page


def run_case(driver, page: Path, kind: str, n: int, seconds: float, warmup: float) -> dict:
    driver.get(page.as_uri())  # fresh page per case: no garbage or GL state carried over
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "benchCase(arguments[0], arguments[1], arguments[2], arguments[3])"
        ".then(done, (e) => done({error: String(e && e.stack || e)}));",
        kind, n, seconds, warmup)


def gl_renderer(driver) -> str:
    return driver.execute_script(
        "const g = document.createElement('canvas').getContext('webgl2');"
        "if (!g) return 'no WebGL2';"
        "const e = g.getExtension('WEBGL_debug_renderer_info');"
        "return e ? g.getParameter(e.UNMASKED_RENDERER_WEBGL) : g.getParameter(g.RENDERER);")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,50000,200000", help="comma-separated point counts")
    ap.add_argument("--thumbnail-sizes", default="1000,10000",
                    help="point counts also measured as thumbnails (beside dots, same round)")
    ap.add_argument("--plotly-max", type=int, default=50_000,
                    help="largest point count Plotly is measured at (it needs minutes above)")
    ap.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case")
    ap.add_argument("--warmup", type=float, default=1.5, help="seconds played before measuring")
    ap.add_argument("--repeat", type=int, default=3,
                    help="rounds over all cases (interleaved, so load changes hit every case alike)")
    ap.add_argument("--flag", action="append", default=[], help="extra Chromium flag (repeatable)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    thumb_sizes = {int(s) for s in args.thumbnail_sizes.split(",") if s}
    sizes = sorted(set(sizes) | thumb_sizes)

    def kinds_for(n):
        return (["webgl", "webgl+sync"] + (["thumbnails"] if n in thumb_sizes else [])
                + (["plotly"] if n <= args.plotly_max else []))

    load_before = load_average()
    driver = make_driver(args.flag)
    try:
        version = driver.capabilities.get("browserVersion", "?")
        with tempfile.TemporaryDirectory(prefix="deepling-fps-") as tmp:
            page = write_page(Path(tmp))
            driver.get(page.as_uri())
            renderer = gl_renderer(driver)
            raf = run_case(driver, page, "raf", 0, args.seconds, 0)["fps"]
            print(f"Chromium {version}; WebGL: {renderer}; bare rAF loop: {raf:.1f} fps", flush=True)
            results = {}
            for round_ in range(args.repeat):
                for n in sizes:
                    for kind in kinds_for(n):
                        r = run_case(driver, page, kind, n, args.seconds, args.warmup)
                        if "error" in r:
                            raise RuntimeError(f"{kind} @ {n}: {r['error']}")
                        if kind != "plotly" and not r.get("playing"):
                            raise RuntimeError(f"{kind} @ {n}: renderer stopped playing")
                        if kind == "thumbnails" and not r.get("thumbnails"):
                            raise RuntimeError(f"thumbnails @ {n}: the renderer drew dots instead")
                        results.setdefault((kind, n), []).append(r["fps"])
                        print(f"  round {round_ + 1} {kind:11s} n={n:>6,d}: {r['fps']:6.1f} fps", flush=True)
    finally:
        driver.quit()
    load_after = load_average()

    lines = table(sizes, results) + [""] + goals(sizes, results)
    print("\n" + "\n".join(lines))
    if not args.no_write:
        cmd = "python " + " ".join(shlex.quote(a) for a in [str(Path(sys.argv[0])), *(argv or sys.argv[1:])])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report(lines, cmd, version, renderer, raf, args, (load_before, load_after)))
        print(f"\nwrote {args.out}")
    return 0


def table(sizes, results) -> list[str]:
    """Median fps per cell, with the range over rounds when there was more than one."""
    def cell(values):
        if not values:
            return "—"
        med = statistics.median(values)
        return f"{med:.1f}" if len(values) == 1 else f"{med:.1f} ({min(values):.1f}–{max(values):.1f})"

    lines = ["| points | WebGL dots fps | WebGL + readPixels sync fps | WebGL thumbnails fps "
             "| Plotly scattergl restyle fps | WebGL / Plotly (medians) |",
             "|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        w, ws = results[("webgl", n)], results[("webgl+sync", n)]
        th, p = results.get(("thumbnails", n), []), results.get(("plotly", n), [])
        ratio = "—"
        if p:
            pm = statistics.median(p)
            ratio = f"{statistics.median(w) / pm:.1f}×" if pm > 0 else "∞"
        lines.append(f"| {n:,} | {cell(w)} | {cell(ws)} | {cell(th)} | {cell(p)} | {ratio} |")
    return lines


# (kind, points, fps goal): the targets (#17), judged on medians
FPS_GOALS = [("webgl", 10_000, 55), ("webgl", 50_000, 55), ("webgl", 200_000, 30),
             ("thumbnails", 1_000, 55), ("thumbnails", 10_000, 30)]


def goals(sizes, results) -> list[str]:
    """The project's targets, judged on medians, with the distance where one is missed."""
    med = {key: statistics.median(v) for key, v in results.items()}
    out = []
    for kind, n, goal in FPS_GOALS:
        if (kind, n) in med:
            fps = med[(kind, n)]
            what = "dots" if kind == "webgl" else kind
            verdict = "met" if fps >= goal else f"not met, {goal - fps:.1f} fps short"
            out.append(f"- Goal ≥ {goal} fps with {n:,} {what}: **{verdict}** (median {fps:.1f} fps).")
    for n in (10_000, 50_000):
        if ("plotly", n) in med:
            ratio = med[("webgl", n)] / max(med[("plotly", n)], 1e-9)
            out.append(f"- Goal ≥ 3× Plotly at {n:,} points: **{'met' if ratio >= 3 else 'not met'}** "
                       f"({ratio:.1f}×).")
    return out


def report(lines, cmd, version, renderer, raf, args, loads) -> str:
    flags = " ".join(CHROME_FLAGS + args.flag)
    return "\n".join([
        "# Layer animation frame rate: WebGL renderer vs Plotly scattergl",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')} with `{cmd}`.",
        "",
        f"- Browser: Chromium {version} headless, flags `{flags}`, "
        f"window {WINDOW[0]}×{WINDOW[1]}, plot {PLOT[0]}×{PLOT[1]} CSS px, devicePixelRatio 1.",
        f"- WebGL implementation: {renderer} (software rendering on the CPU).",
        f"- CPU: {cpu_model()}, {_cpu_count()} cores, shared with other jobs; load average (1/5/15 min) "
        f"before the run {loads[0]}, after it {loads[1]}.",
        f"- Browser frame cap (bare requestAnimationFrame loop): **{raf:.1f} fps** — no column can exceed it. "
        "Flags that lift the cap (`--disable-gpu-vsync`, `--disable-frame-rate-limit`) were deliberately "
        "not used: they count frames no display would show.",
        f"- Each case: fresh page, {args.warmup:g} s warm-up, {args.seconds:g} s measured, "
        "12 layers played ping-pong at 2 layers/s, 10 classes, Tableau 10 colours; "
        f"{args.repeat} round(s) over all cases, cells show the median (min–max).",
        "",
        *lines,
        "",
        "Columns: *WebGL dots* — `LayerScatter.play()`, frames drawn per second. *WebGL thumbnails* — the "
        "same with `setStyle('thumbnails')` and a synthetic atlas laid out as the app's (32-px tiles up to "
        "4,096 images, 16 px above), measured in the same round as the dots. *WebGL + readPixels sync* — "
        "the same with a 1-pixel `gl.readPixels` after every frame, which waits until the GPU process "
        "has executed that frame (so the frames were really rendered, not just queued); because it also "
        "stops the main thread and the GPU process from working in parallel it is a lower bound. "
        "Where the renderer draws many small dots itself (`SoftDots`: 20,000 or more on software WebGL) "
        "they reach the screen by `putImageData` on the main thread, so every counted frame is drawn; the "
        "readPixels then waits only for the WebGL canvas above them. "
        "*Plotly* — one `scattergl` trace per class (the fastest Plotly variant tried; a single trace with "
        "per-point colours was slower), every animation frame computes the interpolated x/y and awaits "
        "`Plotly.restyle` of all traces; counted when the restyle resolves. Axis ranges are fixed, so "
        "Plotly does no autoranging.",
        "",
    ])


def _cpu_count() -> int:
    try:
        return int(subprocess.check_output(["nproc"], text=True).strip())
    except (OSError, ValueError, subprocess.CalledProcessError):
        return 0


if __name__ == "__main__":
    sys.exit(main())
