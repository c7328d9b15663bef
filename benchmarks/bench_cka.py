"""Time linear CKA between every layer pair against the models' plain ``predict``.

Run::

    DEEPLING_CIFAR10=/path/to/cifar10 python benchmarks/bench_cka.py

Measured side by side in one run, warm (each function traced once before), median of
``--rounds`` rounds: ``model.predict`` of the demo CNN and of a second, smaller CNN on the
same 2,000 CIFAR-10 test images, then :func:`deepling.projection.cka.cka` of the demo CNN
with itself (one pass, 18 × 18 layers) and with the small CNN (one pass each, 18 × L
layers). The goal: CKA ≤ 1.5 × the two models' predict time (for the demo with itself,
the yardstick is its one predict pass, since it goes through once). The small CNN is
trained for ``--epochs`` epochs on 5,000 training images so its heatmap means something
(``--epochs 0`` times it with random weights).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = ROOT / "benchmarks" / "results" / "cka.md"
COMMAND = "DEEPLING_CIFAR10=... bench python benchmarks/bench_cka.py"


def small_cnn(seed: int = 0):
    """A smaller CNN than the demo: two conv blocks of 16 and 32, one dense layer."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 3), name="image")
    x = layers.Rescaling(1 / 255, name="rescale")(inputs)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(64, activation="relu", name="fc")(x)
    out = layers.Dense(10, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, out, name="small_cnn")


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)

    import numpy as np

    from deepling.data import load_cifar10
    from deepling.models import load_demo_model
    from deepling.models.adapter import as_adapter
    from deepling.projection.cka import cka

    load = os.getloadavg()
    test = load_cifar10("test")
    # a seeded random sample: the local test split may be sorted by class (its first 2,000
    # images are then two classes only)
    pick = np.sort(np.random.default_rng(0).choice(len(test), args.images, replace=False))
    x, y = test.images[pick], test.labels[pick]
    demo = load_demo_model()
    small = small_cnn()
    if args.epochs:
        train = load_cifar10("train")
        pick = np.random.default_rng(0).permutation(len(train))[:5000]
        small.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        small.fit(train.images[pick].astype("float32"), train.labels[pick], epochs=args.epochs,
                  batch_size=64, verbose=0)
    small_adapter = as_adapter(small)
    acc_small = float((small_adapter.predict_proba(x).argmax(1) == y).mean())
    xf = x.astype("float32")

    def predict_demo():
        demo.model.predict(demo.preprocess(x), batch_size=256, verbose=0)

    def predict_small():
        small.predict(xf, batch_size=256, verbose=0)

    def cka_self():
        return cka(demo, None, x)

    def cka_pair():
        return cka(demo, small_adapter, x)

    runs = {"predict demo": predict_demo, "predict small": predict_small,
            "cka demo × demo": cka_self, "cka demo × small": cka_pair}
    for fn in runs.values():  # warm: every function traced once
        fn()
    times = {k: [] for k in runs}
    for _ in range(args.rounds):
        for name, fn in runs.items():
            times[name].append(timed(fn))
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in times.items()}
    self_result, pair_result = cka_self(), cka_pair()
    ratio_self = med["cka demo × demo"][0] / med["predict demo"][0]
    ratio_self_cpu = med["cka demo × demo"][1] / med["predict demo"][1]
    both = med["predict demo"][0] + med["predict small"][0]
    both_cpu = med["predict demo"][1] + med["predict small"][1]
    ratio_pair = med["cka demo × small"][0] / both
    ratio_pair_cpu = med["cka demo × small"][1] / both_cpu
    ratio_self_two = med["cka demo × demo"][0] / (2 * med["predict demo"][0])

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# CKA between every layer pair vs `predict`", "",
        f"{when}, commit {commit}, load average {load[0]:.1f} / {load[1]:.1f} at the start "
        f"(2 cores), `{COMMAND}`; {args.images:,} CIFAR-10 test images (a seeded random sample), warm, medians of "
        f"{args.rounds} rounds, wall (process CPU) seconds.", "",
        "| what | layers | time, s | ratio | goal |", "| --- | --- | --- | --- | --- |",
        f"| demo CNN `predict` | | {med['predict demo'][0]:.2f} ({med['predict demo'][1]:.2f}) | | |",
        f"| small CNN `predict` ({args.epochs} epochs on 5,000 images, accuracy on the sample "
        f"{acc_small:.0%}) | | {med['predict small'][0]:.2f} ({med['predict small'][1]:.2f}) | | |",
        f"| CKA demo × demo (one pass) | {len(self_result.names_a)} × {len(self_result.names_b)} | "
        f"{med['cka demo × demo'][0]:.2f} ({med['cka demo × demo'][1]:.2f}) | "
        f"**{ratio_self:.2f}** ({ratio_self_cpu:.2f} CPU) of one predict; {ratio_self_two:.2f} "
        f"of the two models' (the same model twice) | ≤ 1.5 |",
        f"| CKA demo × small (one pass each) | {len(pair_result.names_a)} × "
        f"{len(pair_result.names_b)} | {med['cka demo × small'][0]:.2f} "
        f"({med['cka demo × small'][1]:.2f}) | **{ratio_pair:.2f}** ({ratio_pair_cpu:.2f} CPU) of "
        f"both predicts | ≤ 1.5 |", "",
        "Which layer of the small CNN matches which of the demo's (highest CKA):", "",
        "| small CNN layer | best demo layer | CKA |", "| --- | --- | --- |",
    ]
    for j, name in enumerate(pair_result.names_b):
        i = pair_result.best_match[j]
        lines.append(f"| {name} | {pair_result.names_a[i]} | {pair_result.matrix[i, j]:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
