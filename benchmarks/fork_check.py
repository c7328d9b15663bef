"""Does TensorFlow work in a forked child once the parent has used it?

Dash's DiskcacheManager forks a process per background callback. This script runs the
demo architecture in the parent, then in a forked child, and reports whether the child
answered within the time limit. Run: ``python benchmarks/fork_check.py``.
"""

import multiprocessing as mp
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from deepling.models.demo import build_demo_model  # noqa: E402

model = build_demo_model()
x = np.random.default_rng(0).random((256, 32, 32, 3), dtype=np.float32) * 255


def child(q):
    t = time.time()
    q.put((model(x[:64]).shape[0], time.time() - t))


if __name__ == "__main__":
    model.predict(x, verbose=0)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=child, args=(q,))
    p.start()
    try:
        n, seconds = q.get(timeout=60)
        print(f"forked child answered: {n} images in {seconds:.2f} s")
    except Exception:
        print("forked child did not answer within 60 s: TensorFlow deadlocks after fork")
    p.kill()
