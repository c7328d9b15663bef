"""Time the interpretability methods on the demo model and CIFAR-10; write a markdown table.

Run (after the demo model is trained)::

    DEEPLING_CIFAR10=/path/to/cifar10 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 \\
        python benchmarks/bench_methods.py

Each interactive method is timed once cold (first call: tracing and sub-model building) and
then ``--repeats`` times warm; the table reports the cold time and the warm median. The
strip check runs the default class strip on misclassified test images, pushing each towards
its true class, to show what the tuned defaults do.

``--peers`` instead times every attribution method on 50 test images beside the fastest
independent implementation installed (Xplique, tf-keras-vis), side by side in one run, and
writes ``benchmarks/results/methods_peers.md``. The peers are not Deepling dependencies:
run it from a separate environment that has them (see that file for how it was made)::

    bench /work/venv-peers/bin/python benchmarks/bench_methods.py --peers
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

OUT = ROOT / "benchmarks" / "results" / "methods.md"
COMMAND = ("DEEPLING_CIFAR10=... TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 "
           "python benchmarks/bench_methods.py")


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
    p.add_argument("--strip-check-images", type=int, default=50)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--peers", action="store_true",
                   help="time the attribution methods against Xplique and tf-keras-vis")
    p.add_argument("--images", type=int, default=50, help="images per call with --peers")
    p.add_argument("--methods", default="",
                   help="with --peers: only these methods (comma-separated names); their rows "
                        "replace the same methods' rows of the earlier runs in the table")
    a = p.parse_args(argv)
    if a.peers:
        from bench_methods_peers import run_peers  # beside this script

        return run_peers(a.images, min(a.repeats, 3),
                         methods=[m for m in a.methods.split(",") if m] or None)

    import keras
    import tensorflow as tf
    from sklearn.metrics import confusion_matrix

    from deepling.data import load_cifar10
    from deepling.methods import (
        Channel,
        adversarial_strip,
        fgsm,
        gradcam,
        occlusion_sensitivity,
        robustness_curves,
        saliency,
    )
    from deepling.methods.adversarial import (
        DEFAULT_NORM,
        DEFAULT_STEP_SIZE,
        DEFAULT_STEPS,
    )
    from deepling.models import load_demo_model

    adapter = load_demo_model()
    test = load_cifar10("test")
    rng = np.random.default_rng(0)

    t0 = time.perf_counter()
    probs = adapter.predict_proba(test.images)
    predicted = probs.argmax(1)
    cm = confusion_matrix(test.labels, predicted, labels=np.arange(test.n_classes))
    cm_seconds = time.perf_counter() - t0
    accuracy = float(np.trace(cm) / cm.sum())

    wrong = np.flatnonzero(predicted != test.labels)
    i = int(wrong[0])
    image, label = test.images[i], int(test.labels[i])
    rows = []

    def add(name, fn, note=""):
        cold, warm, result = timed(fn, a.repeats)
        rows.append((name, cold, warm, note))
        print(f"{name:<46} cold {cold:7.3f} s   warm median {warm:7.3f} s   {note}")
        return result

    add(f"class strip, 8 frames, {DEFAULT_STEPS} steps",
                lambda: adversarial_strip(adapter, image, label),
                f"test image #{i}, {test.class_names[predicted[i]]} → {test.class_names[label]}")
    add(f"channel strip conv2b ch 17, 8 frames, {DEFAULT_STEPS} steps",
        lambda: adversarial_strip(adapter, image, Channel("conv2b", 17)))
    add("Grad-CAM (conv3b)", lambda: gradcam(adapter, image))
    add("saliency", lambda: saliency(adapter, image))
    add("occlusion, patch 8 stride 4 (49 positions)",
        lambda: occlusion_sensitivity(adapter, image, patch=8, stride=4))
    add("FGSM ε=8, one image", lambda: fgsm(adapter, image, label, 8.0))

    n = min(a.robustness_images, len(test))
    subset = np.sort(rng.choice(len(test), n, replace=False))
    images, labels = test.images[subset], test.labels[subset]
    robust = {}
    for name in ("blur", "fgsm"):
        t0 = time.perf_counter()
        robust[name] = robustness_curves(adapter, images, labels, name)
        seconds = time.perf_counter() - t0
        mags = robust[name].magnitudes
        rows.append((f"robustness: {name}, {n:,} images × {len(mags)} magnitudes",
                     seconds, float("nan"), "one run"))
        print(f"robustness {name}: {seconds:.2f} s; mean p(true) "
              + ", ".join(f"{m:g}: {v:.3f}" for m, v in zip(mags, robust[name].mean)))
    rows.append(("confusion matrix, 10,000 images (predict + sklearn)", cm_seconds,
                 float("nan"), f"accuracy {accuracy:.4f}"))

    # What the default strip does to misclassified images pushed to their true class.
    check = wrong[:a.strip_check_images]
    flips, flip_steps, linf, rms = 0, [], [], []
    for j in check:
        s = adversarial_strip(adapter, test.images[j], int(test.labels[j]))
        ok = s.predicted[-1] == test.labels[j]
        flips += bool(ok)
        if ok:
            first = int(np.argmax(s.predicted == test.labels[j]))
            flip_steps.append(int(s.steps[first]))
        linf.append(float(np.abs(s.delta[-1]).max()))
        rms.append(float(np.sqrt((s.delta[-1] ** 2).mean())))

    lines = [
        "# Interpretability methods: timings on the demo model",
        "",
        f"Command: `{COMMAND}`",
        "",
        (f"Machine: {cpu_name()}, TF intra/inter-op threads "
         f"{os.environ.get('TF_NUM_INTRAOP_THREADS', 'default')}/"
         f"{os.environ.get('TF_NUM_INTEROP_THREADS', 'default')}; TensorFlow {tf.__version__}, "
         f"Keras {keras.__version__}, Python {platform.python_version()}; "
         f"{time.strftime('%Y-%m-%d %H:%M')}; load average at the end "
         f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} (shared machine: other jobs ran)."),
        "",
        (f"Warm figures are the median of {a.repeats} runs after the first (cold) call; the "
         "cold call includes tracing the tf.function graphs for this model."),
        "",
        "| method | cold (s) | warm median (s) | note |",
        "|---|---:|---:|---|",
    ]
    for name, cold, warm, note in rows:
        warm_text = "—" if np.isnan(warm) else f"{warm:.3f}"
        lines.append(f"| {name} | {cold:.3f} | {warm_text} | {note} |")
    lines += [
        "",
        (f"Goal for the class strip: ≤ 1 s warm. Strip defaults: {DEFAULT_STEPS} "
         f"{DEFAULT_NORM}-normalised steps of {DEFAULT_STEP_SIZE:g} pixel level, frames at "
         "geometrically spaced steps, no L∞ bound. Occlusion's cold call is warm in practice: "
         "it reuses the forward graph traced by the calls before it."),
        "",
        "## Robustness curves (mean probability of the true class)",
        "",
    ]
    for name, curves in robust.items():
        lines.append(f"- {name} ({curves.unit}): "
                     + ", ".join(f"{m:g} → {v:.3f}" for m, v in zip(curves.magnitudes, curves.mean))
                     + "; accuracy " + ", ".join(f"{v:.3f}" for v in curves.accuracy))
    lines += [
        "",
        "## Default class strip on misclassified test images (target: the true class)",
        "",
        f"- images: the first {len(check)} misclassified test images",
        f"- reach the true class by the last frame: {flips}/{len(check)}",
        ("- step of the first frame showing the true class: median "
         f"{statistics.median(flip_steps) if flip_steps else float('nan'):g}"),
        (f"- change at the last frame: L∞ median {statistics.median(linf):.0f} levels, "
         f"RMS median {statistics.median(rms):.1f} levels"),
        "",
    ]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines))
    print(f"\nstrip check: {flips}/{len(check)} flipped to the true class; wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
