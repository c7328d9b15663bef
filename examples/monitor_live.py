"""Train the demo CNN with ``deepling.keras.Monitor`` in one process; watch it live in another.

    python examples/monitor_live.py                       # runs/ + http://127.0.0.1:8150/?run=…
    python examples/monitor_live.py --screenshots docs/   # + headless Chromium screenshots

1. starts ``deepling serve --runs RUNS`` (``python run.py``) in its own process;
2. starts the training in a separate process (``python examples/monitor_live.py train``): a
   fresh demo CNN on 5,000 CIFAR-10 training images with plain ``model.fit``, a ``Monitor``
   writing ``RUNS/demo-<time>`` and Keras' own ``ModelCheckpoint`` writing
   ``RUNS/demo-<time>-checkpoints/epoch_{N}.keras`` (which opens as a run too);
3. prints the page's address (``/?run=run:<name>`` opens the run in the Training card);
   with ``--screenshots`` it also drives headless Chromium and saves the page mid-run and
   after the run (charts, bars, histograms, the layer animation across training).

CIFAR-10 comes from ``$DEEPLING_CIFAR10`` or the Keras download, as for the app.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def train(folder: str, epochs: int, images: int, seed: int = 0) -> None:
    """The user's side: any script with model.fit, plus two callbacks."""
    import keras
    import numpy as np

    from deepling.data import load_cifar10
    from deepling.keras import Monitor
    from deepling.models.demo import build_demo_model

    from deepling.service.paths import cache_dir

    # decoded once into Deepling's cache (as the app does), not at every start
    train_set = load_cifar10("train", cache_dir=cache_dir("datasets"))
    test_set = load_cifar10("test", cache_dir=cache_dir("datasets"))
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(train_set), images, replace=False)
    x, y = train_set.images[pick], train_set.labels[pick]
    val = rng.choice(len(test_set), 1000, replace=False)
    xv, yv = test_set.images[val], test_set.labels[val]
    model = build_demo_model(10, x.shape[1:], seed)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    checkpoints = Path(folder + "-checkpoints")
    checkpoints.mkdir(parents=True, exist_ok=True)
    model.fit(x, y, batch_size=64, epochs=epochs, validation_data=(xv, yv), verbose=2,
              callbacks=[Monitor(folder, probe=(xv, yv)),
                         keras.callbacks.ModelCheckpoint(str(checkpoints / "epoch_{epoch}.keras"))])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", nargs="?", default="demo", choices=("demo", "train"))
    p.add_argument("--runs", default="runs", help="the runs folder (default runs/)")
    p.add_argument("--folder", help="train: the run folder")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--port", type=int, default=8150)
    p.add_argument("--screenshots", help="a folder for headless Chromium screenshots")
    a = p.parse_args(argv)
    if a.command == "train":
        train(a.folder, a.epochs, a.images)
        return 0

    runs = Path(a.runs).resolve()
    runs.mkdir(parents=True, exist_ok=True)
    name = time.strftime("demo-%H%M%S")
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    server = subprocess.Popen([sys.executable, str(REPO / "run.py"), "--runs", str(runs),
                               "--port", str(a.port)], cwd=REPO, env=env)
    trainer = None
    try:
        url = f"http://127.0.0.1:{a.port}"
        _wait_up(url, server)
        trainer = subprocess.Popen([sys.executable, __file__, "train", "--folder", str(runs / name),
                                    "--epochs", str(a.epochs), "--images", str(a.images)], env=env)
        page = f"{url}/?run=run:{name}"
        print(f"\nThe run, live: {page}\n", flush=True)
        if a.screenshots:
            shots(page, url, runs / name, Path(a.screenshots), trainer, a.epochs)
        trainer.wait()
        if not a.screenshots:
            print(f"Training done; the server keeps running: {page} (Ctrl-C to stop)", flush=True)
            server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for proc in (trainer, server):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(20)
    return 0


def _wait_up(url: str, server, timeout: float = 300) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit("the server exited")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the server did not come up")


def shots(page: str, url: str, folder: Path, out: Path, trainer, epochs: int) -> None:
    """Headless Chromium on the live page: a screenshot mid-run and one after it, with the
    layer animation across training."""
    sys.path.insert(0, str(REPO))
    from tests.browser import make_driver, quit_driver, wait_for

    out.mkdir(parents=True, exist_ok=True)
    driver = make_driver(window_size=(1400, 2600))
    driver.set_script_timeout(300)  # a busy machine: the page may answer slowly
    try:
        driver.get(page)
        wait_for(driver, "return document.querySelector('#training-card') !== null", 240, "page")
        driver.execute_script("document.querySelector('#training-card').scrollIntoView()")
        wait_for(driver, "return document.querySelectorAll('#train-epochs-chart .bars path').length >= 2",
                 900, "two epochs in the chart")
        driver.execute_script("document.querySelector('#train-watch-row').scrollIntoView()")
        driver.save_screenshot(str(out / "monitor-live.png"))
        print(f"saved {out / 'monitor-live.png'}", flush=True)
        trainer.wait()
        driver.get(page)
        wait_for(driver, "return document.querySelectorAll('#train-epochs-chart .bars path').length >= %d"
                 % epochs, 300, "every epoch")
        wait_for(driver, "return document.querySelector('#train-watch-link') !== null", 600,
                 "a vetted snapshot (its model opens)")
        time.sleep(30)  # the other snapshots are vetted meanwhile (each in the isolated worker)
        driver.execute_script("document.querySelector('#train-across-open').click()")
        wait_for(driver, "const s = document.querySelector('#anim-status');"
                         "return s && /snapshots/.test(s.textContent)", 900, "across training")
        time.sleep(3)
        driver.execute_script("document.querySelector('#training-card').scrollIntoView()")
        time.sleep(1)
        driver.save_screenshot(str(out / "monitor-run.png"))
        driver.execute_script("window.scrollTo(0, 0)")
        time.sleep(1)
        driver.save_screenshot(str(out / "monitor-across.png"))
        print(f"saved {out / 'monitor-run.png'}, {out / 'monitor-across.png'}", flush=True)
        driver.get(f"{url}/?run=run:{folder.name}-checkpoints")
        wait_for(driver, "return document.querySelectorAll('#train-hist .scatterlayer .trace').length >= 2",
                 600, "the checkpoint folder's weights histograms")
        driver.execute_script("document.querySelector('#training-card').scrollIntoView()")
        time.sleep(2)
        driver.save_screenshot(str(out / "monitor-checkpoints.png"))
        print(f"saved {out / 'monitor-checkpoints.png'}", flush=True)
    finally:
        quit_driver(driver)


if __name__ == "__main__":
    raise SystemExit(main())
