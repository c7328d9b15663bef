"""Every ``keras.applications`` architecture through Deepling's upload gate.

For each architecture that builds here (``weights=None``, the smallest input it allows):
build it, check its config with the upload allowlist
(:func:`deepling.models.safety.check_config`, what an upload of its ``.keras`` file goes
through), and for those under ``--max-params`` save it to a ``.keras`` file and open it the
way an upload is opened (:func:`deepling.models.load_model_file`: config inspection, the
isolated worker, then the server's own load). Writes ``benchmarks/results/applications.md``.

    bench python benchmarks/vet_applications.py            # all of them (minutes, ~3 GB)
    python benchmarks/vet_applications.py ConvNeXtTiny      # some
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from deepling.models.applications import APPLICATIONS, smallest_input  # noqa: E402


def main(names):
    import keras
    from keras.saving import serialize_keras_object

    from deepling.models import load_model_file
    from deepling.models.safety import check_config

    rows = []
    max_params = 30_000_000
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or APPLICATIONS:
            t = time.perf_counter()
            size = smallest_input(name)
            try:
                model = getattr(keras.applications, name)(weights=None, input_shape=(size, size, 3))
            except Exception as exc:  # noqa: BLE001 - reported in the table
                rows.append((name, size, "-", "-", f"does not build here: {exc}"[:120]))
                continue
            params = model.count_params()
            try:
                check_config(json.loads(json.dumps(serialize_keras_object(model))), name)
                verdict = "config allowed"
                if params <= max_params:
                    path = Path(tmp) / f"{name}.keras"
                    model.save(path)
                    adapter = load_model_file(path)
                    verdict = f"uploaded and opened ({len(adapter.model.layers)} layers)"
                    path.unlink()
            except Exception as exc:  # noqa: BLE001 - reported in the table
                verdict = f"REFUSED: {exc}"[:200]
            rows.append((name, size, f"{len(model.layers)}", f"{params / 1e6:.1f} M",
                         f"{verdict}; {time.perf_counter() - t:.1f} s"))
            print(" | ".join(map(str, rows[-1])), flush=True)
            del model
            keras.backend.clear_session()
    lines = ["# keras.applications through the upload gate", "",
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load "
             f"{os.getloadavg()[0]:.1f}; `python benchmarks/vet_applications.py`", "",
             "| architecture | input | layers | parameters | result |", "|---|---:|---:|---:|---|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    if not names:
        out = Path(__file__).parent / "results" / "applications.md"
        out.write_text("\n".join(lines) + "\n")
        print(f"written {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
