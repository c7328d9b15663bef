"""Shape workshop and class images: timings, ShapeShop's scenario, the demo CNN's class images.

Run::

    python benchmarks/bench_shapes.py            # writes benchmarks/results/shapes.md and
                                                 # docs/demo_class_images.png

1. "Train and visualise" (``run_workshop``, the workshop's defaults: 10 noisy copies,
   15 epochs, 40 ascent steps) for 2, 4 and 8 classes × MLP and CNN, in a process where
   TensorFlow is already loaded (as in the server); median of ``--repeats`` runs.
2. ShapeShop's scenario (Hohman et al. 2017, fig. 5): the four lines alone, then with the
   two circles, then also with noise and blurred noise; mean |Pearson r| of the *line*
   classes' images with their class images, for MLP and CNN, averaged over 3 seeds.
3. The demo CNN's ten class images with ``class_image``'s defaults, timed, saved as a grid.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = ROOT / "benchmarks" / "results" / "shapes.md"
GRID = ROOT / "docs" / "demo_class_images.png"
LINES = ["vertical line", "horizontal line", "diagonal", "anti-diagonal"]
SCENARIO = [("lines", LINES), ("+ circles", LINES + ["circle", "hollow circle"]),
            ("+ noise", LINES + ["circle", "hollow circle", "noise", "blurred noise"])]
CLASS_SETS = {2: ["vertical line", "horizontal line"],
              4: ["vertical line", "horizontal line", "circle", "square"],
              8: ["vertical line", "horizontal line", "diagonal", "anti-diagonal", "circle",
                  "hollow circle", "square", "triangle"]}


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-demo", action="store_true", help="skip the demo CNN's class images")
    args = ap.parse_args(argv)

    import keras
    import tensorflow as tf

    from deepling.shapes import run_workshop, shape_image

    lines = [f"# Shape workshop and class images", "",
             f"Command: `python benchmarks/bench_shapes.py`", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
             f"TensorFlow {tf.__version__}, Keras {keras.__version__}; "
             f"{datetime.now():%Y-%m-%d %H:%M}; load average at the start {load()} "
             "(shared machine: other engineers' jobs ran beside it).", ""]

    run_workshop([shape_image(n) for n in CLASS_SETS[2]], CLASS_SETS[2], "mlp")  # load TF kernels
    lines += ["## Train and visualise", "",
              f"Median of {args.repeats} runs, each a new model: building, 15 epochs of training "
              "(tracing the train step included), 40 ascent steps for all class images at once "
              "from the workshop's start (dark gray); "
              "the lowest training accuracy and the mean |r| over the runs (seeds 0, 1, 2).", "",
              "| classes | model | images | seconds (median) | min | lowest training accuracy | mean \\|r\\| |",
              "|---:|---|---:|---:|---:|---:|---:|"]
    for k, names in CLASS_SETS.items():
        images = [shape_image(n) for n in names]
        for kind in ("mlp", "cnn"):
            times, runs = [], []
            for seed in range(args.repeats):
                t0 = time.perf_counter()
                runs.append(run_workshop(images, names, kind, seed=seed))
                times.append(time.perf_counter() - t0)
            r_mean = np.mean([r.correlations.mean() for r in runs])
            row = (f"| {k} | {kind.upper()} | {len(runs[0].dataset)} | {statistics.median(times):.2f} | "
                   f"{min(times):.2f} | {min(r.accuracy for r in runs):.1%} | {r_mean:.2f} |")
            print(row, flush=True)
            lines.append(row)

    lines += ["", "## ShapeShop's scenario: lines → + circles → + noise", "",
              "Mean |Pearson r| between each class's generated image and its class image, over "
              "3 seeds; *lines* averages the four line classes only, *all* every class of the run.",
              "", "| classes | model | lines | all | training accuracy |", "|---|---|---:|---:|---:|"]
    for label, names in SCENARIO:
        images = [shape_image(n) for n in names]
        for kind in ("mlp", "cnn"):
            runs = [run_workshop(images, names, kind, seed=s) for s in range(3)]
            line_r = np.mean([r.correlations[:4].mean() for r in runs])
            all_r = np.mean([r.correlations.mean() for r in runs])
            acc = min(r.accuracy for r in runs)
            row = f"| {label} ({len(names)}) | {kind.upper()} | {line_r:.2f} | {all_r:.2f} | {acc:.1%} |"
            print(row, flush=True)
            lines.append(row)

    if not args.no_demo:
        from PIL import Image

        from deepling.data import load_cifar10
        from deepling.methods import class_images
        from deepling.methods.class_image import COLOUR_WEIGHTS, DEFAULT_LOG_PROB_WEIGHT, hsv_saturation
        from deepling.models import load_demo_model

        adapter = load_demo_model()
        try:
            data_sat = float(hsv_saturation(load_cifar10("test").images).mean())
        except Exception as e:  # noqa: BLE001 - no local CIFAR-10: say so in the table
            print("no CIFAR-10 for the saturation reference:", e)
            data_sat = float("nan")
        t0 = time.perf_counter()
        out = class_images(adapter, list(range(10)))
        seconds = time.perf_counter() - t0
        names = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
        tiles = [np.kron(r.image, np.ones((4, 4, 1), np.uint8)) for r in out]
        pad = np.full((128, 4, 3), 255, np.uint8)
        grid = np.concatenate(sum(([t, pad] for t in tiles), [])[:-1], axis=1)
        GRID.parent.mkdir(exist_ok=True)
        Image.fromarray(grid).save(GRID)
        lines += ["", "## The demo CNN's class images", "",
                  f"All ten classes in one batch with `class_image`'s defaults (Fourier "
                  f"parameterisation, decorrelated colour weighted {COLOUR_WEIGHTS} as Lucid's, "
                  f"score (1 − {DEFAULT_LOG_PROB_WEIGHT:g})·logit + {DEFAULT_LOG_PROB_WEIGHT:g}·log p, "
                  f"jitter 2 px, TV weight 0.5, 200 Adam steps of 0.05, start gray): {seconds:.1f} s "
                  f"including tracing. Grid: `docs/{GRID.name}` ({', '.join(names)}). Mean HSV "
                  f"saturation of the CIFAR-10 test images: {data_sat:.3f} (goal: each class image "
                  "within 0.1 of it, at p ≥ 0.99).", "",
                  "| class | logit start → end | probability | HSV saturation |", "|---|---:|---:|---:|"]
        sats = hsv_saturation(np.stack([r.image for r in out]))
        for n, r, sat in zip(names, out, sats):
            lines.append(f"| {n} | {r.scores[0]:.1f} → {r.scores[-1]:.1f} | {r.probability:.3f} | "
                         f"{sat:.3f} |")
        print(lines[-11:])

    lines += ["", f"Load average at the end: {load()}."]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
