"""Benchmark of the layer projection pipeline on the demo CNN and CIFAR-10 test images.

Measures, and writes to ``benchmarks/results/projection.md``:

1. **Cost against prediction.** For N = 1,000 / 5,000 / 10,000 / 60,000 images: the time of
   ``layer_sequence`` over the time of a plain ``model.predict`` on the same images
   (goal ≤ 1.3), as wall and as process CPU time (steadier on a shared machine),
   and the peak resident memory of the process (goal ≤ 2 GB at N = 60,000, all of CIFAR-10),
   beside the stress and variance shown of the layouts on a fixed sample. Every
   measurement runs in a fresh subprocess so peaks do not mix.
2. **Against the alternatives** at N = 2,000: scikit-learn t-SNE and SMACOF MDS run
   per layer (goal: the pipeline ≥ 20× faster than per-layer t-SNE). They are timed on a
   few layers and extrapolated to all layers, and only their ``fit_transform`` is timed
   (activations handed to them for free), which favours them.
3. **Quality and stability.** Stress of the pipeline's layouts and the variance they
   show, against classical MDS and Pivot MDS (50 pivots, the pipeline's method before
   #17) on the same layers, and the mean point travel between
   consecutive frames with and without Procrustes alignment.

Run from the repository root, on an otherwise idle machine::

    python benchmarks/bench_projection.py            # the full run (about 10 minutes)
    python benchmarks/bench_projection.py --sizes 1000,5000,10000   # without the 60,000 row
    python benchmarks/bench_projection.py --quick    # a small smoke run

Needs the trained demo model (``deepling train-demo``) and CIFAR-10 (``DEEPLING_CIFAR10``
or the Keras download).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's deepling, also in the worker processes
RESULTS = ROOT / "benchmarks" / "results" / "projection.md"
SCALE_SIZES, COMPARE_SIZE = (1_000, 5_000, 10_000, 60_000), 2_000
QUICK_SCALE_SIZES, QUICK_COMPARE_SIZE = (300, 600), 300
# Layers the per-layer baselines are timed on: the widest conv, a middle block, a dense.
COMPARE_LAYERS = ("conv1b", "pool2", "fc1")
QUICK_COMPARE_LAYERS = ("pool2", "fc1")


# --- workers (each runs in its own process) -------------------------------------------

class PeakRSS:
    """Samples this process's resident memory in a thread; ``peak`` is the largest seen."""

    def __init__(self, interval=0.02):
        import psutil

        self._proc, self._interval = psutil.Process(), interval
        self.peak, self._stop = self._proc.memory_info().rss, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            time.sleep(self._interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


def _load(n):
    """The trained demo model and the first ``n`` images of a fixed shuffle of CIFAR-10 test
    (of all 60,000 images, train then test, when ``n`` is above the 10,000 test images)."""
    from deepling.data import load_dataset
    from deepling.models import load_demo_model

    adapter = load_demo_model()
    data = load_dataset("cifar10", split="test" if n <= 10_000 else "all")
    order = np.random.default_rng(0).permutation(len(data))[:n]  # the folder is class-sorted
    return adapter, np.ascontiguousarray(data.images[np.sort(order)])


def _max_rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports kB


def timed(fn):
    """Wall and CPU seconds of ``fn()``. CPU time is what a busy machine distorts least."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def worker_predict(n):
    adapter, images = _load(n)
    x = adapter.preprocess(images)
    def run():
        adapter.model.predict(x, batch_size=256, verbose=0)

    cold = timed(run)
    warm = [timed(run) for _ in range(2)]
    return {"cold": cold[0], "warm": min(w for w, _ in warm), "cold_cpu": cold[1],
            "warm_cpu": min(c for _, c in warm), "max_rss": _max_rss()}


def worker_pipeline(n, params):
    from deepling.projection import layer_sequence

    adapter, images = _load(n)
    before = PeakRSS().peak
    with PeakRSS() as rss:
        seqs = []
        times = [timed(lambda: seqs.append(layer_sequence(adapter, images, **params)))
                 for _ in range(2)]
    out = {"first": times[0][0], "best": min(w for w, _ in times), "first_cpu": times[0][1],
           "best_cpu": min(c for _, c in times), "rss_before": before, "rss_peak": rss.peak,
           "max_rss": _max_rss()}
    return {**out, "quality": layout_quality(adapter, images, seqs[-1], QUALITY_LAYERS)}


QUALITY_LAYERS, QUALITY_SAMPLE = ("conv1b", "pool2", "fc1"), 1_000


def layout_quality(adapter, images, seq, layers):
    """Stress and variance shown (÷ classical MDS) of ``seq``'s layouts on a fixed sample of
    the images, per layer: whether a faster or bigger run still lays them out as well."""
    import keras
    from scipy.spatial.distance import pdist

    pick = np.sort(np.random.default_rng(1).permutation(len(images))[:QUALITY_SAMPLE])
    x = adapter.preprocess(images[pick])
    out = {}
    for name in layers:
        sub = keras.Model(adapter.model.inputs[0], adapter.model.get_layer(name).output)
        acts = np.asarray(sub.predict(x, batch_size=256, verbose=0), np.float64).reshape(len(pick), -1)
        acts -= acts.mean(axis=0)
        layout = np.asarray(seq.layout(name), np.float64)[pick]
        w, v = np.linalg.eigh(acts @ acts.T)
        classical = v[:, -2:] * np.sqrt(np.maximum(w[-2:], 0))
        out[name] = {"stress": _stress(pdist(acts), layout),
                     "variance_share": _variance_shown(acts, layout) / _variance_shown(acts, classical)}
    return out


def _stress(true, layout):
    from scipy.spatial.distance import pdist

    got = pdist(layout)
    got = got * (true @ got) / (got @ got)
    return float(np.sqrt(np.sum((true - got) ** 2) / np.sum(true ** 2)))


def _variance_shown(centred, layout):
    basis, _ = np.linalg.qr(layout - layout.mean(axis=0))
    return float(np.sum((centred.T @ basis) ** 2))


def worker_compare(n, layers, params):
    """Pipeline vs per-layer t-SNE and MDS; stress vs classical and Pivot MDS; travel with/without
    alignment."""
    import keras
    from scipy.spatial.distance import pdist
    from sklearn.manifold import MDS, TSNE

    from deepling.projection import PivotMDS, layer_sequence

    adapter, images = _load(n)
    layer_sequence(adapter, images[:300], **params)  # traces the compiled functions
    t0 = time.perf_counter()
    seq = layer_sequence(adapter, images, **params)
    pipeline = time.perf_counter() - t0
    unaligned = layer_sequence(adapter, images, **params, align=False)

    def travel(s):
        return float(np.linalg.norm(np.diff(s.layouts.astype(np.float64), axis=0), axis=2).mean())

    stress, variance_shown = _stress, _variance_shown

    def classical_mds(X):
        Xc = X - X.mean(axis=0)
        w, v = np.linalg.eigh(Xc @ Xc.T)
        return v[:, -2:] * np.sqrt(np.maximum(w[-2:], 0))

    rows = []
    x = adapter.preprocess(images)
    for name in layers:
        sub = keras.Model(adapter.model.inputs[0], adapter.model.get_layer(name).output)
        acts = np.asarray(sub.predict(x, batch_size=256, verbose=0), np.float64).reshape(n, -1)
        true = pdist(acts)
        t0 = time.perf_counter()
        TSNE(n_components=2, init="pca", random_state=0).fit_transform(acts)
        tsne = time.perf_counter() - t0
        t0 = time.perf_counter()
        MDS(n_components=2, init="classical_mds", random_state=0).fit_transform(acts)
        mds = time.perf_counter() - t0
        classical = classical_mds(acts)
        pivot = PivotMDS(n_pivots=50, random_state=0).fit_transform(acts)
        centred = acts - acts.mean(axis=0)
        rows.append({"layer": name, "dim": acts.shape[1], "tsne": tsne, "mds": mds,
                     "stress_pivot": stress(true, seq.layout(name)),
                     "stress_classical": stress(true, classical),
                     "stress_pivot_mds": stress(true, pivot),
                     "stress_random": stress(true, np.random.default_rng(0).normal(size=(n, 2))),
                     "variance_share": variance_shown(centred, seq.layout(name))
                     / variance_shown(centred, classical),
                     "variance_share_pivot_mds": variance_shown(centred, pivot)
                     / variance_shown(centred, classical)})
        del acts, true
    return {"pipeline": pipeline, "layers": len(seq), "per_layer": rows,
            "travel_aligned": travel(seq), "travel_unaligned": travel(unaligned),
            "residual_before": float(np.nanmean(seq.residual_before)),
            "residual_after": float(np.nanmean(seq.residual_after)),
            "mirrored": int(seq.mirrored.sum())}


# --- orchestration ----------------------------------------------------------------------

def run_worker(kind, n, params, layers=()):
    """Run one measurement in a fresh Python process; its result comes back as JSON."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--n", str(n),
           "--n-landmarks", str(params["n_landmarks"]), "--n-directions", str(params["n_directions"])]
    if layers:
        cmd += ["--layers", ",".join(layers)]
    print(f"  {kind} N={n:,} ...", flush=True)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
    if out.returncode != 0:
        sys.exit(f"{kind} N={n} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"    {json.dumps(result)[:400]}", flush=True)
    return result


def gb(n_bytes):
    return f"{n_bytes / 2**30:.2f} GB"


def report(scale, compare, command, quick, params, load):
    from deepling.projection import layer_sequence

    defaults = {k: v.default for k, v in inspect.signature(layer_sequence).parameters.items()}
    threads = ", ".join(f"{k}={os.environ[k]}" for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                                                        "OMP_NUM_THREADS") if k in os.environ)

    lines = [
        "# Layer projection benchmark",
        "",
        f"Command: `{command}`" + (" (quick smoke run: small N, not the goals' sizes)" if quick else ""),
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M %Z')}. Machine: {platform.platform()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        + (threads or "TensorFlow's default threads (as in the app)"),
        "",
        (f"Pipeline: `layer_sequence(adapter, images, n_landmarks={params['n_landmarks']}, "
         f"n_directions={params['n_directions']})` (defaults {defaults['n_landmarks']} and "
         f"{defaults['n_directions']}), batch {defaults['batch_size']}: each layer laid out by PCA "
         "within the principal subspace of the landmark images; demo CNN, CIFAR-10 images; every "
         "row measured in a fresh process."),
        "",
        (f"Load average (1 min) at start / end: {load[0]:.2f} / {load[1]:.2f} — timings are only "
         "as good as the machine was quiet."),
        "",
        "## Cost against a plain prediction",
        "",
        ("`predict` is `model.predict(x, batch_size=256)` on the preprocessed images; the "
         "pipeline is `layer_sequence` on the uint8 images. *First* is the first call in a fresh "
         "process (both pay TensorFlow's first-run set-up, predict also traces its graph), "
         "*best* the best of the next two calls (predict) or of two calls (pipeline). The "
         "pipeline traces its two compiled functions (landmark activations, subspace products) "
         "on its first call on a model and keeps them on the model's adapter; later calls, "
         "with other images and landmarks, reuse them. **Ratio, warm** = pipeline best ÷ predict best: the "
         "steady state of a running app, and the figure the goal refers to. *Ratio, cold* = "
         "first ÷ first. *CPU* ratios divide process CPU times instead of wall times: everything "
         "runs in one process, so they are close to what the wall ratios would be on an idle machine, and "
         "they vary less when other work shares the CPU. Peak RSS is the whole process (Python, "
         "TensorFlow, model, images) at its highest; *added* is how far the pipeline's calls "
         "raised it."),
        "",
        ("| N | predict first | predict best | pipeline first | pipeline best | ratio, warm (goal ≤ 1.3) "
         "| ratio, warm, CPU | ratio, cold (CPU) | peak RSS, predict | peak RSS, pipeline "
         "(goal ≤ 2 GB) | added by pipeline | stress / variance shown (" + ", ".join(QUALITY_LAYERS) + ") |"),
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for n, (p, q) in scale.items():
        quality = " · ".join(f"{v['stress']:.3f} / {v['variance_share']:.2f}" for v in q["quality"].values())
        lines.append(
            f"| {n:,} | {p['cold']:.2f} s | {p['warm']:.2f} s | {q['first']:.2f} s | {q['best']:.2f} s "
            f"| **{q['best'] / p['warm']:.2f}** | {q['best_cpu'] / p['warm_cpu']:.2f} "
            f"| {q['first'] / p['cold']:.2f} ({q['first_cpu'] / p['cold_cpu']:.2f}) "
            f"| {gb(p['max_rss'])} | {gb(q['max_rss'])} | {gb(q['rss_peak'] - q['rss_before'])} | {quality} |")
    lines += [
        "",
        (f"Layout quality per row: on a fixed sample of {QUALITY_SAMPLE:,} of the N images, Kruskal stress "
         "of the pipeline's layout against the layer's distances among them (lower is better) and the "
         "variance of their activations in the layout's plane as a fraction of classical MDS's on the "
         "same sample (1 = as good as classical MDS); a bigger N must not lay them out worse. N above "
         "10,000 takes the images from all 60,000 (train and test)."),
    ]
    c = compare
    n_layers, rows = c["layers"], c["per_layer"]
    tsne_each = np.mean([r["tsne"] for r in rows])
    mds_each = np.mean([r["mds"] for r in rows])
    lines += [
        "",
        ("Where the time goes (profiled on this machine at N = 1,000): the pass through the model "
         "that keeps every layer's coordinates costs a little more than `predict` (the r = 8 "
         "products per layer are ~1.6 M multiply-adds per image against the model's ~39 M; 50 "
         "pivot products were ~10 M); the fixed cost per call is the landmarks' centred Gram "
         "matrix per layer (128 images: m²·D/2 ≈ 1.6 G multiply-adds over all 18 layers), 18 "
         "partial 128×128 eigenproblems and 18 tiny 8×8 ones, about 0.1 s whatever N, where "
         "choosing 50 max–min pivots, their products and the 18 Pivot MDS layouts took ~0.25 s."),
    ]
    largest = max(scale)
    q_big = scale[largest][1]
    verdicts = [
        ("ratio ≤ 1.3 (warm, wall; CPU in brackets)", ", ".join(
            f"N = {n:,}: {q['best'] / p['warm']:.2f} ({q['best_cpu'] / p['warm_cpu']:.2f})"
            for n, (p, q) in scale.items())),
        (f"peak RSS ≤ 2 GB at N = {largest:,}", gb(q_big["max_rss"])),
        (f"≥ 20× faster than per-layer t-SNE (N = {c['n']:,})",
         f"{tsne_each * n_layers / c['pipeline']:.0f}×"),
    ]
    summary = ["", "## Against the goals", "", "| goal | measured |", "|---|---|"]
    summary += [f"| {goal} | {value} |" for goal, value in verdicts]
    lines[lines.index("## Cost against a plain prediction") - 1:
          lines.index("## Cost against a plain prediction") - 1] = summary
    lines += [
        "",
        f"## Against per-layer t-SNE and MDS (N = {c['n']:,})",
        "",
        (f"t-SNE (`TSNE(init='pca')`, Barnes–Hut) and MDS (`MDS(init='classical_mds')`, SMACOF) "
         f"were timed on {len(rows)} of the {n_layers} layers, fitting each on that layer's "
         "activations (computing the activations is not counted), and the mean per layer is "
         f"extrapolated to all {n_layers} layers."),
        "",
        ("| layer | dims | t-SNE | MDS | stress: pipeline | classical MDS | Pivot MDS (50) | random layout "
         "| variance shown ÷ classical MDS: pipeline | Pivot MDS (50) |"),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['layer']} | {r['dim']:,} | {r['tsne']:.1f} s | {r['mds']:.1f} s | "
                     f"{r['stress_pivot']:.3f} | {r['stress_classical']:.3f} | {r['stress_pivot_mds']:.3f} | "
                     f"{r['stress_random']:.3f} | {r['variance_share']:.2f} | {r['variance_share_pivot_mds']:.2f} |")
    lines += [
        "",
        f"| method | time for all {n_layers} layers | pipeline is faster by |",
        "|---|---:|---:|",
        f"| pipeline (measured, everything included) | {c['pipeline']:.1f} s | — |",
        (f"| t-SNE per layer (extrapolated) | {tsne_each * n_layers:.0f} s | "
         f"**{tsne_each * n_layers / c['pipeline']:.0f}×** (goal ≥ 20×) |"),
        (f"| MDS per layer (extrapolated) | {mds_each * n_layers:.0f} s | "
         f"{mds_each * n_layers / c['pipeline']:.0f}× |"),
        "",
        ("Stress is Kruskal stress-1 of the 2-D layout against the layer's Euclidean distances, "
         "after the best uniform scaling (lower is better). In wide layers distances concentrate "
         "and stress hardly separates any layout from random points, so the last column gives "
         "what classical MDS maximises instead: the variance of the activations in the plane "
         "the layout spans, as a fraction of classical MDS's (1 = as good as classical MDS). "
         "*Pivot MDS (50)* is `PivotMDS(n_pivots=50)` fitted on the layer's activations: the method "
         "this pipeline used before (its pivots then came from 128 candidate images)."),
        "",
        f"## Frame-to-frame stability (N = {c['n']:,})",
        "",
        ("Mean distance a point moves between consecutive frames, in viewport units (the "
         "farthest point of any frame is at radius 1):"),
        "",
        "| | mean travel | mean residual (RMS, relative) |",
        "|---|---:|---:|",
        f"| without alignment | {c['travel_unaligned']:.3f} | {c['residual_before']:.3f} |",
        f"| with Procrustes alignment | {c['travel_aligned']:.3f} | {c['residual_after']:.3f} |",
        "",
        f"{c['mirrored']} of {n_layers - 1} transitions were mirrored.",
        "",
    ]
    return "\n".join(lines)


# --- keras.applications networks at 224×224 (random weights) ---------------------------

NETWORKS_RESULTS = ROOT / "benchmarks" / "results" / "networks.md"
QUALITY_NETWORK_SAMPLE, QUALITY_NETWORK_LAYERS = 150, 5


def worker_network(name, n, size, method):
    """One keras.applications network, one N, in this process: ``model.predict`` (Keras'
    own batch of 32), then the projection, then ``model.predict`` again (the mean of the two
    is the reference, so drift in the machine's load cancels); the process's peak RSS; the
    layouts' variance shown ÷ classical MDS on a sample, on a few of the frames."""
    import keras

    from deepling.data import load_dataset
    from deepling.data.images import resize_images
    from deepling.models import ModelAdapter
    from deepling.models.applications import preprocessing_of
    from deepling.models.memory import batch_size_for
    from deepling.projection import layer_sequence

    keras.utils.set_random_seed(0)
    model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
    adapter = ModelAdapter.from_model(model, name, preprocessing=preprocessing_of(name))
    data = load_dataset("cifar10", split="test")
    order = np.sort(np.random.default_rng(0).permutation(len(data))[:n])
    images = np.ascontiguousarray(resize_images(data.images[order], (size, size)))
    del data

    def predict():
        for start in range(0, n, 32):  # keras' default batch, pixels converted per batch
            model.predict(adapter.preprocess(images[start:start + 32]), batch_size=32, verbose=0)

    layer_sequence(adapter, images[:8], method=method)  # traces, as a warm server has
    model.predict(adapter.preprocess(images[:32]), batch_size=32, verbose=0)  # and predict's
    predict_one = timed(predict)
    before = PeakRSS().peak
    with PeakRSS() as rss:
        seq = [None]
        pipeline = timed(lambda: seq.__setitem__(0, layer_sequence(adapter, images, method=method)))
    predict_two = timed(predict)
    seq = seq[0]
    reference = (predict_one[0] + predict_two[0]) / 2
    reference_cpu = (predict_one[1] + predict_two[1]) / 2
    quality = network_quality(adapter, images, seq)
    return {"model": name, "n": n, "size": size, "method": method, "layers": len(model.layers),
            "frames": len(seq.names), "batch": batch_size_for(adapter),
            "predict": [predict_one[0], predict_two[0]], "pipeline": pipeline[0],
            "ratio": pipeline[0] / reference, "ratio_cpu": pipeline[1] / reference_cpu,
            "rss_before": before, "rss_peak": rss.peak, "max_rss": _max_rss(),
            "quality": quality, "warnings": list(seq.warnings)[:3]}


def network_quality(adapter, images, seq):
    """Variance shown ÷ classical MDS's on a fixed sample, for a few frames spread over the
    sequence: each frame's activations of the sample, one layer at a time."""
    import keras

    pick = np.sort(np.random.default_rng(1).permutation(len(images))[:QUALITY_NETWORK_SAMPLE])
    names = [seq.names[int(i)] for i in np.linspace(1, len(seq.names) - 1, QUALITY_NETWORK_LAYERS)]
    out = {}
    for name in dict.fromkeys(names):
        sub = keras.Model(adapter.model.inputs[0], adapter.model.get_layer(name).output)
        acts = np.concatenate([np.asarray(sub(adapter.preprocess(images[pick[s:s + 16]]), training=False),
                                          np.float32).reshape(len(pick[s:s + 16]), -1)
                               for s in range(0, len(pick), 16)])
        acts -= acts.mean(axis=0)
        layout = np.asarray(seq.layout(name), np.float64)[pick]
        gram = (acts @ acts.T).astype(np.float64)
        w = np.linalg.eigvalsh(gram)
        basis, _ = np.linalg.qr(layout - layout.mean(axis=0))
        shown = float(np.sum((acts.T.astype(np.float64) @ basis) ** 2))
        out[name] = shown / float(np.sum(np.maximum(w[-2:], 0)))
        del acts, gram
    return out


def networks_main(a):
    names = a.networks.split(",")
    sizes = tuple(int(v) for v in (a.sizes or "1000").split(","))
    rows = []
    load_start = os.getloadavg()[0]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for name in names:
        for n in sizes:
            for method in a.methods.split(","):
                cmd = [sys.executable, str(Path(__file__).resolve()), "--network-worker", name,
                       "--n", str(n), "--size", str(a.size), "--methods", method]
                print(f"  {name} N={n:,} {method} ...", flush=True)
                out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, check=False)
                if out.returncode != 0:
                    print(out.stderr[-3000:], flush=True)
                    rows.append({"model": name, "n": n, "method": method, "error": out.stderr[-300:]})
                    continue
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"    {json.dumps(rows[-1])[:600]}", flush=True)
    lines = [f"# Layer projections on keras.applications networks, {a.size}×{a.size}, random weights",
             "", f"{started}, load {load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end "
             f"(2 cores, shared); `python benchmarks/bench_projection.py --networks {a.networks} "
             f"--sizes {','.join(map(str, sizes))} --methods {a.methods}`. Images: CIFAR-10 test "
             "images resized to the input. Reference: `model.predict` at batch 32 on the same "
             "images, run before and after the projection in the same process (mean). RSS: the "
             "process's peak while projecting (model, images and TensorFlow included). Quality: "
             f"variance shown ÷ classical MDS's on {QUALITY_NETWORK_SAMPLE} images, on "
             f"{QUALITY_NETWORK_LAYERS} frames spread over the sequence.", "",
             "| model | layers → frames | N | method | batch | projection | predict | ratio wall (CPU) "
             "| peak RSS | variance shown ÷ classical MDS |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | | {r['n']:,} | {r['method']} | | failed | | | | |")
            continue
        q = ", ".join(f"{k} {v:.2f}" for k, v in r["quality"].items())
        lines.append(f"| {r['model']} | {r['layers']} → {r['frames']} | {r['n']:,} | {r['method']} | "
                     f"{r['batch']} | {r['pipeline']:.1f} s | {np.mean(r['predict']):.1f} s | "
                     f"**{r['ratio']:.2f}** ({r['ratio_cpu']:.2f}) | {gb(r['rss_peak'])} | {q} |")
    text = "\n".join(lines) + "\n"
    out = a.out if a.out != RESULTS else NETWORKS_RESULTS
    if out.exists() and a.append:
        text = out.read_text() + "\n" + "\n".join(lines[-len(rows):]) + "\n"
    out.write_text(text)
    print(text)
    print(f"written to {out}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    p.add_argument("--out", type=Path, default=RESULTS, help="where to write the markdown table")
    p.add_argument("--n-landmarks", type=int, default=None,
                   help="landmark images (default: layer_sequence's default)")
    p.add_argument("--n-directions", type=int, default=None,
                   help="principal directions per layer (default: layer_sequence's default)")
    p.add_argument("--sizes", default=None, help="comma-separated N for the cost table")
    p.add_argument("--worker", choices=("predict", "pipeline", "compare"), help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    p.add_argument("--layers", default="", help=argparse.SUPPRESS)
    p.add_argument("--networks", default=None,
                   help="comma-separated keras.applications names (random weights): the "
                        "networks table instead (benchmarks/results/networks.md)")
    p.add_argument("--size", type=int, default=224, help="input size for --networks")
    p.add_argument("--methods", default="landmarks", help="landmarks,pivot_mds for --networks")
    p.add_argument("--append", action="store_true", help="add rows to the networks table")
    p.add_argument("--network-worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.network_worker:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        print(json.dumps(worker_network(a.network_worker, a.n, a.size, a.methods)))
        return 0
    if a.networks:
        return networks_main(a)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from deepling.projection import layer_sequence

    defaults = inspect.signature(layer_sequence).parameters
    params = {k: getattr(a, k) if getattr(a, k) is not None else defaults[k].default
              for k in ("n_landmarks", "n_directions")}

    if a.worker:
        if a.worker == "predict":
            result = worker_predict(a.n)
        elif a.worker == "pipeline":
            result = worker_pipeline(a.n, params)
        else:
            result = worker_compare(a.n, a.layers.split(","), params)
        print(json.dumps(result))
        return 0

    sizes = QUICK_SCALE_SIZES if a.quick else SCALE_SIZES
    if a.sizes:
        sizes = tuple(int(v) for v in a.sizes.split(","))
    n_compare = QUICK_COMPARE_SIZE if a.quick else COMPARE_SIZE
    layers = QUICK_COMPARE_LAYERS if a.quick else COMPARE_LAYERS
    args = sys.argv[1:] if argv is None else argv
    command = " ".join(["python benchmarks/bench_projection.py", *args])
    print(f"{command}: scaling at N = {', '.join(map(str, sizes))}; comparison at N = {n_compare}")
    load_start = os.getloadavg()[0]
    scale = {n: (run_worker("predict", n, params), run_worker("pipeline", n, params))
             for n in sizes}
    compare = {**run_worker("compare", n_compare, params, layers), "n": n_compare}
    text = report(scale, compare, command, a.quick, params, (load_start, os.getloadavg()[0]))
    print("\n" + text)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(text)
    print(f"written to {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
