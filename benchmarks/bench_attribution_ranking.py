"""Rank the attribution methods by deletion/insertion AUC on the demo CNN: the figures of
the README's attribution section. Writes ``benchmarks/results/attribution_ranking.md``.

    bench python benchmarks/bench_attribution_ranking.py [--images 200]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "benchmarks" / "results" / "attribution_ranking.md"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=200)
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)

    from deepling.data import load_cifar10
    from deepling.evaluation import stratified_sample
    from deepling.methods.faithfulness import RANKING_PARAMS, rank_methods
    from deepling.models import load_demo_model
    from deepling.service.attributions import CURVE_STEPS

    adapter = load_demo_model()
    test = load_cifar10("test")
    idx = stratified_sample(test.labels, a.images, 0)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    ranking = rank_methods(adapter, test.images[idx], steps=CURVE_STEPS,
                           progress=lambda f, m: print(f"{f:5.1%} {m}", flush=True))
    seconds = time.perf_counter() - t0
    n = np.sqrt(ranking.n_images)
    lines = [
        f"# Attribution methods ranked on the demo CNN ({ranking.n_images} CIFAR-10 test images)",
        "",
        f"Command: `bench python benchmarks/bench_attribution_ranking.py --images {a.images}`",
        "",
        (f"Stratified sample (seed 0), each image's predicted class; curves of {CURVE_STEPS} steps; "
         f"deletion to black, insertion from a blurred copy (σ = 4 px); ranked by insertion − "
         f"deletion; ± standard error over images. Ranking settings: {RANKING_PARAMS}. "
         f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {seconds:.0f} s in all; load "
         f"average {', '.join(f'{v:.1f}' for v in load0)} before, "
         f"{', '.join(f'{v:.1f}' for v in os.getloadavg())} after (shared 2-core machine)."),
        "",
        "| # | method | insertion ↑ | deletion ↓ | insertion − deletion | seconds |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for k, r in enumerate(ranking.table()):
        lines.append(f"| {k + 1} | {r['label']} | {r['insertion']:.3f} ± {r['insertion_sd'] / n:.3f} | "
                     f"{r['deletion']:.3f} ± {r['deletion_sd'] / n:.3f} | "
                     f"{r['difference']:.3f} ± {r['difference_se']:.3f} | {r['seconds']:.1f} |")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
