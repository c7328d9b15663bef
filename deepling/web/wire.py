"""The wire format: what the server sends the WebGL layer view, compact typed arrays,
base64 in JSON or binary (the one Python ↔ JavaScript contract, :data:`ENCODING`).

10,000 points × 20 layers as JSON lists of floats would be ~8 MB of text and slow to parse;
positions are quantised to uint16 over the shared [-1, 1] viewport and travel as base64,
~0.8 MB for that case, which the GPU then reads as they are. ``ENCODING`` below is the one
definition of dtypes, scales and codes; ``Deepling.unpack`` in ``assets/layer_scatter_2_payload.js``
reads it from each payload. The app sends big point sets apart from the JSON
(:func:`binary_payload`): the page fetches one binary body (``deepling/web/payload_bytes.py``)
and views the arrays in it without decoding or copying them, which keeps the page
responsive at 60,000 points; the report and the notebook keep everything in one JSON.

Two things are for the eye only (the CSV export and the API keep the layouts as computed):
the view is fitted to the bulk of the points (:func:`fit_view`), and the points are sent
in a fixed shuffled order, because WebGL draws in buffer order and class-sorted points
would bury every class under the next one.
"""

from __future__ import annotations

import base64

import numpy as np

from deepling.web.views.common import palette_rgb

# The contract with assets/layer_scatter_2_payload.js (``Deepling.unpack``), defined here only: every
# array travels little-endian, base64 in the JSON or in one binary body (``binary``: its url
# and each array's [byte offset, count], offsets multiples of 8), with its dtype, scale and
# codes in ``encoding``, so the browser reads them from the payload instead of repeating them. Positions are uint16 over
# the shared [-1, 1] viewport (x = q · scale + offset, a step of 3e-5 of the view, far below a
# pixel), which is also the renderer's own format: the GPU reads them as they arrive.
QUANT_LEVELS = 65535
# Class indices travel as uint16, so any classifier fits (an ImageNet head's 1,000 classes, and
# more): 2 bytes a point, 120 kB for 60,000 points.
UNKNOWN = 65535  # a label or prediction that is not known (−1 in a Dataset)
MAX_CLASSES = UNKNOWN  # class indices 0..65534 fit beside the unknown code
ENCODING = {
    "positions": {"dtype": "uint16", "scale": 2.0 / QUANT_LEVELS, "offset": -1.0,
                  "shape": "nLayers × n × 2, layer-major, x then y"},
    "indices": {"dtype": "int32"},
    "labels": {"dtype": "uint16", "unknown": UNKNOWN},
    "predicted": {"dtype": "uint16", "unknown": UNKNOWN},
    "confidence": {"dtype": "uint8", "scale": 1.0 / 255},
}
_NUMPY = {"uint8": "<u1", "uint16": "<u2", "int32": "<i4", "float32": "<f4"}


def b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def unb64(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=dtype)


def decode(payload: dict, name: str) -> np.ndarray:
    """A base64 payload's array as :func:`payload_arrays` made it (positions as floats)."""
    e = ENCODING[name]
    raw = unb64(payload[name], _NUMPY[e["dtype"]])
    if "offset" in e or "scale" in e:
        return raw.astype(np.float32) * np.float32(e.get("scale", 1.0)) + np.float32(e.get("offset", 0.0))
    return raw


def quantise(layouts: np.ndarray) -> np.ndarray:
    """float positions in [-1, 1] → uint16 (little-endian, as JS typed arrays read it)."""
    e = ENCODING["positions"]
    q = np.rint((np.clip(layouts, -1.0, 1.0) - e["offset"]) / e["scale"])
    return q.astype("<u2")


def dequantise(q: np.ndarray) -> np.ndarray:
    e = ENCODING["positions"]
    return q.astype(np.float32) * np.float32(e["scale"]) + np.float32(e["offset"])


def class_codes(classes) -> np.ndarray:
    """Class indices as uint16: −1 (or any negative: not known) becomes ``UNKNOWN``."""
    classes = np.asarray(classes)
    if classes.size and classes.max() >= MAX_CLASSES:
        raise ValueError(f"The layer animation shows at most {MAX_CLASSES} classes; this data "
                         f"has class {int(classes.max())}.")
    return np.where(classes < 0, UNKNOWN, classes).astype(np.uint16)


# Radius of each frame below which the bulk of its points lies...
BULK_QUANTILE = 0.99
# ...and where it is drawn: inside, positions are one scale factor of the layout; beyond,
# radii are compressed smoothly into the rim (order kept), so a few far points do not
# shrink a frame to a dot in the middle of the view.
LINEAR_RADIUS = 0.85


def fit_view(layouts: np.ndarray) -> np.ndarray:
    """Layouts (frames × N × 2, centred) scaled so each frame's bulk fills the view.

    Each layer's scale is arbitrary (Pivot MDS layouts are normalised per layer anyway), so
    each frame gets its own factor, putting its ``BULK_QUANTILE`` radius at
    ``LINEAR_RADIUS``; a radius ``u`` beyond it becomes ``LINEAR_RADIUS + rim · x / (x + rim)``
    with ``x = u − LINEAR_RADIUS`` and ``rim = 1 − LINEAR_RADIUS``: continuous with slope 1,
    always below 1, and slow enough to saturate that far points keep their order.
    """
    layouts = np.asarray(layouts, dtype=np.float64)
    radius = np.hypot(layouts[..., 0], layouts[..., 1])
    if radius.size == 0:
        return layouts.astype(np.float32)
    bulk = np.quantile(radius, BULK_QUANTILE, axis=-1, keepdims=True)
    # a collapsed frame (every point at the centre) stays there
    u = np.divide(radius * LINEAR_RADIUS, bulk, out=np.zeros_like(radius), where=bulk > 0)
    rim = 1.0 - LINEAR_RADIUS
    x = np.maximum(u - LINEAR_RADIUS, 0.0)
    fitted = np.where(u <= LINEAR_RADIUS, u, LINEAR_RADIUS + rim * x / (x + rim))
    factor = np.divide(fitted, radius, out=np.zeros_like(radius), where=radius > 0)
    return (layouts * factor[..., None]).astype(np.float32)


def draw_order(n: int) -> np.ndarray:
    """A fixed shuffle of ``n`` points: the same images are always drawn in the same order."""
    return np.random.default_rng(0).permutation(n)


# Thumbnails travel as one JPEG atlas per image set, tile i = point i in draw order, at most
# ATLAS_SIDE px square (16 MB as an RGBA texture): 32-px tiles up to 4,096 images, 16 px up
# to 16,384, 8 px up to 65,536 (the renderer's tile limit).
ATLAS_SIDE = 2048
ATLAS_TILES = (32, 16, 8)


def atlas_layout(n: int) -> dict | None:
    """``{"tile", "columns", "rows"}`` of the thumbnail atlas for ``n`` points; None if too many."""
    for tile in ATLAS_TILES:
        columns = max(1, int(np.ceil(np.sqrt(n))))
        if columns * tile <= ATLAS_SIDE:
            return {"tile": tile, "columns": columns, "rows": max(1, -(-n // columns))}
    return None


def thumbnail_atlas(images: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """uint8 N×H×W×C images → the H'×W'×3 atlas :func:`atlas_layout` describes.

    Images are shrunk to the tile by block means when the sizes divide (CIFAR-10's 32 px
    to 16 or 8), else resized with Pillow; in chunks, so 60,000 images never need a float
    copy of them all.
    """
    from PIL import Image

    n, h, w = images.shape[:3]
    spec = atlas_layout(n)
    if spec is None:
        raise ValueError(f"{n:,} images are too many for a thumbnail atlas (at most 65,536).")
    tile, cols = spec["tile"], spec["columns"]
    out = np.full((spec["rows"] * tile, cols * tile, 3), 255, np.uint8)
    for start in range(0, n, chunk):
        part = images[start:start + chunk]
        if part.shape[-1] == 1:
            part = np.repeat(part, 3, axis=-1)
        part = part[..., :3]
        if h == w and h % tile == 0:
            f = h // tile
            small = part.reshape(len(part), tile, f, tile, f, 3).mean(axis=(2, 4))
            small = np.rint(small).astype(np.uint8)
        else:
            small = np.stack([np.asarray(Image.fromarray(im).resize((tile, tile), Image.BILINEAR))
                              for im in part])
        for j, im in enumerate(small, start):
            r, c = divmod(j, cols)
            out[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] = im
    return out


def payload_arrays(sequence, indices, labels, predicted, confidence) -> dict[str, np.ndarray]:
    """The per-point arrays of a payload, in draw order, each in its ``ENCODING`` dtype.

    Parameters
    ----------
    sequence : deepling.projection.LayerSequence
    indices : (N,) dataset indices of the points (for thumbnails and selection).
    labels, predicted : (N,) class indices, −1 where not known; confidence : (N,) in [0, 1].
    """
    layouts = np.asarray(sequence.layouts, dtype=np.float32)
    order = draw_order(layouts.shape[1])
    arrays = {
        "positions": quantise(fit_view(layouts)[:, order]),
        "indices": np.asarray(indices)[order],
        "labels": class_codes(labels)[order],
        "predicted": class_codes(predicted)[order],
        "confidence": np.rint(np.asarray(confidence)[order] * 255),
    }
    return {k: np.ascontiguousarray(np.asarray(v).astype(_NUMPY[ENCODING[k]["dtype"]], copy=False))
            for k, v in arrays.items()}


def sequence_payload(sequence, indices, labels, predicted, confidence, class_names,
                     data_key: str) -> dict:
    """The layer sequence plus per-point facts for colouring, marking and tooltips, in one JSON.

    Parameters as :func:`payload_arrays`, and
    class_names : the dataset's class names.
    data_key : str
        ``"<model_id>/<data_id>"``, the path under which thumbnails are served.
    """
    arrays = payload_arrays(sequence, indices, labels, predicted, confidence)
    return {**payload_meta(sequence, class_names, data_key), **{k: b64(v) for k, v in arrays.items()}}


def binary_layout(n: int, n_layers: int) -> dict[str, list[int]]:
    """Each array's [byte offset, count] in the binary body, in ``ENCODING`` order."""
    counts = {"positions": n_layers * n * 2, "indices": n, "labels": n, "predicted": n,
              "confidence": n}
    layout, offset = {}, 0
    for name in ENCODING:
        layout[name] = [offset, counts[name]]
        size = counts[name] * np.dtype(_NUMPY[ENCODING[name]["dtype"]]).itemsize
        offset += -(-size // 8) * 8   # the next array starts aligned for any typed-array view
    return layout


def pack(arrays: dict[str, np.ndarray]) -> bytes:
    """The binary body of a payload: the arrays where :func:`binary_layout` puts them."""
    n_layers = arrays["positions"].size // max(1, 2 * arrays["labels"].size)
    layout = binary_layout(arrays["labels"].size, n_layers)
    end = max(o + arrays[k].nbytes for k, (o, _) in layout.items())
    body = bytearray(-(-end // 8) * 8)
    for name, (offset, count) in layout.items():
        data = arrays[name].tobytes()
        assert len(data) == count * arrays[name].itemsize, name
        body[offset:offset + len(data)] = data
    return bytes(body)


def payload_url(model_id: str, data_id: str, key: str) -> str:
    """Where the page fetches a projection's point arrays (``deepling/web/payload_bytes.py``)."""
    return f"/api/payload/{model_id}/{data_id}/{key}.bin"


def binary_payload(sequence, class_names, data_key: str, url: str) -> dict:
    """The JSON part of a payload whose arrays the page fetches from ``url`` (:func:`pack`)."""
    meta = payload_meta(sequence, class_names, data_key)
    meta["binary"] = {"url": url, "arrays": binary_layout(meta["n"], meta["nLayers"])}
    return meta


def payload_meta(sequence, class_names, data_key: str) -> dict:
    """Everything of a payload but its per-point arrays: layers, classes, encoding."""
    n_layers, n = len(sequence.names), int(np.shape(sequence.layouts)[1])
    layers = []
    for i in range(n_layers):
        layer = {"name": sequence.names[i], "type": sequence.types[i],
                 "shape": [int(s) for s in sequence.shapes[i]],
                 "collapsed": bool(sequence.collapsed[i])}
        if i > 0:  # how this layer was turned onto the previous one
            layer.update(mirrored=bool(sequence.mirrored[i - 1]),
                         rotation=_num(sequence.rotation_deg[i - 1], 1),
                         residualBefore=_num(sequence.residual_before[i - 1], 4),
                         residualAfter=_num(sequence.residual_after[i - 1], 4))
        layers.append(layer)
    return {
        "n": n, "nLayers": int(n_layers), "layers": layers, "encoding": ENCODING,
        "classNames": list(class_names), "palette": palette_rgb(len(class_names)),
        "warnings": list(sequence.warnings), "dataKey": data_key, "atlas": atlas_layout(n),
    }


def _num(value, digits):
    """JSON has no NaN: a missing diagnostic is null."""
    value = float(value)
    return None if not np.isfinite(value) else round(value, digits)


def shown_names(output_names, label_names=None) -> tuple[list[str], int]:
    """The names a payload carries and the code offset of its predictions.

    Where the data's labels are not the model's outputs (``label_names`` given), both are
    listed, labels first and outputs as "output k", and predicted codes are shifted past the
    labels: the legend, colours and tooltips then name each in its own terms, and a label
    never counts as the same class as a prediction."""
    if not label_names:
        return list(output_names), 0
    outputs = [f"output {n}" if str(n).isdigit() else str(n) for n in output_names]
    return [*label_names, *outputs], len(label_names)
