"""What monitoring and freezing cost, how soon a run shows its first points, and what
another session feels while a run trains.

Side by side in one run (absolute times are noisy on a shared machine):

* epoch time of the monitored loop (:func:`deepling.training.train`: per-filter amounts,
  control read from and deltas published to the service's diskcache run store every batch,
  as a run in the app does) ÷ plain ``model.fit`` on the same images and model; wall and
  process CPU time (CPU is less disturbed by other processes);
* epoch time with conv1a–conv2b frozen ÷ nothing frozen (monitored loop);
* projection of one layer across the epochs' snapshots, per snapshot;
* with ``--server`` (the default): the real app (``run.py`` on port 8231, its own process)
  and, from this process as a second session, the Training card's own Start and poll
  callbacks: time from Start to the first loss point and to the first per-filter bars, for
  the first run after start-up and for a second one; and p50/p99 of light requests
  (``/health``, a thumbnail, ``/_dash-layout``) before and during a run.

    python benchmarks/bench_training.py [--subset 3000] [--epochs 2] [--no-server]
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
OUT = Path(__file__).parent / "results" / "training.md"
PORT = 8231
FROZEN = ("conv1a", "conv1b", "conv2a", "conv2b")


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--subset", type=int, default=3000)
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per side and round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--no-server", action="store_true", help="skip the app-server part")
    p.add_argument("--server-subset", type=int, default=5000, help="training images of the app's run")
    a = p.parse_args(argv)

    rows = price_rows(a)
    write(a, rows)  # kept if the server part fails
    if not a.no_server:
        try:
            rows += server_rows(a)
        except Exception as exc:  # noqa: BLE001 - the table says what went wrong
            rows.append(("the app-server part", f"failed: {type(exc).__name__}: {exc}"[:300], "", ""))
    write(a, rows)
    return 0


def write(a, rows) -> None:
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    lines = [f"# Training benchmark — {datetime.date.today()}",
             "", f"Demo CNN, {a.subset:,} CIFAR-10 training images, batch {a.batch_size}; "
                 f"medians of {a.rounds * a.epochs} epochs per side ({a.rounds} rounds, the sides "
                 "interleaved; the first epoch of each run, with tracing, left out); "
                 f"machine at the end: `{load}`", "",
             "| what | times | ratio | goal |", "| --- | --- | --- | --- |"]
    lines += [f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} |" for r in rows]
    text = "\n".join(lines) + "\n"
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text)
    print(text, flush=True)


# --- the price of monitoring, in this process ---------------------------------------------

def price_rows(a) -> list[tuple]:
    import keras

    from deepling.data import load_cifar10
    from deepling.models.demo import build_demo_model
    from deepling.service.paths import cache_dir
    from deepling.service.training import RunStore
    from deepling.training import TrainingConfig, projection_across_training, train

    data = load_cifar10("train", cache_dir=cache_dir("datasets"))
    idx = np.random.default_rng(0).choice(len(data), a.subset, replace=False)
    x, y = data.images[idx], data.labels[idx]
    xf = x.astype("float32")
    store = RunStore(tempfile.mkdtemp(prefix="bench-training-"))

    def fit_epochs():
        model = build_demo_model()
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        marks = []
        mark = lambda e, logs: marks.append((time.perf_counter(), time.process_time()))  # noqa: E731
        cb = keras.callbacks.LambdaCallback(on_epoch_begin=mark, on_epoch_end=mark)
        model.fit(xf, y, batch_size=a.batch_size, epochs=a.epochs + 1, verbose=0, callbacks=[cb])
        return [np.subtract(marks[i + 1], marks[i]) for i in range(2, len(marks), 2)]

    def monitored_epochs(frozen=()):
        run = store.create(f"bench-{time.monotonic()}", {}, max_runs=10 ** 6)
        store.command(run, "run", list(frozen))
        ends = []

        def publish(delta):  # as the service's job does, plus a clock at every epoch's end
            store.publish(run, delta)
            if delta.get("epochs"):
                ends.append(time.process_time())

        rec = train(build_demo_model(), x, y,
                    config=TrainingConfig(epochs=a.epochs + 1, batch_size=a.batch_size, frozen=list(frozen)),
                    control=lambda: store.get(run, "control"), publish=publish)
        store.update_meta(run, state="finished")
        wall = [e["seconds"] for e in rec["epochs"][1:]]
        return [np.array([w, c]) for w, c in zip(wall, np.diff(ends))]

    plain, mon, froz = [], [], []
    for _ in range(a.rounds):  # interleaved, so load changes hit every side alike
        plain += fit_epochs()
        mon += monitored_epochs()
        froz += monitored_epochs(FROZEN)
    pw, pc = np.median(plain, axis=0)
    mw, mc = np.median(mon, axis=0)
    fw, fc = np.median(froz, axis=0)
    rows = [("monitored epoch ÷ plain `model.fit` (wall)", f"{mw:.2f} s ÷ {pw:.2f} s", f"**{mw / pw:.2f}**", "≤ 1.15"),
            ("the same in process CPU time", f"{mc:.2f} s ÷ {pc:.2f} s", f"{mc / pc:.2f}", ""),
            ("epoch with conv1a–conv2b frozen ÷ none frozen (wall)", f"{fw:.2f} s ÷ {mw:.2f} s",
             f"{fw / mw:.2f}", ""),
            ("the same in process CPU time", f"{fc:.2f} s ÷ {mc:.2f} s", f"{fc / mc:.2f}", "")]

    with tempfile.TemporaryDirectory() as tmp:
        rec = train(build_demo_model(), x, y, config=TrainingConfig(epochs=2, batch_size=a.batch_size),
                    snapshot_dir=tmp)
        snaps = [keras.models.load_model(s, compile=False) for s in rec["snapshots"]]
        test = load_cifar10("test", cache_dir=cache_dir("datasets"))
        pick = np.random.default_rng(1).choice(len(test), 500, replace=False)
        t0 = time.perf_counter()
        projection_across_training(snaps, test.images[pick], "fc2")
        per = (time.perf_counter() - t0) / len(snaps)
    rows.append(("layer fc2 projected across snapshots (500 test images)", f"{per:.2f} s per snapshot", "", ""))
    return rows


# --- the app: first points, and another session's requests during a run ------------------

def server_rows(a) -> list[tuple]:
    from tests.browser import running_app
    from tests.reliability import callback_specs, forge

    with running_app(port=PORT, timeout=300) as base:
        specs = callback_specs(base)
        idle = _light(base, seconds=20)
        firsts, during = [], None
        for k in range(2):
            sid = f"bench-{k}-{os.getpid()}"
            rendered = {"model": "demo", "data": "default"}
            t0 = time.perf_counter()
            status, answer, _ = forge(base, specs, "train-run.data...train-poll", {
                "train-start.n_clicks": 1, "train-source.value": "demo",
                "train-subset.value": a.server_subset, "train-epochs.value": 2 if k == 0 else 1,
                "train-batch.value": 64, "train-lr.value": 0.001, "train-optimizer.value": "adam",
                "train-sid.data": sid, "rendered.data": rendered})
            assert status == 200, (status, answer)
            run = answer["response"]["train-run"]["data"]
            cursor = None
            first_loss = first_bars = None
            stop_light = threading.Event()
            lat: dict = {}
            while True:  # the page's poll, as the browser's Interval sends it
                status, answer, _ = forge(base, specs, "train-cursor.data", {
                    "train-poll-tick.data": {"n": 1, "t": 0}, "train-run.data": run,
                    "train-cursor.data": cursor, "session.data": {}})
                assert status == 200, (status, answer)
                resp = answer["response"]
                cursor = resp.get("train-cursor", {}).get("data", cursor)
                now = time.perf_counter() - t0
                if first_loss is None and resp.get("train-loss", {}).get("extendData"):
                    first_loss = now
                if first_bars is None and "train-network" in resp:
                    first_bars = now
                if k == 0 and first_loss is not None and during is None:
                    # another session's light requests while this run trains (one epoch+)
                    during = lat
                    thread = threading.Thread(target=lambda: lat.update(_light(base, stop=stop_light)))
                    thread.start()
                if resp.get("train-poll", {}).get("disabled"):
                    break
                time.sleep(0.7)  # the card's poll interval
            if k == 0:
                stop_light.set()
                thread.join()
            firsts.append((first_loss, first_bars))
    rows = []
    for k, (loss, bars) in enumerate(firsts):
        which = "first run after start-up" if k == 0 else "second run"
        rows.append((f"Start → first loss point / first filter bars, {which} ({a.server_subset:,} images)",
                     f"{loss:.1f} s / {bars:.1f} s", "", "within seconds"))
    for name in ("health", "thumbnail", "layout"):
        i, d = np.array(idle[name]), np.array(during[name])
        rows.append((f"another session's `{_PATHS[name]}` before → during a run (n = {len(i)} → {len(d)})",
                     f"p50 {1000 * np.median(i):.0f} → {1000 * np.median(d):.0f} ms, "
                     f"p99 {1000 * np.quantile(i, .99):.0f} → {1000 * np.quantile(d, .99):.0f} ms", "",
                     "usable"))
    return rows


_PATHS = {"health": "/health", "thumbnail": "/api/images/demo/default/<i>.png", "layout": "/_dash-layout"}


def _light(base, seconds=None, stop=None) -> dict:
    """One session's light requests one after another: latencies by kind."""
    from tests.reliability import call

    out = {k: [] for k in _PATHS}
    end = time.monotonic() + seconds if seconds else None
    i = 0
    while not (stop.is_set() if stop else time.monotonic() > end):
        kind = ("health", "thumbnail", "layout")[i % 3]
        url = base + (_PATHS[kind].replace("<i>", str(i % 10000)))
        t0 = time.perf_counter()
        status = call(url, timeout=120)[0]
        if status == 200:
            out[kind].append(time.perf_counter() - t0)
        i += 1
        time.sleep(0.05)  # a person's page, not a load generator
    return out


if __name__ == "__main__":
    raise SystemExit(main())
