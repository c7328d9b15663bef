"""Loading model files: the demo, a path given on the command line, an upload.

Every file goes through :func:`load_model_file`, which refuses what is not a Keras model
with a message the user can act on and always loads with ``safe_mode=True``. Files that did
not ship with Deepling (``trusted=False``, the default) go through three gates first:

1. :func:`deepling.models.safety.inspect_model_file` reads the config without Keras and
   refuses anything but built-in layers (Lambda layers, custom or foreign classes and
   functions, attempts to switch safe mode off);
2. :func:`deepling.models.isolation.load_in_worker` loads the file and runs it once in a
   separate process with time and memory limits;
3. only then does the server process load it.

For ``.h5`` files gate 1 runs in the worker before it runs here: reading HDF5 means
parsing the file with the HDF5 C library, and a damaged file should crash a worker, not
the server.
"""

from __future__ import annotations

import os
from pathlib import Path

from deepling.data.limits import UploadLimits
from deepling.models.adapter import ModelAdapter, ModelError, file_fingerprint
from deepling.resources import DEMO_MODEL

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def load_model_file(path: str | os.PathLike, name: str | None = None, input_range=None,
                    trusted: bool = False, limits: UploadLimits | None = None,
                    preprocessing: str | None = None) -> ModelAdapter:
    """Load a ``.keras`` / ``.h5`` file as a :class:`ModelAdapter`.

    Parameters
    ----------
    path : path-like
    name : str, optional
        What to call the model; the file name by default.
    input_range : (float, float), optional
        The pixel range the model expects; detected when not given.
    trusted : bool
        True only for files that ship with Deepling: skips the isolated worker (the config
        is still inspected and Keras still runs in safe mode).
    limits : UploadLimits, optional
        Size, time and memory limits; from the environment by default.
    preprocessing : str, optional
        ``auto`` (detect, the default), ``caffe``, ``tf``, ``torch``, ``raw`` or ``unit``
        (see ``ModelAdapter.from_model``).

    Raises
    ------
    UnsafeModelError
        The file asks Keras to run code or use classes Deepling does not allow.
    ModelError
        The file is missing, unreadable, of another format, too large, or not a loadable
        image model.
    """
    from deepling.models.safety import check_file_kind, inspect_model_file

    path = Path(path).expanduser()
    name = name or path.name
    if not path.exists():
        raise ModelError(f"No model file at {path}. Pass --model with a .keras or .h5 file.")
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ModelError(f"{path} is not a readable file.")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise ModelError(f"{path.name}: expected a .keras or .h5 model file, got {path.suffix!r}.")
    if path.stat().st_size == 0:
        raise ModelError(f"{path.name} is empty.")
    limits = limits or UploadLimits.from_env()
    before = _identity(path)
    kind = check_file_kind(path)

    if trusted or kind == "keras":
        inspect_model_file(path, limits)  # pure Python for .keras: refuse without a worker
    if not trusted:
        from deepling.models.isolation import load_in_worker

        load_in_worker(path, limits=limits)
        if kind == "h5":
            inspect_model_file(path, limits)
    import keras

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:
        raise ModelError(f"{path.name} could not be loaded as a Keras model: {exc}") from None
    if _identity(path) != before:
        # What was inspected and tried in the worker must be what was loaded here.
        raise ModelError(f"{path.name} changed while it was being loaded; load it again.")
    if not isinstance(model, keras.Model):
        raise ModelError(f"{path.name} holds a {type(model).__name__}, not a Keras model.")
    return ModelAdapter.from_model(model, name, file_fingerprint(path), input_range, preprocessing)


def _identity(path: Path) -> tuple:
    st = path.stat()
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def load_demo_model() -> ModelAdapter:
    """The AlexNet-style CIFAR-10 CNN shipped with Deepling."""
    if not DEMO_MODEL.exists():
        raise ModelError(
            f"The demo model is missing ({DEMO_MODEL}). Train it with `deepling train-demo` "
            "or pass --model with your own .keras file."
        )
    from deepling.data.loaders import CIFAR10_CLASSES

    adapter = load_model_file(DEMO_MODEL, name="Deepling demo CNN (CIFAR-10)", trusted=True)
    adapter.output_names = CIFAR10_CLASSES  # it names its outputs on any data
    return adapter
