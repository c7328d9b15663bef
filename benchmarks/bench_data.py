"""Time the data and testing views' work on the demo model and CIFAR-10; write a markdown table.

Run (after the demo model is trained)::

    DEEPLING_CIFAR10=/path/to/cifar10 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
        python benchmarks/bench_data.py

Measured: the confusion matrix over the 10,000 test images (the model's predictions, then the
scores and the heat map from them, which is what a page build pays once predictions are
cached), one Grad-CAM (cold: first call, tracing; warm: median of ``--repeats``), the whole
explanation row a focus change computes, the confidence embedding, the image-in-focus
robustness curves, and the robustness simulation over a stratified sample of 1,000 images
(all six augmentations at their default magnitudes), per augmentation.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = ROOT / "benchmarks" / "results" / "data.md"
COMMAND = ("DEEPLING_CIFAR10=... TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 "
           "python benchmarks/bench_data.py")


def timed(fn, repeats: int):
    """(cold seconds, warm median seconds, last result)."""
    t0 = time.perf_counter()
    result = fn()
    cold = time.perf_counter() - t0
    warm = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        warm.append(time.perf_counter() - t0)
    return cold, statistics.median(warm) if warm else float("nan"), result


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--robustness-images", type=int, default=1000)
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)

    import keras
    import tensorflow as tf

    from deepling.data import load_cifar10
    from deepling.evaluation import (
        filter_images,
        image_robustness,
        scores,
        simulate_robustness,
        stratified_sample,
    )
    from deepling.methods import AUGMENTATIONS, gradcam
    from deepling.models import load_demo_model
    from deepling.projection import layer_sequence, penultimate_layer
    from deepling.service.explanations import explain_image
    from deepling.web.views.data import confusion_figure
    from deepling.web.views.testing import explanation_row

    adapter = load_demo_model()
    test = adapter.fit_dataset(load_cifar10("test"))
    names = test.class_names
    rows = []

    def add(name, cold, warm=float("nan"), note=""):
        rows.append((name, cold, warm, note))
        warm_text = "" if np.isnan(warm) else f"   warm median {warm:7.3f} s"
        print(f"{name:<58} {'cold' if not np.isnan(warm) else 'time'} {cold:7.3f} s{warm_text}   {note}")

    t0 = time.perf_counter()
    probs = adapter.predict_proba(test.images)
    add(f"predictions, {len(test):,} test images (once per model and data; then disk-cached)",
        time.perf_counter() - t0)
    predicted, confidence = probs.argmax(1), probs.max(1)
    cold, warm, s = timed(lambda: scores(test.labels, predicted, len(names)), a.repeats)
    add(f"confusion matrix + scores from predictions, {len(test):,} images (sklearn)", cold, warm,
        f"accuracy {s.accuracy:.4f}, sum {int(s.confusion.sum()):,}")
    cold, warm, _ = timed(lambda: confusion_figure(s, names).to_plotly_json(), a.repeats)
    add("confusion heat map figure", cold, warm)
    cold, warm, idx = timed(lambda: filter_images(test.labels, predicted, confidence, true=3,
                                                  errors_only=True), a.repeats)
    add("grid filter + sort, 10,000 images", cold, warm, f"{len(idx)} cats misclassified")

    i = int(np.flatnonzero(predicted != test.labels)[0])
    image = test.images[i]
    cold, warm, cam = timed(lambda: gradcam(adapter, image), a.repeats)
    add(f"Grad-CAM, one image ({cam.layer})", cold, warm, f"test image #{i}")
    cold, warm, _ = timed(lambda: explanation_row(
        "x", image, explain_image(adapter, image, None, None)[0], names, ""), a.repeats)
    add("explanation row: Grad-CAM + saliency + occlusion + pictures", cold, warm,
        "what a focus change computes")
    cold, warm, _ = timed(lambda: image_robustness(adapter, image, int(test.labels[i])), a.repeats)
    add("robustness curves of the image in focus (6 augmentations)", cold, warm)

    sample = stratified_sample(test.labels, 500, seed=0)
    t0 = time.perf_counter()
    layer = penultimate_layer(adapter)
    layer_sequence(adapter, test.images[sample], layers=[layer])
    add(f"confidence embedding ({layer}), 500 images, uncached", time.perf_counter() - t0)

    n = a.robustness_images
    sample = stratified_sample(test.labels, n, seed=0)
    ends = {}  # augmentation label → time of its last progress report (its end)

    def progress(fraction, message):
        ends[message.split(" (")[0]] = time.perf_counter()

    t0 = time.perf_counter()
    result = simulate_robustness(adapter, test.images[sample], test.labels[sample], progress=progress)
    total = time.perf_counter() - t0
    bounds = [t0] + list(ends.values())
    per_aug = {name: bounds[k + 1] - bounds[k] for k, name in enumerate(AUGMENTATIONS)}
    n_mags = sum(len(aug.grid) for aug in AUGMENTATIONS.values())
    add(f"robustness simulation, {n:,} images × {n_mags} magnitudes (6 augmentations)", total,
        note="background job; " + ", ".join(f"{k} {v:.1f} s" for k, v in per_aug.items()))

    lines = [
        "# Data and testing views: timings on the demo model",
        "",
        f"Command: `{COMMAND}`",
        "",
        f"Machine: {cpu_name()}, TF intra/inter-op threads "
        f"{os.environ.get('TF_NUM_INTRAOP_THREADS', 'default')}/"
        f"{os.environ.get('TF_NUM_INTEROP_THREADS', 'default')}; TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}, Python {platform.python_version()}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        f"Warm figures are the median of {a.repeats} runs after the first (cold) call; the cold "
        "call includes tracing the tf.function graphs for this model.",
        "",
        "| step | cold or single (s) | warm median (s) | note |",
        "|---|---:|---:|---|",
    ]
    def secs(x):
        return "—" if np.isnan(x) else f"{x:.4f}" if x >= 1e-3 else f"{x:.6f}"

    for name, cold, warm, note in rows:
        lines.append(f"| {name} | {secs(cold)} | {secs(warm)} | {note} |")
    lines += ["", f"## Robustness simulation: mean probability of the true class ({n:,} images)", ""]
    for name, aug in AUGMENTATIONS.items():
        mags, mean, acc = (result[f"{name}/{k}"] for k in ("magnitudes", "mean", "accuracy"))
        lines.append(f"- {aug.label} ({aug.unit}): "
                     + ", ".join(f"{m:g} → {v:.3f}" for m, v in zip(mags, mean))
                     + "; accuracy " + ", ".join(f"{v:.3f}" for v in acc))
    lines.append("")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines))
    print(f"\nwrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
