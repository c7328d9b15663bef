"""Builders for hostile (and a few benign) files, written into a test's tmp folder.

Nothing binary is committed: every file is made at test time with ``zipfile``, ``json`` and
``h5py``, by hand where Keras itself would refuse to save it. Hostile files try to create a
*marker* file when their code runs, so a test can check that none did.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

# --- Keras config pieces ------------------------------------------------------------------

DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
         "registered_name": None}


def input_layer(shape=(8, 8, 3), name="image") -> dict:
    return {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
            "config": {"batch_shape": [None, *shape], "dtype": "float32", "sparse": False,
                       "ragged": False, "name": name, "optional": False}}


def layer(class_name: str, name: str, module="keras.layers", registered_name=None, **config):
    return {"module": module, "class_name": class_name, "registered_name": registered_name,
            "config": {"name": name, "trainable": True, "dtype": DTYPE, **config}}


def dense(name="out", units=2, activation="softmax") -> dict:
    return layer("Dense", name, units=units, activation=activation, use_bias=True,
                 kernel_initializer={"module": "keras.initializers", "class_name": "GlorotUniform",
                                     "config": {"seed": None}, "registered_name": None},
                 bias_initializer={"module": "keras.initializers", "class_name": "Zeros",
                                   "config": {}, "registered_name": None},
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None)


def sequential(*layers, shape=(8, 8, 3), name="hostile") -> dict:
    """A keras-3 Sequential config: Input → layers → Flatten → Dense softmax."""
    body = [input_layer(shape), *layers, layer("Flatten", "flatten", data_format="channels_last"),
            dense()]
    return {"module": "keras", "class_name": "Sequential", "registered_name": None,
            "config": {"name": name, "trainable": True, "dtype": DTYPE, "layers": body},
            "build_config": {"input_shape": [None, *shape]}}


def function_ref(module: str, name: str, registered_name="function") -> dict:
    """How Keras serialises a reference to a plain function."""
    return {"module": module, "class_name": "function", "config": name,
            "registered_name": registered_name}


# --- code that writes the marker when it runs ----------------------------------------------

def marker_code(marker: Path) -> str:
    """Base64 of marshalled bytecode of ``lambda x: x`` that first writes ``marker``.

    The path is a constant in the bytecode, so the function needs no globals or closure.
    """
    fn = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), x)[1]")
    return base64.b64encode(marshal.dumps(fn.__code__)).decode("ascii")


def lambda_layer(marker: Path, name="evil_lambda") -> dict:
    """Keras 3 Lambda layer with bytecode (CVE-2024-3660)."""
    return layer("Lambda", name, arguments={},
                 function={"class_name": "__lambda__",
                           "config": {"code": marker_code(marker), "defaults": None,
                                      "closure": None}})


def legacy_lambda_layer(marker: Path, name="evil_lambda") -> dict:
    """Keras 2 Lambda layer as written into ``.h5`` files (CVE-2025-9905)."""
    return {"class_name": "Lambda",
            "config": {"name": name, "trainable": True, "dtype": "float32",
                       "function": [marker_code(marker), None, None], "function_type": "lambda",
                       "module": "__main__", "output_shape": None, "output_shape_type": "raw",
                       "output_shape_module": None, "arguments": {}}}


def lambda_in_activation(marker: Path) -> dict:
    """A Dense layer whose activation is serialised bytecode, not a Lambda layer."""
    return dense("sneaky", activation={"class_name": "__lambda__",
                                        "config": {"code": marker_code(marker), "defaults": None,
                                                   "closure": None}})


def foreign_call_functional(marker: Path, module="os", name="system") -> dict:
    """CVE-2025-1550: a Functional config whose "layer" is ``module.name`` called with
    arguments from ``inbound_nodes`` — each variant would create ``marker``."""
    arg = {"os": f"touch {marker}",
           "subprocess": f"touch {marker}",
           "builtins": f"open({str(marker)!r}, 'w').write('ran')"}.get(module, str(marker))
    inp = input_layer((8, 8, 3), name="image")
    evil = {"module": module, "class_name": name, "config": {}, "registered_name": name,
            "name": "evil", "inbound_nodes": [{"args": [arg], "kwargs": {}}]}
    out = dense()
    out["name"] = "out"
    out["inbound_nodes"] = [{"args": [{"class_name": "__keras_tensor__",
                                      "config": {"shape": [None, 8, 8, 3], "dtype": "float32",
                                                 "keras_history": ["image", 0, 0]}}],
                             "kwargs": {}}]
    inp["name"] = "image"
    inp["inbound_nodes"] = []
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "registered_name": "Functional",
            "config": {"name": "hostile", "trainable": True, "layers": [inp, evil, out],
                       "input_layers": [["image", 0, 0]], "output_layers": [["out", 0, 0]]}}


def unsafe_switch_config(marker: Path) -> dict:
    """CVE-2025-9906: a Lambda that calls keras.config.enable_unsafe_deserialization, then
    a bytecode Lambda that would run once safe mode is off."""
    switch = layer("Lambda", "switch_off_safe_mode", arguments={},
                   function=function_ref("keras.config", "enable_unsafe_deserialization"))
    return sequential(switch, lambda_layer(marker))


def keras_gadget_config(marker: Path) -> dict:
    """CVE-2025-8747: Keras' own file-writing function named as an activation."""
    return sequential(dense("fetch", activation=function_ref("keras.utils", "get_file")))


# --- files --------------------------------------------------------------------------------

def write_keras(path: Path, config: dict, weights: bytes = b"", extra: dict | None = None,
                metadata: dict | None = None) -> Path:
    """A ``.keras`` archive with the given config (and a placeholder weights member)."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("metadata.json", json.dumps(metadata or {"keras_version": "3.15.1",
                                                              "date_saved": "2025-01-01@00:00:00"}))
        zf.writestr("config.json", json.dumps(config))
        zf.writestr("model.weights.h5", weights)
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def write_h5(path: Path, config: dict, keras_version="3.15.1", training_config=None) -> Path:
    """A Keras HDF5 model file: the config attribute and an empty weights group."""
    import h5py

    with h5py.File(path, "w") as h5:
        h5.attrs["model_config"] = json.dumps(config)
        h5.attrs["keras_version"] = keras_version
        h5.attrs["backend"] = "tensorflow"
        if training_config is not None:
            h5.attrs["training_config"] = json.dumps(training_config)
        group = h5.create_group("model_weights")
        group.attrs["layer_names"] = np.array([], dtype="S1")
        group.attrs["backend"] = "tensorflow"
        group.attrs["keras_version"] = keras_version
    return path


def add_external_storage(h5_path: Path, secret: Path, link=False) -> Path:
    """Add to an HDF5 file a weights-like dataset whose bytes come from ``secret`` (or, with
    ``link``, an external link to it): reading it would read a file on the server."""
    import h5py

    with h5py.File(h5_path, "a") as h5:
        group = h5.require_group("model_weights/out/vars")
        if link:
            group["0"] = h5py.ExternalLink(str(secret), "/")
        else:
            n = secret.stat().st_size
            group.create_dataset("0", shape=(n,), dtype="u1", external=[(str(secret), 0, n)])
    return h5_path


def replace_weights(src: Path, dst: Path, weights: Path) -> Path:
    """Copy a real ``.keras`` file with its model.weights.h5 replaced by ``weights``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = weights.read_bytes() if info.filename == "model.weights.h5" else zin.read(info)
            zout.writestr(info, data)
    return dst


def rewrite_config(src: Path, dst: Path, edit) -> Path:
    """Copy a real ``.keras`` file, passing its config through ``edit(config) -> config``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(info, data)
    return dst


def keras2_h5_config() -> tuple[dict, dict]:
    """A benign model config and training config as TF 2.x Keras wrote them into ``.h5``:
    no ``module`` keys, ``batch_input_shape``, ``Custom>Adam``."""
    glorot = {"class_name": "GlorotUniform", "config": {"seed": None}}
    zeros = {"class_name": "Zeros", "config": {}}
    config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 8, 8, 3],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "input_1"}},
        {"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": True, "dtype": "float32",
                                            "filters": 4, "kernel_size": [3, 3], "strides": [1, 1],
                                            "padding": "valid", "data_format": "channels_last",
                                            "dilation_rate": [1, 1], "groups": 1,
                                            "activation": "relu", "use_bias": True,
                                            "kernel_initializer": glorot, "bias_initializer": zeros,
                                            "kernel_regularizer": None, "bias_regularizer": None,
                                            "activity_regularizer": None, "kernel_constraint": None,
                                            "bias_constraint": None}},
        {"class_name": "Flatten", "config": {"name": "flatten", "trainable": True,
                                             "dtype": "float32", "data_format": "channels_last"}},
        {"class_name": "Dense", "config": {"name": "dense", "trainable": True, "dtype": "float32",
                                           "units": 2, "activation": "softmax", "use_bias": True,
                                           "kernel_initializer": glorot, "bias_initializer": zeros,
                                           "kernel_regularizer": None, "bias_regularizer": None,
                                           "activity_regularizer": None, "kernel_constraint": None,
                                           "bias_constraint": None}}]}}
    training = {"loss": "sparse_categorical_crossentropy", "metrics": [[{
        "class_name": "MeanMetricWrapper",
        "config": {"name": "accuracy", "dtype": "float32", "fn": "sparse_categorical_accuracy"}}]],
        "weighted_metrics": None, "loss_weights": None,
        "optimizer_config": {"class_name": "Custom>Adam",
                             "config": {"name": "Adam", "learning_rate": 0.001, "beta_1": 0.9,
                                        "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}
    return config, training


# --- zips of image folders ----------------------------------------------------------------

def png_bytes(color=(200, 30, 30), size=(8, 8), mode="RGB") -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new(mode, size, color if mode == "RGB" else color[0]).save(buf, "PNG")
    return buf.getvalue()


def image_zip(path: Path, prefix: str = "", classes=("cat", "dog"), per_class=3,
              extra: dict | None = None) -> Path:
    """A benign zip: ``prefix/<class>/<i>.png``."""
    colors = [(220, 40, 40), (40, 40, 220), (40, 200, 40)]
    with zipfile.ZipFile(path, "w") as zf:
        for k, cls in enumerate(classes):
            for i in range(per_class):
                zf.writestr(f"{prefix}{cls}/{i}.png", png_bytes(colors[k % 3]))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def zip_with_member(path: Path, member: str, data: bytes = b"evil", benign=True) -> Path:
    """A class-folder zip plus one entry named ``member`` (e.g. ``../evil.txt``)."""
    image_zip(path) if benign else zipfile.ZipFile(path, "w").close()
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(zipfile.ZipInfo(member), data)
    return path


def symlink_zip(path: Path, target: str = "/etc/passwd") -> Path:
    image_zip(path)
    info = zipfile.ZipInfo("cat/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3  # Unix
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr(info, target)
    return path


def zip_bomb(path: Path, unpacked: int = 64 << 20, name="cat/bomb.png") -> Path:
    """One member of ``unpacked`` zero bytes, deflated to a few kB."""
    image_zip(path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as zf, \
            zf.open(_deflated(name), "w", force_zip64=True) as f:
        block = bytes(1 << 20)
        for _ in range(unpacked >> 20):
            f.write(block)
    return path


def _deflated(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def lying_zip(path: Path, real: int = 8 << 20, declared: int = 1000) -> Path:
    """A zip whose single member declares ``declared`` bytes but inflates to ``real``.

    Written byte by byte (zipfile would record the true size). The CRC is that of the
    real data, as a bomb maker would leave it.
    """
    data = bytes(real)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = comp.compress(data) + comp.flush()
    crc = zlib.crc32(data)
    name = b"cat/0.png"
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(packed), declared,
                        len(name), 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crc, len(packed),
                          declared, len(name), 0, 0, 0, 0, 0o100644 << 16, 0) + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(packed), 0)
    path.write_bytes(local + packed + central + end)
    return path


# --- hostile names (stored XSS) ------------------------------------------------------------------
# Ten class names, each an attempt to become markup or script wherever a view shows it.
HOSTILE_NAMES = (
    '<img src=x onerror="window.__xss.push(1)">',
    '"><svg onload="window.__xss.push(2)">',
    "'-window.__xss.push(3)-'",
    "javascript:window.__xss.push(4)",
    "</script><script>window.__xss.push(5)</script>",
    "\u202egpj.exe\u202c right-to-left",
    "${window.__xss.push(6)} {{7*7}}",
    "🙂🔥 émoji ✓",
    '<b onmouseover="window.__xss.push(7)">bold</b>',
    "A" * 10_000 + "<i>long</i>",
)


def hostile_names_npz(path, per_class: int = 3, seed: int = 0):
    """``per_class`` random 32×32×3 images of each of :data:`HOSTILE_NAMES`."""
    rng = np.random.default_rng(seed)
    n = per_class * len(HOSTILE_NAMES)
    np.savez(path, x=rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
             y=np.arange(n) % len(HOSTILE_NAMES), class_names=np.array(HOSTILE_NAMES))
    return path


def hostile_folders_zip(path, per_class: int = 2):
    """An image-folder zip whose class folders are named like markup (a file-system name
    cannot hold the 10 kB one or a slash)."""
    from PIL import Image

    rng = np.random.default_rng(1)
    with zipfile.ZipFile(path, "w") as zf:
        for name in HOSTILE_NAMES[:9]:
            folder = name.replace("/", "∕")
            for i in range(per_class):
                buf = io.BytesIO()
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "PNG")
                zf.writestr(f"{folder}/{i}.png", buf.getvalue())
    return path
