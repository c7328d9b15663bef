"""Inspecting a model file before Keras sees it.

A Keras file is code as much as data. Its JSON config names the classes and functions that
Keras imports and calls while loading, and past flaws let a crafted config run code even
with ``safe_mode=True``:

* CVE-2024-3660: a ``Lambda`` layer carries marshalled Python bytecode.
* CVE-2025-1550: ``module`` / ``class_name`` resolved to any importable function
  (``subprocess.Popen``, ``os.system``) and ``inbound_nodes`` supplied its arguments.
* CVE-2025-8747 / CVE-2025-9906: with foreign modules blocked, Keras' *own* functions
  were used as gadgets (``keras.utils.get_file`` writing files,
  ``keras.config.enable_unsafe_deserialization`` switching safe mode off,
  ``keras.models.load_model(safe_mode=False)`` on a second file).
* CVE-2025-9905: ``.h5`` files ignored ``safe_mode``, so their ``Lambda`` layers ran.

So this module does not look for known bad names; it reads the config with ``zipfile``,
``json`` and ``h5py`` (Keras is imported only to list its own classes; nothing is
unpickled or deserialised) and accepts only what a built-in Keras model is made of: classes
exported by Keras' layer, initializer, regularizer, constraint, optimizer, loss, metric and
dtype-policy namespaces (minus the layers that run foreign code or read files), the model
classes, the tensor operations a functional model may call, Keras' activation / loss /
metric functions, and plain data. Everything else is refused with
:class:`UnsafeModelError`, naming what was found and what to do.

HDF5 content is checked too: external links, external raw storage and virtual datasets
would make h5py read other files on the server into the model's weights.
"""

from __future__ import annotations

import functools
import json
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

from deepling.data.limits import UploadLimits
from deepling.models.adapter import ModelError

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
KERAS_SUFFIXES = (".keras",)
HDF5_SUFFIXES = (".h5", ".hdf5")

# A ResNet-152 config is ~1 MB; a config far beyond that is an attack on the parser.
MAX_CONFIG_BYTES = 32 << 20
MAX_METADATA_BYTES = 1 << 20
MAX_CONFIG_DEPTH = 200

# Namespaces whose exported classes make up built-in models (and their compile settings).
_CLASS_NAMESPACES = (
    "keras.layers", "keras.models", "keras.initializers", "keras.regularizers",
    "keras.constraints", "keras.optimizers", "keras.optimizers.schedules", "keras.losses",
    "keras.metrics", "keras.dtype_policies",
)
# Namespaces whose plain functions a config may name (activations; losses and metrics in
# compile settings). Keras writes these with module "builtins" and resolves them by name.
_FUNCTION_NAMESPACES = ("keras.activations", "keras.losses", "keras.metrics")

# Functional models that call keras.ops (x + y, ops.mean, x[:, 0]) store each call as an
# Operation from one of these modules: pure tensor math, allowed per (module, class).
_OP_MODULES = tuple(f"keras.src.ops.{m}" for m in
                    ("numpy", "nn", "math", "image", "linalg", "core", "einops"))
# Control-flow operations take Python callables as arguments.
_DENIED_OPS = frozenset({"Map", "Scan", "AssociativeScan", "Switch", "WhileLoop", "ForiLoop",
                         "Cond", "VectorizedMap"})
# The only values a config's "module" may take. Exact matches: a prefix test would let
# "keras.src.saving..." or "keras_evil" through.
ALLOWED_MODULES = frozenset(_CLASS_NAMESPACES + _FUNCTION_NAMESPACES + _OP_MODULES + (
    "keras",
    "keras.src.models.functional", "keras.src.models.sequential", "keras.src.models.model",
))
_FUNCTION_MODULES = frozenset(_FUNCTION_NAMESPACES + ("builtins",))
# Keras ships a few layers of its own for keras.applications outside keras.layers
# (ConvNeXt's LayerScale and StochasticDepth, InceptionResNetV2's CustomScaleLayer):
# allowed per (module, class), read from Keras itself (see application_layers).
_APPLICATIONS_PACKAGE = "keras.src.applications"

# Built-in classes that still run code from the file or read files on the server.
DENIED_CLASSES = MappingProxyType({
    "Lambda": "it carries Python code (bytecode or a function reference) that runs when "
              "the model is loaded",
    "TFSMLayer": "it loads a TensorFlow SavedModel from a path named in the file",
    "JaxLayer": "it wraps Python functions named in the file",
    "FlaxLayer": "it wraps a Python module named in the file",
    "TorchModuleWrapper": "it restores a pickled PyTorch module",
    "StringLookup": "it can read a vocabulary file from a path named in the file",
    "IntegerLookup": "it can read a vocabulary file from a path named in the file",
    "TextVectorization": "it can read a vocabulary file from a path named in the file",
})
# Helpers in the function namespaces that deserialize or look up further objects.
_DENIED_FUNCTIONS = frozenset({"get", "serialize", "deserialize"})
# Serialised plain values Keras rebuilds without importing anything.
_DATA_MARKERS = frozenset({"__keras_tensor__", "__tensor__", "__numpy__", "__bytes__",
                           "__ellipsis__", "__slice__"})
# Config keys whose string values Keras looks up as functions or classes by name.
_CALLABLE_KEY = re.compile(r"^(activation|recurrent_activation|loss|metrics|weighted_metrics"
                           r"|optimizer|.*_(initializer|regularizer|constraint))$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Text that has no business in a model config: switches that turn Keras' own checks off.
_FORBIDDEN_TEXT = ("enable_unsafe_deserialization", "safe_mode", "__import__")
_COMPILE_KEYS = ("compile_config", "training_config")

_CUSTOM_ADVICE = ("Deepling loads only built-in Keras layers. Replace it with built-in layers "
                  "and save again, or load this model in your own Python session.")


class UnsafeModelError(ModelError):
    """The file asks Keras to import or run something Deepling does not allow."""


@dataclass(frozen=True)
class ModelInspection:
    """What a model file's config says, read without Keras.

    Attributes
    ----------
    path : str
    format : {"keras", "h5"}
    keras_version : str or None
        As recorded by the saving Keras (``metadata.json`` or the ``keras_version`` attribute).
    model_class : str
        ``Sequential``, ``Functional``, ``Model``.
    layers : tuple of (name, class_name)
        Every layer in the config (nested models and their layers included, the model
        itself not), in config order.
    notes : tuple of str
    """

    path: str
    format: str
    keras_version: str | None
    model_class: str
    layers: tuple[tuple[str, str], ...]
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "keras_version": self.keras_version,
                "model_class": self.model_class, "n_layers": len(self.layers),
                "layers": [list(pair) for pair in self.layers], "notes": list(self.notes)}


# --- the allowlist, built from Keras itself ----------------------------------------------

@functools.cache
def allowed_classes() -> frozenset[str]:
    """Class names a config may use: what Keras exports in :data:`_CLASS_NAMESPACES`, the
    model classes, minus :data:`DENIED_CLASSES`. Built once, on first use, because
    importing Keras takes seconds and the isolated worker must set its limits first."""
    import importlib

    names = {"Functional", "Sequential", "Model"}
    for ns in _CLASS_NAMESPACES:
        module = importlib.import_module(ns)
        names.update(n for n in dir(module)
                     if not n.startswith("_") and isinstance(getattr(module, n), type))
    return frozenset(names - DENIED_CLASSES.keys())


@functools.cache
def allowed_functions() -> frozenset[str]:
    """Function names a config may reference: Keras' activations, losses and metrics."""
    import importlib
    import types

    names = set()
    for ns in _FUNCTION_NAMESPACES:
        module = importlib.import_module(ns)
        names.update(n for n in dir(module) if not n.startswith("_")
                     and isinstance(getattr(module, n), types.FunctionType))
    return frozenset(names - _DENIED_FUNCTIONS)


@functools.cache
def allowed_operations() -> dict[str, frozenset[str]]:
    """Per module of :data:`_OP_MODULES`, the Operation classes it defines (not layers),
    minus the control-flow ones that take callables."""
    import importlib

    from keras.src.layers.layer import Layer
    from keras.src.ops.operation import Operation

    out = {}
    for name in _OP_MODULES:
        module = importlib.import_module(name)
        out[name] = frozenset(
            n for n, v in vars(module).items()
            if isinstance(v, type) and issubclass(v, Operation) and not issubclass(v, Layer)
            and v.__module__ == name and n not in _DENIED_OPS)
    return out


@functools.cache
def application_layers() -> dict[str, frozenset[str]]:
    """Per module of Keras' own ``keras.src.applications`` package, the Layer classes it
    defines itself (ConvNeXt's ``LayerScale``, …): what Keras ships to build
    ``keras.applications`` models. Their configs hold numbers only; any other class in
    those modules, or one registered under another name, stays refused."""
    import importlib
    import pkgutil

    from keras.src.layers.layer import Layer

    package = importlib.import_module(_APPLICATIONS_PACKAGE)
    out = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.endswith("_test"):
            continue
        name = f"{_APPLICATIONS_PACKAGE}.{info.name}"
        module = importlib.import_module(name)
        layers = frozenset(n for n, v in vars(module).items()
                           if isinstance(v, type) and issubclass(v, Layer)
                           and v.__module__ == name)
        if layers:
            out[name] = layers
    return out


@functools.cache
def _layer_classes() -> frozenset[str]:
    import keras

    return frozenset(n for n in dir(keras.layers) if isinstance(getattr(keras.layers, n), type)) \
        | {"Functional", "Sequential", "Model"} \
        | frozenset().union(*application_layers().values())


# --- the file ----------------------------------------------------------------------------

def sniff_format(path: str | Path) -> str | None:
    """``"keras"`` for a zip, ``"h5"`` for HDF5 (signature at 0 or a user block offset),
    ``None`` for anything else. Reads at most a few bytes per candidate offset."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if head[:4] in ZIP_MAGIC:
            return "keras"
        offset = 0
        while offset + 8 <= size and offset <= (1 << 30):
            f.seek(offset)
            if f.read(8) == HDF5_MAGIC:
                return "h5"
            offset = 512 if offset == 0 else offset * 2
    return None


def check_file_kind(path: str | Path) -> str:
    """The format of ``path`` ("keras" or "h5"), refusing content that contradicts the suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    kind = sniff_format(path)
    expected = "keras" if suffix in KERAS_SUFFIXES else "h5" if suffix in HDF5_SUFFIXES else None
    if kind is None:
        raise ModelError(
            f"{path.name} is not a Keras model file: it is neither a .keras archive (zip) nor "
            "an HDF5 file. It may be damaged or another format; save the model with "
            "model.save('model.keras') and upload that file."
        )
    if expected is not None and kind != expected:
        right = ".keras" if kind == "keras" else ".h5"
        raise ModelError(
            f"{path.name} has the suffix {suffix} but its content is a "
            f"{'zip (.keras)' if kind == 'keras' else 'HDF5 (.h5)'} file. Rename it to "
            f"{path.stem}{right} if it is a Keras model."
        )
    return kind


def inspect_model_file(path: str | Path, limits: UploadLimits | None = None) -> ModelInspection:
    """Read a ``.keras`` or ``.h5`` file's config without Keras and check every object in it.

    For ``.keras`` this is pure Python (zipfile, json). For ``.h5`` it also parses HDF5 with
    the C library, so for an untrusted file let the isolated worker run it first (as
    :func:`deepling.models.loading.load_model_file` does).

    Raises
    ------
    UnsafeModelError
        The config names code Deepling does not run (Lambda layers, custom or foreign
        classes and functions, switches that disable Keras' safe mode).
    ModelError
        The file is too large, damaged, of another format, or holds no model config.
    """
    path = Path(path)
    limits = limits or UploadLimits.from_env()
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise ModelError(
            f"{path.name} is {size / (1 << 20):.0f} MB; this server accepts model files up to "
            f"{limits.max_upload_bytes / (1 << 20):.0f} MB (DEEPLING_MAX_UPLOAD_MB)."
        )
    kind = check_file_kind(path)
    if kind == "keras":
        config, metadata, notes = _read_keras_zip(path, limits)
        version = metadata.get("keras_version") if isinstance(metadata, dict) else None
    else:
        config, version, notes = _read_h5(path)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ModelError(f"{path.name}: the model config is not a serialised Keras model.")
    layers = check_config(config, path.name)
    return ModelInspection(str(path), kind, str(version) if version is not None else None,
                           config["class_name"], tuple(layers), tuple(notes))


def _read_keras_zip(path: Path, limits: UploadLimits):
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ModelError(
            f"{path.name} is not a readable .keras archive ({exc}); it may be truncated. "
            "Upload the file again or save the model again with model.save('model.keras')."
        ) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > limits.max_members:
            raise ModelError(f"{path.name} holds {len(infos)} entries; a .keras file has 3.")
        names, notes, total = set(), [], 0
        for info in infos:
            problem = _bad_member(info)
            if problem:
                raise UnsafeModelError(f"{path.name}: entry {_short(info.filename)} {problem}; "
                                       "Keras never writes such entries. Save the model "
                                       "again.")
            if info.filename in names:
                raise UnsafeModelError(
                    f"{path.name}: entry {_short(info.filename)} appears twice, so a checker "
                    "and a loader could read different copies. Save the model again."
                )
            names.add(info.filename)
            total += info.file_size
        if total > limits.max_uncompressed_bytes:
            raise ModelError(
                f"{path.name} unpacks to {total / (1 << 20):.0f} MB, more than the "
                f"{limits.max_uncompressed_bytes / (1 << 20):.0f} MB allowed "
                "(DEEPLING_MAX_UNCOMPRESSED_MB); it may be a zip bomb."
            )
        if "config.json" not in names:
            raise ModelError(f"{path.name} has no config.json: it is a zip, but not a Keras "
                             "model saved with model.save('model.keras').")
        if not names & {"model.weights.h5", "model.weights.npz"}:
            raise ModelError(f"{path.name} has no weights (model.weights.h5); save the whole "
                             "model with model.save('model.keras').")
        extra = sorted(n for n in names - {"config.json", "metadata.json", "model.weights.h5",
                                           "model.weights.npz"} if not n.startswith("assets/"))
        if extra:
            notes.append(f"ignored unexpected archive entries: {', '.join(extra[:5])}")
        config = _parse_json(_read_member(zf, "config.json", MAX_CONFIG_BYTES, path),
                             path.name, "config.json")
        metadata = {}
        if "metadata.json" in names:
            metadata = _parse_json(_read_member(zf, "metadata.json", MAX_METADATA_BYTES, path),
                                   path.name, "metadata.json")
    return config, metadata, notes


def _bad_member(info: zipfile.ZipInfo) -> str | None:
    """Why an archive entry's name or type is unacceptable, or None."""
    name = info.filename
    mode = info.external_attr >> 16
    if "\x00" in name or "\\" in name:
        return "has a backslash or NUL in its name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "points outside the archive ('..')"
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is a link or special file"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def _read_member(zf: zipfile.ZipFile, name: str, limit: int, path: Path) -> bytes:
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise ModelError(f"{path.name}: {name} is {info.file_size >> 20} MB; a model config "
                         f"is far smaller (limit {limit >> 20} MB).")
    try:
        with zf.open(info) as f:
            data = f.read(limit + 1)  # declared sizes can lie: bound the read itself
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError,
            NotImplementedError) as exc:
        raise ModelError(f"{path.name}: {name} cannot be read ({exc}); the file may be "
                         "damaged. Save the model again.") from None
    if len(data) > limit:
        raise ModelError(f"{path.name}: {name} is larger than its header says.")
    return data


def _parse_json(data: bytes | str, filename: str, what: str):
    try:
        return json.loads(data)
    except RecursionError:
        raise UnsafeModelError(
            f"{filename}: {what} is nested too deeply to be a model config.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"{filename}: {what} is not valid JSON ({exc}). The file is damaged; "
                         "save the model again.") from None


def _read_h5(path: Path):
    """The ``model_config`` attribute of a Keras HDF5 file. h5py reads attributes as data:
    nothing in the file is unpickled or executed here."""
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            attrs = h5.attrs
            if "model_config" not in attrs:
                raise ModelError(
                    f"{path.name} holds no model config: it is a weights-only file "
                    "(model.save_weights) or not a Keras model. Save the whole model with "
                    "model.save('model.keras') and upload that.")
            raw = attrs["model_config"]
            version = attrs.get("keras_version")
            training = attrs.get("training_config")
            check_h5_storage(h5, path.name)
    except ModelError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, TypeError... on damaged files
        raise ModelError(f"{path.name} is not a readable HDF5 model file ({exc}); it may be "
                         "truncated. Upload it again or save it with "
                         "model.save('model.keras').") from None
    config = _parse_json(_h5_text(raw, path), path.name, "model_config")
    if training is not None:
        # Never used (Deepling loads with compile=False), but checked all the same.
        config = dict(config, training_config=_parse_json(_h5_text(training, path), path.name,
                                                          "training_config"))
    if isinstance(version, bytes):
        version = version.decode("utf-8", "replace")
    return config, version, []


def _h5_text(raw, path: Path) -> str:
    if getattr(raw, "shape", None) == () or getattr(raw, "size", 0) == 1:
        raw = raw.item() if hasattr(raw, "item") else raw  # a 0-d or 1-element array
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raise ModelError(f"{path.name}: model_config is not text; this is not a Keras file.")
    if len(raw) > MAX_CONFIG_BYTES:
        raise ModelError(f"{path.name}: the model config is {len(raw) >> 20} MB, larger than a "
                         "model config can reasonably be.")
    return raw


def check_h5_storage(h5, filename: str, max_objects: int = 200_000) -> None:
    """Refuse HDF5 content that reads other files: external links, datasets stored in
    external raw files, virtual datasets. Loading weights through them would read any file
    on the server (another user's model, a key) into arrays the app then shows."""
    import h5py

    seen, stack = set(), [h5]
    while stack:
        group = stack.pop()
        for key in group:
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise UnsafeModelError(
                    f"{filename}: the HDF5 entry {_short(key)} links to another file "
                    f"({_short(link.filename)}); Keras never writes such links. Save the model "
                    "again with model.save('model.keras').")
            if not isinstance(link, h5py.HardLink):
                continue  # soft links point inside this file; not followed (no cycles)
            obj = group[key]
            oid = hash(obj.id)  # (file, object address): the same object via two hard links
            if oid in seen:
                continue
            seen.add(oid)
            if len(seen) > max_objects:
                raise UnsafeModelError(f"{filename}: more than {max_objects:,} HDF5 objects; "
                                       "no Keras model has that many.")
            if isinstance(obj, h5py.Group):
                stack.append(obj)
            elif isinstance(obj, h5py.Dataset) and (obj.external or obj.is_virtual):
                raise UnsafeModelError(
                    f"{filename}: the HDF5 dataset {_short(obj.name)} takes its data from "
                    "other files on disk, which would make the server read them. Keras never "
                    "writes such datasets; save the model again with model.save('model.keras').")


def check_keras_weights(path: str | Path) -> None:
    """:func:`check_h5_storage` for the weights inside a ``.keras`` archive.

    Parses HDF5, so the isolated worker runs it rather than the server (see
    :mod:`deepling.models.isolation`).
    """
    import h5py

    path = Path(path)
    with zipfile.ZipFile(path) as zf:
        if "model.weights.h5" not in zf.namelist():
            return
        try:
            with zf.open("model.weights.h5") as member, h5py.File(member, "r") as h5:
                check_h5_storage(h5, f"{path.name} (model.weights.h5)")
        except UnsafeModelError:
            raise
        except Exception as exc:
            raise ModelError(f"{path.name}: the weights (model.weights.h5) are not readable "
                             f"({exc}); save the model again.") from None


# --- the config --------------------------------------------------------------------------

def check_config(config: dict, filename: str = "the model") -> list[tuple[str, str]]:
    """Walk the whole config tree; raise :class:`UnsafeModelError` at the first object that is
    not a built-in Keras class, Keras function or plain value. Returns ``(name, class_name)``
    of every layer found.
    """
    classes, functions, layer_classes = allowed_classes(), allowed_functions(), _layer_classes()
    layers: list[tuple[str, str]] = []
    # Iterative walk: a hostile file can nest deeper than Python's recursion limit.
    stack = [(config, 0, "the model", False)]
    while stack:
        node, depth, where, in_compile = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise UnsafeModelError(f"{filename}: the config is nested more than "
                                   f"{MAX_CONFIG_DEPTH} levels deep; no Keras model is.")
        if isinstance(node, str):
            _check_text(node, filename, where)
        elif isinstance(node, list):
            stack.extend((item, depth + 1, where, in_compile) for item in reversed(node))
        elif isinstance(node, dict):
            if "class_name" in node:
                where = _check_object(node, filename, where, in_compile, classes, functions,
                                      layer_classes)
                cls, inner = node["class_name"], node.get("config")
                if cls in layer_classes and isinstance(inner, dict) and node is not config:
                    layers.append((str(inner.get("name", "?")), cls))
            for key, value in reversed(list(node.items())):
                _check_text(key, filename, where)
                if key == "module" and "class_name" not in node and not (
                        value is None or isinstance(value, str) and value in ALLOWED_MODULES):
                    raise UnsafeModelError(
                        f"{filename}: {where} refers to the Python module {_short(value)}. "
                        "A Keras config may only name Keras' own modules; importing others is "
                        "how crafted files run code (CVE-2025-1550). " + _CUSTOM_ADVICE)
                if _CALLABLE_KEY.match(key) and isinstance(value, str) \
                        and not _IDENTIFIER.match(value):
                    raise UnsafeModelError(
                        f"{filename}: {where} sets {_short(key)} to {_short(value)}, which is "
                        "not the name of a Keras function. " + _CUSTOM_ADVICE)
                stack.append((value, depth + 1, where, in_compile or key in _COMPILE_KEYS))
        elif not (node is None or isinstance(node, (bool, int, float))):
            raise UnsafeModelError(f"{filename}: {where} holds a {type(node).__name__}.")
    return layers


def _check_object(node: dict, filename: str, where: str, in_compile: bool,
                  classes: frozenset, functions: frozenset, layer_classes: frozenset) -> str:
    """Check one serialised object; returns how to name it in later messages."""
    cls = node["class_name"]
    module = node.get("module")
    registered = node.get("registered_name")
    inner = node.get("config")
    if not isinstance(cls, str):
        raise UnsafeModelError(f"{filename}: {where} has a non-text class_name "
                               f"{_short(cls)}.")
    label = inner.get("name") if isinstance(inner, dict) else None
    label = label if isinstance(label, str) else node.get("name")  # functional layers
    if isinstance(label, str) and cls not in _DATA_MARKERS and cls != "function":
        where = f"{'layer ' if cls in layer_classes else ''}'{label[:80]}' ({cls[:80]})"
    advice = _CUSTOM_ADVICE
    if in_compile:
        advice = ("It is part of the saved training settings, which Deepling does not need: "
                  "save the model without them (build it again or use "
                  "keras.models.clone_model, copy the weights, and save without compiling).")

    if isinstance(module, str) and module.startswith(_APPLICATIONS_PACKAGE + ".") \
            and cls in application_layers().get(module, ()) and registered in (None, cls):
        return where  # a layer Keras ships for keras.applications
    modules = _FUNCTION_MODULES if cls == "function" else ALLOWED_MODULES
    if module is not None and not (isinstance(module, str) and module in modules):
        target = f"{module}.{inner if cls == 'function' else cls}"
        raise UnsafeModelError(
            f"{filename}: {where} refers to {_short(target)} from the Python module "
            f"{_short(module)}. A Keras config may only name Keras' own modules; naming others "
            "is how crafted files run code (CVE-2025-1550). " + advice)
    if cls in DENIED_CLASSES:
        raise UnsafeModelError(
            f"{filename}: {where} is a {cls} layer, which Deepling refuses because "
            f"{DENIED_CLASSES[cls]}. Replace the {cls} layer with a built-in layer and save "
            "again, or load this model in your own Python session."
        )
    if cls.startswith("__"):
        if cls in _DATA_MARKERS:
            return where
        raise UnsafeModelError(
            f"{filename}: {where} contains a serialised Python object of kind {_short(cls)}"
            + (" (Python bytecode)" if "lambda" in cls or "function" in cls else "")
            + ". Deepling does not load code from files. " + advice)
    if cls == "function":
        name = inner
        if not isinstance(name, str) or module not in _FUNCTION_MODULES \
                or name not in functions or registered not in (None, "function", name):
            shown = _short(f"{module}.{name}" if module else name)
            raise UnsafeModelError(
                f"{filename}: {where} refers to the function {shown}. Only Keras' activation, "
                "loss and metric functions may appear in a model file: naming other functions "
                "(even Keras' own, such as keras.config.enable_unsafe_deserialization or "
                "keras.utils.get_file) is how crafted files run code. " + advice)
        return where
    if module in _OP_MODULES:
        if cls not in allowed_operations()[module] or registered not in (None, cls):
            raise UnsafeModelError(
                f"{filename}: {where} calls the operation {_short(module + '.' + cls)}, which "
                "Deepling does "
                "not allow (unknown, or it takes Python functions). " + advice)
        return where
    if in_compile and cls.startswith("Custom>") and cls[len("Custom>"):] in classes:
        return where  # TF 2.11-2.15 wrote built-in optimizers as "Custom>Adam"
    if cls not in classes:
        raise UnsafeModelError(
            f"{filename}: {where} uses the class {_short(cls)}"
            + (f" from module {_short(module)}" if module else "")
            + ", which is not a built-in Keras class (a custom layer or object). " + advice)
    if registered not in (None, cls):
        raise UnsafeModelError(
            f"{filename}: {where} is registered as the custom object {_short(registered)}, "
            f"not the built-in {cls}. " + advice)
    return where


def _short(value) -> str:
    """repr() of text from the file, cut short: messages must stay readable."""
    text = repr(value)
    return text if len(text) <= 100 else text[:96] + "...'"


def _check_text(text: str, filename: str, where: str) -> None:
    lowered = text.lower()
    for word in _FORBIDDEN_TEXT:
        if word in lowered:
            raise UnsafeModelError(
                f"{filename}: {where} mentions {word!r}. A model file has no reason to touch "
                "Keras' safety settings; crafted files do this to run code (CVE-2025-9906). "
                "Deepling will not load it.")
