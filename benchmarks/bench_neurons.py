"""Time the Neurons view's mining on the demo model and CIFAR-10's 10,000 test images.

Run::

    DEEPLING_CIFAR10=/path/to/cifar10 python benchmarks/bench_neurons.py

Measured, side by side in one run: the model's plain prediction pass (``predict_proba``)
as the yardstick, the one compiled pass that keeps every unit's mean activation for all
eight conv/dense layers (the paths are their argmax), PrefixSpan mining of closed
patterns (the view's setting) and of all frequent patterns, the neuron projection of
every layer and of the widest one, and the whole :func:`deepling.neurons.neuron_atlas`
(forward pass + projections + top images + mining: what the background job does). Peak
memory is the process's resident set size; the table says how much the data and the model
take before any of it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

OUT = ROOT / "benchmarks" / "results" / "neurons.md"
COMMAND = "DEEPLING_CIFAR10=... python benchmarks/bench_neurons.py"


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - t0, time.process_time() - c0, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args(argv)

    import numpy as np

    from deepling.data import load_cifar10
    from deepling.models import load_demo_model
    from deepling.neurons import NeuronProjection, mine_patterns, neuron_atlas, unit_activations

    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    ds = load_cifar10("test")
    ds = ds.subset(np.arange(min(args.images, len(ds))))
    adapter = load_demo_model()
    adapter.predict_proba(ds.images[:256])  # build the model once
    base_rss = rss_mb()
    rows = []

    wall, cpu, _ = timed(lambda: adapter.predict_proba(ds.images))
    predict = wall
    rows.append(("model.predict pass (yardstick)", wall, cpu, ""))
    unit_activations(adapter, ds.images[:256])  # trace the compiled function once
    wall, cpu, acts = timed(lambda: unit_activations(adapter, ds.images))
    rows.append(("forward pass: unit means of 8 layers (832 units)", wall, cpu,
                 f"{wall / predict:.2f}× the predict pass; {sum(m.nbytes for m in acts.means) / 2**20:.0f} MB kept"))
    paths = acts.paths
    wall, cpu, closed = timed(lambda: mine_patterns(paths, acts.layers))
    rows.append(("mining, closed patterns (the view's setting)", wall, cpu,
                 f"{len(closed):,} patterns, {len(closed.members):,} memberships"))
    wall, cpu, every = timed(lambda: mine_patterns(paths, acts.layers, closed=False))
    rows.append(("mining, all frequent patterns", wall, cpu, f"{len(every):,} patterns"))
    widest = int(np.argmax(acts.widths))
    wall, cpu, _ = timed(lambda: NeuronProjection().fit(acts.means[widest], ds.labels, 10))
    rows.append((f"neuron projection of the widest layer ({acts.layers[widest]}, "
                 f"{acts.widths[widest]} units)", wall, cpu, "correlation over 10,000 images"))
    wall, cpu, _ = timed(lambda: [NeuronProjection().fit(m, ds.labels, 10) for m in acts.means])
    rows.append(("neuron projection of all 8 layers", wall, cpu, ""))
    del acts
    wall, cpu, atlas = timed(lambda: neuron_atlas(adapter, ds.images, ds.labels, n_classes=10))
    total, total_cpu = wall, cpu
    size = sum(v.nbytes for v in atlas.to_arrays().values()) / 2**20
    rows.append(("**whole job**: neuron_atlas (forward + projections + top images + mining)",
                 wall, cpu, f"cached result {size:.1f} MB"))
    peak = peak_rss_mb()

    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Neurons: mining on the demo model", "",
        f"Command: `{COMMAND}`", "",
        f"{len(ds):,} CIFAR-10 test images, the demo CNN; {now}; 2-core CPU machine shared with "
        f"other work: `{load}` before the run.", "",
        "| step | wall (s) | CPU (s) | note |", "|---|---:|---:|---|",
        *[f"| {name} | {w:.2f} | {c:.2f} | {note} |" for name, w, c, note in rows],
        "",
        f"Memory: peak resident set {peak:,.0f} MB for the whole process; {base_rss:,.0f} MB "
        "before any of the above (TensorFlow, the model, the 10,000 images).", "",
        f"Goal: mining over 10,000 images × all layers under 30 s including the forward pass: "
        f"{total:.1f} s wall ({'met' if total < 30 else 'not met'} in this run) and "
        f"{total_cpu:.1f} s of CPU time. The CPU time is what the job costs; the wall time "
        "is that plus waiting for the cores, which other work shared during this run (see "
        "the load above): compare the rows with each other, not with another run.", "",
    ]
    text = "\n".join(lines)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
