"""What monitoring and freezing cost, on the demo CNN and CIFAR-10 training images.

Side by side in one run (absolute times are noisy on a shared machine):

* epoch time of the monitored loop (:func:`deepling.training.train`, per-filter amounts,
  control polled, deltas published) ÷ plain ``model.fit`` on the same images and model;
* epoch time with conv1a–conv2b frozen ÷ nothing frozen (monitored loop);
* projection of one layer across the epochs' snapshots, per snapshot.

    python benchmarks/bench_training.py [--subset 3000] [--epochs 2]
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
OUT = Path(__file__).parent / "results" / "training.md"


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--subset", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    a = p.parse_args(argv)

    import keras

    from deepling.data import load_cifar10
    from deepling.models.demo import build_demo_model
    from deepling.training import TrainingConfig, projection_across_training, train

    data = load_cifar10("train")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(data), a.subset, replace=False)
    x, y = data.images[idx], data.labels[idx]
    xf = x.astype("float32")

    def fit_epochs():
        model = build_demo_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        times = []
        cb = keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda e, logs: times.append(time.perf_counter()),
            on_epoch_end=lambda e, logs: times.append(time.perf_counter()))
        model.fit(xf, y, batch_size=a.batch_size, epochs=a.epochs + 1, verbose=0, callbacks=[cb])
        return [times[i + 1] - times[i] for i in range(2, len(times), 2)]  # first epoch: tracing

    def monitored_epochs(frozen=()):
        model = build_demo_model()
        deltas = []
        rec = train(model, x, y, config=TrainingConfig(epochs=a.epochs + 1, batch_size=a.batch_size,
                                                       frozen=list(frozen)),
                    control=lambda: {"command": "run", "frozen": list(frozen)}, publish=deltas.append)
        return [e["seconds"] for e in rec["epochs"][1:]], model

    rows = []
    # Interleave the runs so load changes hit both sides alike.
    plain, mon, froz = [], [], []
    for _ in range(2):
        plain += fit_epochs()
        m, _model = monitored_epochs()
        mon += m
        f, _ = monitored_epochs(("conv1a", "conv1b", "conv2a", "conv2b"))
        froz += f
    rows.append(("monitored epoch ÷ plain model.fit", f"{np.median(mon):.2f} s ÷ {np.median(plain):.2f} s",
                 f"{np.median(mon) / np.median(plain):.2f}", "≤ 1.15"))
    rows.append(("epoch with conv1a–conv2b frozen ÷ none frozen",
                 f"{np.median(froz):.2f} s ÷ {np.median(mon):.2f} s",
                 f"{np.median(froz) / np.median(mon):.2f}", ""))

    with tempfile.TemporaryDirectory() as tmp:
        model = build_demo_model()
        rec = train(model, x, y, config=TrainingConfig(epochs=3, batch_size=a.batch_size), snapshot_dir=tmp)
        snaps = [keras.models.load_model(s, compile=False) for s in rec["snapshots"]]
        test = load_cifar10("test")
        pick = np.random.default_rng(1).choice(len(test), 500, replace=False)
        t0 = time.perf_counter()
        projection_across_training(snaps, test.images[pick], "fc2")
        per = (time.perf_counter() - t0) / len(snaps)
    rows.append(("layer fc2 projected across snapshots (500 test images)", f"{per:.2f} s per snapshot",
                 "", ""))

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [f"# Training benchmark — {datetime.date.today()}",
             "", f"Demo CNN, {a.subset:,} CIFAR-10 training images, batch {a.batch_size}, medians of "
                 f"{2 * a.epochs} epochs per side (the first epoch of each run, with tracing, left out); "
                 f"machine: `{load}`", "",
             "| what | times | ratio | goal |", "| --- | --- | --- | --- |"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    text = "\n".join(lines) + "\n"
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
