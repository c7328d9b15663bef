"""Every Deepling attribution method beside the fastest independent implementation
installed: Xplique and tf-keras-vis, on the demo CNN and CIFAR-10 test images.

Called by ``bench_methods.py --peers``. Each method and each peer explains the same images
for the same (predicted) classes with the same settings, after one warm-up call on two
images (tracing); the calls alternate ours / peer ``repeats`` times and the table gives the
medians and the ratio ours ÷ fastest peer (≤ 1.0: Deepling is as fast or faster).

The peers live in their own environment, made like this (they are not Deepling
dependencies; Xplique pins an older TensorFlow, so it goes in without its dependencies)::

    python -m venv /work/venv-peers
    echo /work/venv/lib/python3.11/site-packages > /work/venv-peers/lib/python3.11/site-packages/_deepling_venv.pth
    /work/venv-peers/bin/pip install --no-deps xplique tf-keras tf-keras-vis deprecated \\
        opencv-python-headless tensorflow-probability dm-tree einops scikit-image lazy-loader \\
        imageio tifffile decorator
    /work/venv-peers/bin/pip install matplotlib
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "methods_peers.md"
ROWS = ROOT / "benchmarks" / "results" / "methods_peers.json"  # every row, with its run's time and load
COMMAND = "bench /work/venv-peers/bin/python benchmarks/bench_methods.py --peers"
LAYER = "conv3b"
BATCH = 256
QUICK_REPEATS = 11  # alternating runs of a method whose call takes under a second
RISE_MASKS = 500  # both sides, as the app's ranking; 2,000 (the default) would take most of a bounded run


def _peers(model_factory, classes):
    """name → list of (peer label, fn(images)) for the methods a peer implements."""
    import tensorflow as tf
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.layercam import Layercam
    from tf_keras_vis.saliency import Saliency as TkvSaliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
    from tf_keras_vis.utils.scores import CategoricalScore
    from xplique import attributions as xa

    # Xplique explains the model's output: give it the logits model (softmax removed by
    # tf-keras-vis's ReplaceToLinear on its own clones), as Deepling explains logits.
    def logits_model():
        import keras

        m = model_factory()
        head = m.layers[-1]
        w = head.get_weights()
        out = keras.layers.Dense(head.units, name="logits")(head.input)
        lm = keras.Model(m.inputs, out)
        lm.get_layer("logits").set_weights(w)
        return lm

    xm = logits_model()
    xgb = logits_model()  # Xplique's guided backprop changes the model's ReLUs in place
    tm = model_factory()
    onehot = lambda n: tf.one_hot(classes[:n], 10)  # noqa: E731
    score = lambda n: CategoricalScore(list(map(int, classes[:n])))  # noqa: E731
    lin = ReplaceToLinear()
    tkv = {k: c(tm, model_modifier=lin, clone=True) for k, c in
           (("sal", TkvSaliency), ("cam", Gradcam), ("pp", GradcamPlusPlus), ("score", Scorecam),
            ("layer", Layercam))}

    def xp(cls, model=xm, **kw):
        e = cls(model, batch_size=BATCH, **kw)
        return lambda x: np.asarray(e(x, onehot(len(x))))

    return {
        "saliency": [("Xplique Saliency", xp(xa.Saliency)),
                     ("tf-keras-vis Saliency", lambda x: tkv["sal"](score(len(x)), x))],
        "smoothgrad": [("Xplique SmoothGrad", xp(xa.SmoothGrad, nb_samples=50, noise=0.2 * 255)),
                       ("tf-keras-vis Saliency(smooth_samples=50)",
                        lambda x: tkv["sal"](score(len(x)), x, smooth_samples=50, smooth_noise=0.2))],
        "vargrad": [("Xplique VarGrad", xp(xa.VarGrad, nb_samples=50, noise=0.2 * 255))],
        "gradient_x_input": [("Xplique GradientInput", xp(xa.GradientInput))],
        "integrated_gradients": [("Xplique IntegratedGradients",
                                  xp(xa.IntegratedGradients, steps=50, baseline_value=0.0))],
        "guided_backprop": [("Xplique GuidedBackprop", xp(xa.GuidedBackprop, model=xgb))],
        "gradcam": [("Xplique GradCAM", xp(xa.GradCAM, conv_layer=LAYER)),
                    ("tf-keras-vis Gradcam", lambda x: tkv["cam"](score(len(x)), x, penultimate_layer=LAYER))],
        "gradcam_plus": [("Xplique GradCAMPP", xp(xa.GradCAMPP, conv_layer=LAYER)),
                         ("tf-keras-vis GradcamPlusPlus",
                          lambda x: tkv["pp"](score(len(x)), x, penultimate_layer=LAYER))],
        "score_cam": [("tf-keras-vis Scorecam",
                       lambda x: tkv["score"](score(len(x)), x, penultimate_layer=LAYER))],
        "layer_cam": [("tf-keras-vis Layercam",
                       lambda x: tkv["layer"](score(len(x)), x, penultimate_layer=LAYER))],
        "rise": [("Xplique Rise", xp(xa.Rise, nb_samples=RISE_MASKS, grid_size=7,
                                     preservation_probability=0.5))],
        "occlusion": [("Xplique Occlusion", xp(xa.Occlusion, patch_size=8, patch_stride=4,
                                               occlusion_value=127.5))],
    }


def run_peers(n_images: int = 50, repeats: int = 3, out: Path = OUT, methods=None) -> int:
    """Time ``methods`` (default: all) beside their peers; each method's row is saved as soon
    as it is measured (with the time and load average of its run) and replaces that
    method's row of an earlier run, so a run cut short keeps what it measured and a later
    ``--methods`` run completes the table."""
    import keras
    import tensorflow as tf
    import tf_keras_vis
    import xplique

    from deepling.data import load_cifar10
    from deepling.methods import ATTRIBUTIONS, attribute
    from deepling.models import load_demo_model

    adapter = load_demo_model()
    test = load_cifar10("test")
    idx = np.sort(np.random.default_rng(0).choice(len(test), n_images, replace=False))
    images = test.images[idx]
    x = images.astype(np.float32)
    classes = adapter.predict_proba(images).argmax(1)
    peers = _peers(lambda: load_demo_model().model, classes)
    ours_params = {"rise": {"masks": RISE_MASKS}}
    saved = json.loads(ROWS.read_text()) if ROWS.exists() and methods else {}
    if methods:
        unknown = set(methods) - set(ATTRIBUTIONS)
        if unknown:
            raise SystemExit(f"unknown methods: {', '.join(sorted(unknown))}")
    for name, spec in ATTRIBUTIONS.items():
        if methods and name not in methods:
            continue
        load_before = os.getloadavg()
        kwargs = dict(ours_params.get(name, {}))
        if spec.layer:
            kwargs["layer"] = LAYER

        def ours(xs, name=name, kwargs=kwargs):
            return attribute(adapter, xs, name,
                             target=classes[:len(xs)], **kwargs)

        calls = [("Deepling", ours)] + peers.get(name, [])
        for _, fn in calls:
            fn(x[:2])  # warm-up: tracing, sub-models
        t0 = time.perf_counter()
        ours(x)  # one more call of ours: how long a call takes
        quick = time.perf_counter() - t0 < 1.0
        # calls under a second feel every spike of a shared machine's load: more of them
        n_rep = 1 if name in ("rise", "score_cam") else QUICK_REPEATS if quick else repeats
        times = {label: [] for label, _ in calls}
        for _ in range(n_rep):
            for label, fn in calls:
                t0 = time.perf_counter()
                fn(x)
                times[label].append(time.perf_counter() - t0)
        med = {label: statistics.median(t) for label, t in times.items()}
        peer_times = {k: v for k, v in med.items() if k != "Deepling"}
        best = min(peer_times, key=peer_times.get) if peer_times else None
        ratio = med["Deepling"] / peer_times[best] if best else float("nan")
        saved[name] = dict(label=spec.label, ours=med["Deepling"], best=best,
                           peer=peer_times.get(best), ratio=ratio,
                           peers="; ".join(f"{k} {v:.3f} s" for k, v in peer_times.items()),
                           at=time.strftime("%H:%M", time.gmtime()),
                           load=f"{load_before[0]:.1f} → {os.getloadavg()[0]:.1f}")
        print(f"{spec.label:<22} ours {med['Deepling']:8.3f} s   best peer {best} "
              f"{peer_times.get(best, float('nan')):8.3f} s   ratio {ratio:.2f}", flush=True)
        ROWS.write_text(json.dumps(saved, indent=1))
        _write_table(saved, n_images, repeats, out, tf, keras, xplique, tf_keras_vis)
    print(f"wrote {out}")
    return 0


def _write_table(saved, n_images, repeats, out, tf, keras, xplique, tf_keras_vis):
    from deepling.methods import ATTRIBUTIONS

    lines = [
        "# Attribution methods beside Xplique and tf-keras-vis",
        "",
        f"Command: `{COMMAND}`",
        "",
        (f"{n_images} CIFAR-10 test images (seed 0), the demo CNN, each image's predicted class; "
         f"Grad-CAM family at `{LAYER}`; batch size {BATCH} where a method has one. Median of "
         f"{repeats} alternating runs after a warm-up call on 2 images ({QUICK_REPEATS} for a "
         "method whose call takes under a second; RISE and Score-CAM: one run); ratio = "
         "Deepling ÷ fastest peer."),
        "",
        (f"Machine: {platform.processor() or 'CPU'}, {os.cpu_count()} cores, shared; TensorFlow "
         f"{tf.__version__}, Keras {keras.__version__}, Xplique {xplique.__version__}, "
         f"tf-keras-vis {getattr(tf_keras_vis, '__version__', '?')}, Python "
         f"{platform.python_version()}; {time.strftime('%Y-%m-%d', time.gmtime())}. Each row "
         "says when (UTC) it ran and the 1-minute load average before → after it (a shared "
         "2-core machine: other engineers' jobs ran; ours and the peers alternate, so the load "
         "falls on both)."),
        "",
        "| method | Deepling (s) | fastest peer | peer (s) | ratio | all peers | run at | load |",
        "|---|---:|---|---:|---:|---|---|---|",
    ]
    for name in ATTRIBUTIONS:
        if name not in saved:
            continue
        r = saved[name]
        ratio = r["ratio"]
        peer = "—" if r["peer"] is None else f"{r['peer']:.3f}"
        lines.append(f"| {r['label']} | {r['ours']:.3f} | {r['best'] or '—'} | {peer} | "
                     f"{'—' if ratio is None or np.isnan(ratio) else f'{ratio:.2f}'} | "
                     f"{r['peers'] or 'no peer implements it'} | {r['at']} | {r['load']} |")
    lines += ["", f"Settings: SmoothGrad/VarGrad 50 samples, σ = 0.2 × 255; Integrated Gradients "
              f"50 steps from black; RISE {RISE_MASKS:,} masks, 7×7 cells, keep 0.5; occlusion patch 8, "
              "stride 4, gray.", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
