"""The names of a model's outputs, where the model (or Keras) knows them.

One lookup for every place that names classes (:func:`model_class_names`): a model that
carries its names (a ``class_names`` attribute of the right length, as a notebook may set),
else, for an ImageNet head of ``keras.applications`` (1,000 outputs), ImageNet's class
names the Keras way: ``keras.applications.imagenet_utils``' class index file, fetched once
with ``keras.utils.get_file`` into ``~/.keras/models`` and read from there afterwards.
Offline, without that file, there are no names (the views then show class indices).
"""

from __future__ import annotations

import json
import os

IMAGENET_CLASSES = 1000
_INDEX_FILE = "imagenet_class_index.json"
_INDEX_HASH = "c2c37ea517e94d9795004a39431a14cb"  # keras.applications.imagenet_utils'


def imagenet_class_names(download: bool = False) -> tuple[str, ...] | None:
    """ImageNet's 1,000 class names (``"tabby"``, ``"tiger_cat"``, …) in output order.

    Parameters
    ----------
    download : bool
        Fetch the class index the Keras way when it is not cached yet (``--model
        keras:Name`` does, once); otherwise only the cached file is read.

    Returns
    -------
    tuple of str, or None when the file is not cached and could not be (or was not) fetched.
    """
    import keras

    path = os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")), "models",
                        _INDEX_FILE)
    if not os.path.exists(path):
        if not download:
            return None
        from keras.src.applications import imagenet_utils

        try:
            path = keras.utils.get_file(_INDEX_FILE, imagenet_utils.CLASS_INDEX_PATH,
                                        cache_subdir="models", file_hash=_INDEX_HASH)
        except Exception:  # noqa: BLE001 - offline: indices instead of names
            return None
    try:
        with open(path, encoding="utf-8") as f:
            index = json.load(f)
        return tuple(str(index[str(k)][1]) for k in range(IMAGENET_CLASSES))
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def is_imagenet_head(model) -> bool:
    """A ``keras.applications`` network with its 1,000-way ImageNet classifier: the
    application's layer names (``predictions``) and 1,000 outputs."""
    outputs = getattr(model, "outputs", None) or []
    if len(outputs) != 1 or outputs[0].shape[-1] != IMAGENET_CLASSES:
        return False
    try:
        last = model.layers[-1].name
    except (AttributeError, IndexError):
        return False
    return last in ("predictions", f"{model.name}_head_dense") or last.endswith("_head_dense")


def model_class_names(model, download: bool = False) -> tuple[str, ...] | None:
    """The model's own names for its outputs, or None when it has none.

    Parameters
    ----------
    model : keras.Model
    download : bool
        For an ImageNet head: fetch ImageNet's class index if it is not cached
        (:func:`imagenet_class_names`).
    """
    outputs = getattr(model, "outputs", None) or []
    n = int(outputs[0].shape[-1]) if len(outputs) == 1 and outputs[0].shape[-1] else None
    own = getattr(model, "class_names", None)
    if own is not None and not callable(own):
        names = tuple(str(x) for x in own)
        if n is None or len(names) == n:
            return names
    if is_imagenet_head(model):
        return imagenet_class_names(download=download)
    return None
