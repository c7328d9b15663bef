"""``deepling.show(model, x, y)``: the whole app on objects a notebook or script holds.

In Jupyter the app appears inline in the output cell through Dash's own Jupyter support
(``app.run(jupyter_mode=…)``: a server thread in the kernel and an iframe); from a plain
script the same call opens a browser tab on a local server and serves until Ctrl-C.
The model and data are registered in a fresh workspace in memory: nothing is written
beside the user's files (results go to the usual disk cache, keyed by content).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import webbrowser


def show(model=None, x=None, y=None, *, class_names=None, input_range=None,
         mode: str | None = None, port: int | None = None, height: int = 900,
         open_browser: bool = True):
    """Open Deepling on a model and data already in memory.

    Parameters
    ----------
    model : keras.Model, ModelAdapter, path or None
        ``None`` is the demo CNN; a path is loaded like ``--model``.
    x : ndarray, tf.data.Dataset, Dataset, path or None
        Images N×H×W[×C] (uint8 0–255 or floats in 0–1 / −1–1); a ``tf.data`` of
        ``(images, labels)``; an image folder, ``.zip`` or ``.npz`` path; None is CIFAR-10.
    y : array-like, optional
        Class indices or one-hot, beside an array ``x``.
    class_names : sequence of str, optional
    input_range : (lo, hi), optional
        The pixel range the model expects, if the detected one is wrong.
    mode : {"inline", "external", "tab", "jupyterlab"}, optional
        Jupyter only (Dash's ``jupyter_mode``); default inline.
    port : int, optional
        Default ``DEEPLING_PORT`` or 8050, or the next free port after it.
    height : int
        Height of the inline frame in pixels.
    open_browser : bool
        From a script: open a browser tab (the server runs either way).

    Returns
    -------
    dash.Dash
        The app (in Jupyter; from a script ``show`` returns when the server stops).
    """
    from deepling.service.config import Config
    from deepling.service.workspace import Workspace
    from deepling.web.app import create_app

    # Jobs must run in this process: a Celery worker could not see objects in memory.
    config = dataclasses.replace(Config.from_env(), broker_url=None)
    port = _free_port(config.host, port or config.port)
    config = dataclasses.replace(config, port=port)
    workspace = Workspace(config)
    workspace.register(_adapter(model, input_range), as_dataset(x, y, class_names),
                       default=True)
    if _in_ipython():
        # Jupyter's page (another port of this machine) frames the app inline
        from deepling.web.security import SecuritySettings

        settings = SecuritySettings.from_env()
        frames = settings.frame_ancestors or ("http://localhost:*", "http://127.0.0.1:*",
                                              "https://localhost:*", "https://127.0.0.1:*")
        app = create_app(config, workspace, dataclasses.replace(settings, frame_ancestors=frames))
    else:
        app = create_app(config, workspace)
    if _in_ipython():
        app.run(host=config.host, port=port, jupyter_mode=mode or "inline",
                jupyter_height=height)
        return app
    url = f"http://{config.host}:{port}/"
    print(f"Deepling is ready: {url}  (Ctrl-C stops it)", flush=True)
    if open_browser:
        threading.Timer(1.0, webbrowser.open, (url,)).start()
    app.run(host=config.host, port=port)
    return app


def _adapter(model, input_range=None):
    """A model file or None (the demo) loaded; anything else through ``as_adapter``."""
    from deepling.models import as_adapter, load_demo_model, load_model_file

    if model is None:
        return load_demo_model()
    if isinstance(model, (str, os.PathLike)):
        return load_model_file(model, input_range=input_range)
    return as_adapter(model, input_range)


def as_dataset(x, y=None, class_names=None):
    """A Dataset for arrays, a tf.data pipeline, a path, a Dataset, or None (CIFAR-10)."""
    from deepling.data import Dataset, dataset_from_arrays, dataset_from_tf, load_dataset

    if isinstance(x, Dataset):
        return x
    if x is None or isinstance(x, (str, os.PathLike)):
        ds = load_dataset(str(x or "cifar10"))
        if class_names is not None:
            ds = dataclasses.replace(ds, class_names=tuple(class_names))
        return ds
    if hasattr(x, "as_numpy_iterator"):
        return dataset_from_tf(x, class_names)
    return dataset_from_arrays(x, y, class_names)


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


def _free_port(host: str, start: int, tries: int = 50) -> int:
    """``start`` if nothing listens there, else the next free port (a second ``show``)."""
    for port in range(start, start + tries):
        with socket.socket() as s:
            if s.connect_ex((host, port)) != 0:
                return port
    raise OSError(f"No free port in {start}–{start + tries - 1}: pass port=… to deepling.show.")
