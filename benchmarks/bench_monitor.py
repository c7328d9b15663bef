"""What ``deepling.keras.Monitor`` costs a user's ``model.fit``, how soon an open page shows a
live run's new epoch, and how big a run folder grows.

Side by side in one run (absolute times are noisy on a shared machine):

* ``model.fit`` with ``Monitor`` at its defaults (probe of 32 validation images every
  ``DEFAULT_EVERY`` batches and at every epoch's end, a snapshot per epoch, batch records)
  ÷ plain ``model.fit``: the demo CNN, fresh, on 5,000 CIFAR-10 training images, batch 64,
  validation on 1,000 test images (both sides); whole fits (tracing, the start's probe and
  snapshot included), the sides interleaved, several rounds;
* a live run's new epoch in an open page: the real app (``run.py --runs``, its own process),
  headless Chromium on ``/?run=run:<name>``, a Monitor run in a third process; the time from
  the epoch record's time stamp (written at the epoch's end) to the page's epoch chart
  gaining the bar;
* run-folder size per epoch for the demo CNN and for a ~25 M-parameter model (ResNet50,
  fresh, 10 classes, 32×32 input: 23.6 M parameters), split into records and snapshot.

    bench python benchmarks/bench_monitor.py --parts overhead        # each part < 10 min
    bench python benchmarks/bench_monitor.py --parts live
    bench python benchmarks/bench_monitor.py --parts sizes
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = Path(__file__).parent / "results" / "monitor.md"


PARTS = ("overhead", "live", "sizes")


def main(argv=None) -> int:
    global OUT
    p = argparse.ArgumentParser()
    p.add_argument("--subset", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=2, help="epochs per fit")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--parts", default=",".join(PARTS),
                   help="what to measure (each a section of the results): " + ", ".join(PARTS))
    p.add_argument("--port", type=int, default=8122, help="live: the app's port")
    p.add_argument("--out", type=Path, default=OUT, help="the results file (default %(default)s)")
    p.add_argument("--live-epochs", type=int, default=6)
    p.add_argument("--live-images", type=int, default=1000)
    p.add_argument("--sizes-only", metavar="RUN_FOLDER",
                   help="sizes: of this demo-CNN run folder (and the big model's)")
    a = p.parse_args(argv)
    OUT = a.out
    parts = [x for x in a.parts.split(",") if x]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts: {', '.join(sorted(unknown))}")
    command = "bench python benchmarks/bench_monitor.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if a.sizes_only:
        write("sizes", size_rows(a, big=False, folder=Path(a.sizes_only)) + size_rows(a, big=True),
              command, f"the demo CNN's from {a.sizes_only}; ResNet50's from a 1-epoch fit of 2 batches")
        return 0
    demo_folder = None
    if "overhead" in parts:
        rows, demo_folder = overhead_rows(a)
        write("overhead", rows, command,
              f"Demo CNN (fresh), {a.subset:,} CIFAR-10 training images, batch 64, validation on "
              f"1,000 test images; {a.rounds} rounds of one {a.epochs}-epoch fit per side, the "
              "sides interleaved (the round's first side alternates), after an untimed warm-up "
              "fit of each side")
    if "live" in parts:
        try:
            rows = live_rows(a)
        except Exception as exc:  # noqa: BLE001 - the table says what went wrong
            rows = [("live run in an open page", f"failed: {type(exc).__name__}: {exc}"[:300], "", "")]
        write("live", rows, command,
              "The real app (`run.py --runs`, its own process), headless Chromium on "
              "`/?run=run:live`, `examples/monitor_live.py train` (a Monitor run) in a third "
              "process: each epoch's `epoch` record time stamp (written at the epoch's end) → "
              "the time the open page's epoch chart shows its bar")
    if "sizes" in parts:
        rows = (size_rows(a, big=False, folder=demo_folder) if demo_folder else []) + size_rows(a, big=True)
        write("sizes", rows, command, "ResNet50's from a 1-epoch fit of 2 batches (sizes do not "
              "depend on the images)" + ("; the demo CNN's from the overhead part's first "
                                         "Monitor run" if demo_folder else ""))
    return 0


TITLES = {"overhead": "Overhead: `model.fit` with `Monitor` ÷ plain `model.fit`",
          "live": "Live: a new epoch in an open page", "sizes": "Run folder sizes"}


def write(part: str, rows, command: str, setup: str) -> None:
    """Replace this part's section of the results file (the other parts' stay as measured)."""
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    old = OUT.read_text() if OUT.exists() else ""
    sections = {}
    for chunk in old.split("\n## ")[1:]:
        title = chunk.split("\n", 1)[0]
        for key, t in TITLES.items():
            if title == t:
                sections[key] = "## " + chunk.rstrip() + "\n"
    lines = [f"## {TITLES[part]}", "", f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"`{command.strip()}`. {setup}. Machine at the end: `{load}`", "",
             "| what | measured | ratio | goal |", "| --- | --- | --- | --- |"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    sections[part] = "\n".join(lines) + "\n"
    text = "# Monitor benchmark\n\n" + "\n".join(sections[k] for k in PARTS if k in sections)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(sections[part], flush=True)


def data(subset: int):
    from deepling.data import load_cifar10
    from deepling.service.paths import cache_dir

    train = load_cifar10("train", cache_dir=cache_dir("datasets"))
    test = load_cifar10("test", cache_dir=cache_dir("datasets"))
    rng = np.random.default_rng(0)
    i = rng.choice(len(train), subset, replace=False)
    v = rng.choice(len(test), 1000, replace=False)
    return (train.images[i].astype("float32"), train.labels[i],
            test.images[v].astype("float32"), test.labels[v])


def overhead_rows(a) -> list[tuple]:
    import keras

    from deepling.keras import DEFAULT_EVERY, Monitor
    from deepling.models.demo import build_demo_model

    x, y, xv, yv = data(a.subset)
    folder = Path(tempfile.mkdtemp(prefix="bench-monitor-"))

    def fit(monitor: bool, k: int, n: int = len(x), epochs: int = a.epochs):
        model = build_demo_model(seed=k)
        model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
        marks = []
        mark = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: marks.append(time.perf_counter()))
        cbs = [Monitor(folder / f"run{k}", probe=(xv, yv))] if monitor else []
        t0, c0 = time.perf_counter(), time.process_time()
        model.fit(x[:n], y[:n], batch_size=64, epochs=epochs, validation_data=(xv, yv), verbose=0,
                  callbacks=cbs + [mark])
        total, cpu = time.perf_counter() - t0, time.process_time() - c0
        spent = cbs[0].seconds if cbs else 0.0
        return total, cpu, np.diff([t0] + marks)[1:], spent  # later epochs: no tracing

    # untimed warm-up of both sides (TensorFlow's and the imports' first-use costs)
    fit(False, 100, n=256, epochs=1), fit(True, 101, n=256, epochs=1)
    wall = {False: [], True: []}
    cpu = {False: [], True: []}
    later = {False: [], True: []}
    spent, pairs, cpu_pairs = [], [], []
    for r in range(a.rounds):
        for monitor in ((False, True) if r % 2 == 0 else (True, False)):
            total, used, rest, inside = fit(monitor, r)
            wall[monitor].append(total)
            cpu[monitor].append(used)
            later[monitor].extend(rest)
            if monitor:
                spent.append(inside)
            print(f"round {r}: {'monitor' if monitor else 'plain'} {total:.1f} s, CPU {used:.1f} s"
                  + (f" (inside Monitor's hooks {inside:.2f} s)" if monitor else ""), flush=True)
        pairs.append(wall[True][-1] / wall[False][-1])
        cpu_pairs.append(cpu[True][-1] / cpu[False][-1])
    pt, mt = float(np.sum(wall[False])), float(np.sum(wall[True]))
    pc, mc = float(np.sum(cpu[False])), float(np.sum(cpu[True]))
    rows = [(f"`model.fit` with `Monitor` (defaults: every {DEFAULT_EVERY} batches + each epoch's "
             f"end) ÷ plain, whole {a.epochs}-epoch fits, {a.rounds} per side: **CPU time** of "
             "the process (all threads; what the Monitor adds, little moved by other work on a "
             "shared machine)",
             f"{mc:.1f} s ÷ {pc:.1f} s (per round: {', '.join(f'{v:.3f}' for v in cpu_pairs)})",
             f"**{mc / pc:.3f}**", "≤ 1.05"),
            ("the same, wall time (moved by the other work on the machine)",
             f"{mt:.1f} s ÷ {pt:.1f} s (per round: {', '.join(f'{v:.3f}' for v in pairs)})",
             f"{mt / pt:.3f}", "≤ 1.05"),
            ("time inside Monitor's hooks (probes, tracing, snapshots, records) ÷ plain fit (wall)",
             f"{np.sum(spent):.2f} s ÷ {pt:.1f} s", f"{1 + np.sum(spent) / pt:.3f}", "")]
    if later[False]:
        ml, pl = float(np.median(later[True])), float(np.median(later[False]))
        rows.append(("the same, median epoch after the first (no tracing; wall)",
                     f"{ml:.2f} s ÷ {pl:.2f} s", f"{ml / pl:.3f}", ""))
    return rows, folder / "run0"


def size_rows(a, big: bool, folder: Path | None = None) -> list[tuple]:
    """Records and snapshot bytes per epoch (a run folder of the demo CNN, or a 1-epoch run
    of a ~25 M-parameter model on a few batches: the sizes do not depend on the images)."""
    if big:
        import keras

        from deepling.keras import Monitor

        keras.utils.set_random_seed(0)
        model = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        rng = np.random.default_rng(0)
        x = rng.integers(0, 256, (64, 32, 32, 3)).astype("float32")
        y = rng.integers(0, 10, 64)
        folder = Path(tempfile.mkdtemp(prefix="bench-monitor-big-")) / "resnet50"
        model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[Monitor(folder, probe=(x, y))])
        name = f"ResNet50 ({model.count_params() / 1e6:.1f} M parameters, {len(_layers(folder))} watched layers)"
    else:
        name = "demo CNN (0.85 M parameters)"
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    epochs = max(r["epoch"] for r in records if r["kind"] == "epoch")
    rec_bytes = sum(len(json.dumps(r, separators=(",", ":"))) + 1 for r in records
                    if not (r["kind"] == "probe" and r.get("at") == "start"))  # per epoch: not the start's
    probe = [len(json.dumps(r)) for r in records if r["kind"] == "probe"]
    snaps = [r["bytes"] for r in records if r["kind"] == "snapshot"]
    per_epoch = rec_bytes / epochs + float(np.mean(snaps))
    return [(f"run folder per epoch, {name}",
             f"{per_epoch / 1e6:.2f} MB: snapshot {np.mean(snaps) / 1e6:.2f} MB (weights only, "
             f"no optimizer state) + records {rec_bytes / epochs / 1e3:.0f} kB "
             f"(a probe {np.mean(probe) / 1e3:.0f} kB)", "",
             "at most 12 snapshots kept (thinned): "
             f"≤ {12 * np.mean(snaps) / 1e6:.0f} MB of snapshots per run")]


def _layers(folder: Path) -> list:
    return json.loads((folder / "run.json").read_text())["layers"]


def live_rows(a) -> list[tuple]:
    """The real app watching a runs folder; a Monitor run in another process; the page.

    The page's own bar count is watched inside the page (every 50 ms, a time stamp when it
    grows), so the figure is the page's, not the time Selenium takes to look."""
    from tests.browser import make_driver, quit_driver, running_app, wait_for

    runs = Path(tempfile.mkdtemp(prefix="bench-monitor-runs-"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    watch = ("window.__bars = []; setInterval(() => { const n = document.querySelectorAll("
             "'#train-epochs-chart .bars path').length; const last = window.__bars.length ? "
             "window.__bars[window.__bars.length - 1][0] : 0; if (n > last) "
             "window.__bars.push([n, Date.now() / 1000]); }, 50);")
    with running_app("--runs", str(runs), port=a.port) as url:
        driver = make_driver(window_size=(1400, 1400))
        driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": watch})
        trainer = None
        try:
            trainer = subprocess.Popen(
                [sys.executable, str(REPO / "examples" / "monitor_live.py"), "train",
                 "--folder", str(runs / "live"), "--epochs", str(a.live_epochs), "--images",
                 str(a.live_images)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 540
            while not (runs / "live" / "run.json").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            opened = time.time()
            driver.get(f"{url}/?run=run:live")
            wait_for(driver, "return document.querySelector('#train-epochs-chart') !== null", 240)
            while trainer.poll() is None and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(10)
            bars = driver.execute_script("return window.__bars")
        finally:
            if trainer is not None and trainer.poll() is None:
                trainer.terminate()
            quit_driver(driver)
    ends = [r["time"] for r in map(json.loads, (runs / "live" / "records.jsonl").read_text()
                                  .splitlines()) if r["kind"] == "epoch"]
    shown = {}
    for n, t in bars:
        for k in range(len(shown), n):
            shown[k] = t
    lags = [shown[k] - ends[k] for k in range(len(ends)) if k in shown]
    if not lags:
        return [("live run: epoch end → its bar in the open page", "no epoch seen", "", "≤ 2 s")]
    first = ends[0] - opened
    rows = [(f"live run: each epoch's end → its bar in the open page (epochs of "
             f"{a.live_images:,} images; the first ended {first:.0f} s after the page opened, "
             "while the page still loaded its other views)",
             ", ".join(f"{v:.2f}" for v in lags) + " s" +
             ("" if len(lags) == len(ends) else f" ({len(ends) - len(lags)} epochs never shown)"),
             f"max **{max(lags):.2f} s**, median {float(np.median(lags)):.2f} s", "≤ 2 s")]
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
