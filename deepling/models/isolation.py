"""First contact with an uploaded model happens in a throwaway process.

:func:`load_in_worker` starts a fresh Python interpreter that inspects the file, loads it
with ``keras.saving.load_model(path, compile=False, safe_mode=True)``, runs one forward pass
on zeros and prints a JSON summary. The worker runs under a wall-time limit, an address-space
limit (``RLIMIT_AS``), a CPU-time backstop and lowered priority, so a file that hangs Keras,
eats memory or crashes h5py/TensorFlow costs the server a dead child, not itself.

Why ``subprocess`` and not ``multiprocessing``: both start a fresh interpreter (TensorFlow
is not fork-safe), but ``multiprocessing`` unpickles what the child sends back — a worker
subverted by a hostile file could then run code in the server — and its spawn start method
re-imports the server's ``__main__`` script in every worker. Here the child is started with
``python -I`` (no user site, no ``PYTHON*`` variables, no current folder on ``sys.path``) in
an empty working folder, and answers with one line of JSON, size-bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from deepling.data.limits import UploadLimits
from deepling.models.adapter import ModelError

# The child's answer is a few kB; anything larger is not from our code.
MAX_REPLY_BYTES = 1 << 20
_STDERR_TAIL = 16_000  # TensorFlow follows a fatal error with a long stack trace
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from deepling.models.isolation import _child_main; _child_main(sys.argv[2:])"
)


class WorkerError(ModelError):
    """The isolated worker was killed, crashed or ran out of memory or time."""


def load_in_worker(path: str | os.PathLike, timeout_s: float | None = None,
                   memory_bytes: int | None = None,
                   limits: UploadLimits | None = None) -> dict:
    """Inspect and load ``path`` in a separate, limited process; return its summary.

    Returns
    -------
    dict
        ``input_shape``, ``output_shape``, ``n_layers``, ``params``, ``layers`` (list of
        ``{"name", "type"}``), ``output_kind`` ("probabilities" or "logits"),
        ``keras_version`` and ``seconds``; JSON-able.

    Raises
    ------
    UnsafeModelError
        Inspection in the worker refused the file.
    ModelError
        Keras could not load it, or it is not an image classifier Deepling can show.
    WorkerError
        The worker exceeded ``timeout_s`` or ``memory_bytes``, or crashed.
    """
    limits = limits or UploadLimits.from_env()
    timeout_s = float(timeout_s or limits.load_timeout_s)
    memory_bytes = int(memory_bytes or limits.load_memory_bytes)
    path = Path(path).resolve()
    name = path.name
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="",
               TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
    args = [sys.executable, "-I", "-c", _CHILD, str(_PACKAGE_ROOT), str(path),
            str(memory_bytes), str(int(timeout_s) + 5), json.dumps(_limits_dict(limits))]
    with tempfile.TemporaryDirectory(prefix="deepling-worker-") as workdir, \
            tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                cwd=workdir, env=env, start_new_session=True)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise WorkerError(
                f"{name}: loading took longer than {timeout_s:.0f} s and was stopped. The file "
                "may be very large or crafted to hang the loader; if it is a genuine model, "
                "ask the administrator to raise DEEPLING_LOAD_TIMEOUT_S."
            ) from None
        except BaseException:  # e.g. the server shutting down: do not leave the worker behind
            _kill(proc)
            raise
        out.seek(0)
        reply = out.read(MAX_REPLY_BYTES + 1)
        err.seek(0, os.SEEK_END)
        err.seek(max(0, err.tell() - _STDERR_TAIL))
        tail = err.read().decode("utf-8", "replace").strip()
    return _interpret(name, proc.returncode, reply, tail, memory_bytes)


def _interpret(name: str, code: int, reply: bytes, tail: str, memory_bytes: int) -> dict:
    from deepling.models.safety import UnsafeModelError

    answer = None
    if reply and len(reply) <= MAX_REPLY_BYTES:
        try:
            answer = json.loads(reply.decode("utf-8").strip().splitlines()[-1])
        except (ValueError, IndexError, UnicodeDecodeError):
            answer = None
    if isinstance(answer, dict) and code == 0 and isinstance(answer.get("summary"), dict):
        return answer["summary"]
    if isinstance(answer, dict) and isinstance(answer.get("message"), str):
        kind, message = answer.get("error"), answer["message"][:4000]
        if kind == "unsafe":
            raise UnsafeModelError(message)
        if kind == "memory":
            raise WorkerError(_memory_message(name, memory_bytes))
        raise ModelError(message)
    if _looks_like_memory(tail):
        raise WorkerError(_memory_message(name, memory_bytes))
    if code < 0:
        try:
            sig = signal.Signals(-code).name
        except ValueError:
            sig = f"signal {-code}"
        if sig in ("SIGKILL", "SIGXCPU"):
            raise WorkerError(_memory_message(name, memory_bytes) if sig == "SIGKILL" else
                              f"{name}: loading used too much CPU time and was stopped.")
        raise WorkerError(
            f"{name}: the model loader crashed ({sig}) on this file. The file is damaged or "
            "crafted; save the model again with model.save('model.keras')."
        )
    lines = [ln for ln in tail.splitlines() if ln.strip() and not ln.lstrip().startswith("@")]
    detail = lines[-1][:300] if lines else f"exit status {code}"
    raise WorkerError(f"{name}: the model loader failed without an answer ({detail}).")


def _looks_like_memory(text: str) -> bool:
    text = text.lower()
    return any(s in text for s in ("memoryerror", "bad_alloc", "cannot allocate memory",
                                   "failed to map segment", "resource exhausted",
                                   "out of memory", "pthread_create"))


def _memory_message(name: str, memory_bytes: int) -> str:
    return (f"{name}: loading needed more than the {memory_bytes / (1 << 30):.1f} GB of memory "
            "allowed for a model upload. Use a smaller model, or ask the administrator to raise "
            "DEEPLING_LOAD_MEMORY_MB.")


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's process group. Only while the worker is unreaped: its id then
    still names our session and cannot have been reused by another process."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()


def _limits_dict(limits: UploadLimits) -> dict:
    return {k: getattr(limits, k) for k in limits.__dataclass_fields__}


# --- inside the worker ---------------------------------------------------------------------

def _child_main(argv: list[str]) -> None:
    """Entry point of the worker process; writes one JSON line to stdout and exits."""
    import resource

    path, memory, cpu_s, limits_json = argv
    limits = UploadLimits(**json.loads(limits_json))
    fsize = limits.max_uncompressed_bytes  # keras may unpack the weights to disk
    # Limits first, before TensorFlow and the file are touched.
    resource.setrlimit(resource.RLIMIT_AS, (int(memory), int(memory)))
    resource.setrlimit(resource.RLIMIT_CPU, (int(cpu_s), int(cpu_s) + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (int(fsize), int(fsize)))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(10)
    # Libraries print to stdout; keep it for the answer alone.
    reply = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        summary = _load_and_probe(Path(path), limits)
        answer = {"summary": summary}
    except MemoryError:
        answer = {"error": "memory", "message": "out of memory"}
    except Exception as exc:
        from deepling.models.safety import UnsafeModelError

        kind = "unsafe" if isinstance(exc, UnsafeModelError) else "model"
        message = str(exc) if isinstance(exc, ModelError) else \
            f"{Path(path).name} could not be loaded as a Keras model: {type(exc).__name__}: {exc}"
        if kind == "model" and _looks_like_memory(f"{type(exc).__name__} {exc}"):
            kind = "memory"
        answer = {"error": kind, "message": message[:4000]}
    reply.write(json.dumps(answer) + "\n")
    reply.flush()
    os._exit(0)  # skip TensorFlow's slow, occasionally crashing teardown


def _load_and_probe(path: Path, limits: UploadLimits) -> dict:
    import time

    t0 = time.time()
    from deepling.models.safety import check_keras_weights, inspect_model_file

    inspection = inspect_model_file(path, limits)  # again: the worker may be called alone
    if inspection.format == "keras":
        check_keras_weights(path)  # HDF5 inside the zip: parsed here, not in the server
    import keras
    import numpy as np

    from deepling.models.adapter import ModelAdapter

    model = keras.saving.load_model(path, compile=False, safe_mode=True)
    if not isinstance(model, keras.Model):
        raise ModelError(f"{path.name} holds a {type(model).__name__}, not a Keras model.")
    adapter = ModelAdapter.from_model(model, path.name, fingerprint="worker")
    h, w, c = adapter.input_shape
    x = np.zeros((1, h or 32, w or 32, c), dtype=np.float32)
    y = np.asarray(model(x, training=False))
    if y.ndim != 2:
        raise ModelError(
            f"{path.name}: Deepling shows classifiers with one output vector per image; this "
            f"model outputs shape {tuple(model.outputs[0].shape)}."
        )
    return {
        "input_shape": [h, w, c],
        "output_shape": [int(d) if d is not None else None for d in model.outputs[0].shape[1:]],
        "n_layers": len(model.layers),
        "params": int(model.count_params()),
        "layers": [{"name": layer.name, "type": type(layer).__name__} for layer in model.layers],
        "output_kind": adapter.output_kind,
        "finite_output": bool(np.isfinite(y).all()),
        "keras_version": inspection.keras_version,
        "seconds": round(time.time() - t0, 2),
    }
