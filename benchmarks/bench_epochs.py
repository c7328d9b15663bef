"""Across training: snapshot projection time per epoch, and what trails cost in frame rate.

1. A real run: the demo CNN trained from fresh weights on CIFAR-10 training images, keeping a
   snapshot per epoch. The projection service's across-training job (load each snapshot,
   project one layer of the chosen test images at it with ``layer_sequence``, align epoch on
   epoch by Procrustes, note its predictions) is timed cold, per snapshot; then with one more
   snapshot than is cached (what a run gaining an epoch costs: the kept snapshots' layouts
   are read from the cache).
2. The renderer in headless Chromium (software WebGL): 10,000 dots playing over 12 frames,
   trails off and on in alternating rounds, frames per second as the renderer counts them.

    python benchmarks/bench_epochs.py                    # writes benchmarks/results/epochs.md
    python benchmarks/bench_epochs.py --subset 500 --epochs 2 --images 20 --seconds 2 --no-write
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's deepling, not an installed one
OUT = ROOT / "benchmarks" / "results" / "epochs.md"

PAGE = r"""<!doctype html><html><head><meta charset="utf-8">
<style>body{margin:0} #plot{width:900px;height:700px}</style>
%(renderer)s</head><body><div id="plot"></div><script>
// n points drifting from a mixed cloud into 10 clusters over the frames (like epochs)
function makeData(n, frames) {
  let s = 7;
  const rnd = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 4294967296; };
  const colors = new Uint8Array(n), positions = new Float32Array(frames * n * 2);
  const zx = new Float32Array(n), zy = new Float32Array(n);
  for (let i = 0; i < n; i++) { colors[i] = Math.floor(rnd() * 10); zx[i] = rnd() - 0.5; zy[i] = rnd() - 0.5; }
  for (let f = 0; f < frames; f++) {
    const sep = f / (frames - 1);
    for (let i = 0; i < n; i++) {
      const a = 2 * Math.PI * colors[i] / 10, o = 2 * (f * n + i);
      positions[o] = 0.6 * sep * Math.cos(a) + (1 - 0.7 * sep) * zx[i] + 0.03 * (rnd() - 0.5);
      positions[o + 1] = 0.6 * sep * Math.sin(a) + (1 - 0.7 * sep) * zy[i] + 0.03 * (rnd() - 0.5);
    }
  }
  return { n, nLayers: frames, positions, colors };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
window.scatter = new Deepling.LayerScatter(document.getElementById('plot'), {background: '#fff'});
window.measure = async function (n, trails, seconds) {
  const s = window.scatter;
  s.setData(Object.assign({palette: [[78,121,167],[242,142,43],[225,87,89],[118,183,178],[89,161,79],
    [237,201,72],[176,122,161],[255,157,167],[156,117,95],[186,176,172]]}, makeData(n, 12)));
  s.setTrails(trails);
  s.play({speed: 2, loop: 'bounce'});
  await sleep(800);
  const f0 = s.stats().frames, t0 = performance.now();
  await sleep(seconds * 1000);
  const fps = (s.stats().frames - f0) / ((performance.now() - t0) / 1000);
  s.pause();
  return fps;
};
</script></body></html>
"""


def projection_rows(a) -> list[tuple]:
    from deepling.models.demo import build_demo_model
    from deepling.service.config import Config
    from deepling.service.projections import ProjectionService
    from deepling.service.workspace import Workspace
    from deepling.training import TrainingConfig, train

    workspace = Workspace(Config(cache=tempfile.mkdtemp(prefix="bench-epochs-cache-")))
    train_ds = workspace.train_dataset("demo", "default")
    pick = np.random.default_rng(0).choice(len(train_ds), a.subset, replace=False)
    with tempfile.TemporaryDirectory() as tmp:
        record = train(build_demo_model(), train_ds.images[pick], train_ds.labels[pick],
                       config=TrainingConfig(epochs=a.epochs, batch_size=64), snapshot_dir=tmp)
        snaps = [(f"epoch {k}", p) for k, p in enumerate(record["snapshots"])]
        service = ProjectionService(workspace)
        choice = {"mode": "classes", "count": a.images}
        service.choose("demo", "default", choice)  # predictions of the open model: not timed
        t0 = time.perf_counter()
        result = service.compute_epochs("demo", "default", choice, a.layer, snaps[:-1])
        cold = (time.perf_counter() - t0) / (len(snaps) - 1)
        t0 = time.perf_counter()
        service.compute_epochs("demo", "default", choice, a.layer, snaps)
        grown = time.perf_counter() - t0
    n = result.sequence.n_images
    mirrored = int(np.sum(result.sequence.mirrored))
    return [(f"{a.layer} of {n:,} test images across {len(snaps) - 1} snapshots, nothing cached",
             f"{cold:.2f} s per snapshot", f"{mirrored} of {len(snaps) - 2} alignments mirrored"),
            (f"the same run one epoch later ({len(snaps)} snapshots, the others' layouts cached)",
             f"{grown:.2f} s for the whole job", "")]


def fps_rows(a) -> list[tuple]:
    from tests.browser import make_driver, quit_driver

    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "trails.html"
        page.write_text(PAGE % {"renderer": "".join(f'<script src="{f.as_uri()}"></script>'
                                                    for f in sorted((ROOT / "assets").glob("layer_scatter*.js")))})
        d = make_driver(window_size=(1000, 800))
        try:
            d.set_script_timeout(a.seconds * 4 + 30)
            d.get(page.as_uri())
            off, on = [], []
            for _ in range(a.rounds):  # alternate, so load changes hit both sides alike
                for trails, out in ((False, off), (True, on)):
                    out.append(d.execute_async_script(
                        "window.measure(arguments[0], arguments[1], arguments[2]).then(arguments[3])",
                        a.points, trails, a.seconds))
        finally:
            quit_driver(d)
    mo, mn = statistics.median(off), statistics.median(on)
    return [(f"{a.points:,} dots playing, trails off ÷ on (median of {a.rounds} rounds each)",
             f"{mo:.1f} fps ÷ {mn:.1f} fps", f"trails keep {mn / mo:.0%} of the frame rate")]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subset", type=int, default=2000, help="training images of the run")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--images", type=int, default=50, help="test images per class projected")
    p.add_argument("--layer", default="fc2")
    p.add_argument("--points", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=4)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    rows = projection_rows(a) + fps_rows(a)
    load_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [f"# Across training — {datetime.date.today()}", "",
             f"Demo CNN trained on {a.subset:,} CIFAR-10 training images for {a.epochs} epochs "
             f"(batch 64); machine at start: `{load_before}`; at the end: `{load_after}`", "",
             "| what | figure | note |", "| --- | --- | --- |"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} |" for r in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if not a.no_write:
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
