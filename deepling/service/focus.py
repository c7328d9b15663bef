"""The image the user is looking at, the what-if version of it, and its strip.

Every view that shows "the image in focus" goes through here, so a dataset image, an
uploaded picture and an edited image mean the same thing in the strip, the what-if panel
and the testing views.
"""

from __future__ import annotations

import base64

import numpy as np

from deepling.data.images import decode_image, encode_png
from deepling.methods import Channel, adversarial_strip, apply_edits, fgsm
from deepling.service import schema


def focused_image(workspace, rendered: dict, focus, picture: dict | None = None):
    """(pixels, true label or None, caption) for the ``focus`` store or an uploaded picture.

    ``picture`` is ``{"png": base64 PNG, "name": str}`` (the strip view's upload), already
    checked when it was taken.
    """
    m, d = schema.identifier(rendered["model"], "model"), schema.identifier(rendered["data"], "data")
    if picture:
        h, w, c = workspace.model(m).input_shape
        if not isinstance(picture, dict) or not isinstance(picture.get("png"), str):
            raise schema.InputError("The picture store must be {\"png\": <base64 PNG>, \"name\": ...}.")
        # The store holds the picture at the model's input size (picture_from_upload made
        # it): a larger one was forged, and is refused from its header before decoding.
        pixels = decode_image(base64.b64decode(picture["png"], validate=True), size=(h, w),
                              channels=c, max_pixels=max(h * w, 64 * 64))
        return pixels, None, str(picture.get("name") or "picture")[:120]
    ds = workspace.dataset(m, d)
    i = min(schema.integer(focus or 0, "focus", 0, schema.MAX_INDEX), len(ds) - 1)
    label = int(ds.labels[i])
    return ds.images[i], (label if label >= 0 else None), f"image #{i}"


def edited_image(adapter, pixels: np.ndarray, label, whatif: dict | None) -> np.ndarray:
    """Apply a what-if spec ``{"edits": <apply_edits dict>, "fgsm": ε}``: the edits, then
    an FGSM step of ε pixel levels against the true class (else the predicted one)."""
    whatif = schema.whatif(whatif) or {}  # it comes back from the browser: capped here
    out = apply_edits(pixels, whatif.get("edits"))
    epsilon = float(whatif.get("fgsm") or 0)
    if epsilon:
        target = label if label is not None else int(adapter.predict_proba(out[None]).argmax())
        out = fgsm(adapter, out, target, epsilon)
    return out


def is_identity(whatif: dict | None) -> bool:
    return not whatif or (not whatif.get("edits") and not whatif.get("fgsm"))


def picture_from_upload(adapter, raw: bytes, filename: str | None, max_pixels: int | None = None) -> dict:
    """An uploaded picture, decoded to the model's input size, as the ``picture`` store
    keeps it: ``{"png": base64 PNG, "name"}``; ImageDecodeError when it is no image or has
    more than ``max_pixels`` (the uploads' ``DEEPLING_MAX_IMAGE_PIXELS``)."""
    h, w, c = adapter.input_shape
    pixels = decode_image(raw, size=(h, w), channels=c, max_pixels=max_pixels)
    return {"png": base64.b64encode(encode_png(pixels)).decode("ascii"),
            "name": filename or "uploaded picture"}


def whatif_spec(brightness, hue, rotate, blur, flips, patch_size, patch_at) -> dict:
    """The what-if controls as deepling.methods.apply_edits reads them (identity values
    left out)."""
    spec = {}
    if brightness not in (None, 1, 1.0):
        spec["brightness"] = {"factor": float(brightness)}
    for name, value in (("hue", hue), ("rotate", rotate), ("blur", blur)):
        if value:
            spec[name] = float(value)
    flips = flips or []
    if flips:
        spec["flip"] = "both" if len(flips) == 2 else flips[0]
    if patch_at and patch_size:
        spec["occlude"] = {"x": int(patch_at[0]), "y": int(patch_at[1]), "size": int(patch_size),
                           "fill": "gray"}
    return spec


def whatif(adapter, pixels: np.ndarray, label, whatif: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(edited image, probabilities before, after); ValueError when an edit cannot apply."""
    edited = edited_image(adapter, pixels, label, whatif)
    before, after = adapter.predict_proba(np.stack([pixels, edited]))
    return edited, before, after


def strip_layers(adapter) -> list[str]:
    """Layers whose channels a strip can aim at: dense (N×C) and map (N×H×W×C) outputs."""
    return [layer.name for layer in adapter.model.layers[1:]
            if len(getattr(layer.output, "shape", ())) in (2, 4)]


def run_strip(workspace, rendered, focus, picture, kind, cls, layer, channel, steps, step_size,
              max_change):
    """(strip, class names, true label or None) of the image in focus, from the strip
    view's controls; ValueError for a bad target or nothing to aim at."""
    m, d = rendered["model"], rendered["data"]
    adapter, names = workspace.model(m), workspace.class_names(m, d)
    pixels, label, _ = focused_image(workspace, rendered, focus, picture)
    knobs = schema.strip_settings(steps, step_size, max_change, channel)  # each step: a pass
    if kind == "channel":
        target = Channel(str(layer), knobs["channel"])
    elif cls in (None, "auto"):
        target = None
        pred = int(adapter.predict_proba(pixels[None])[0].argmax())
        if label is None or label == pred:
            raise ValueError("This image is classified correctly (or has no label): pick a "
                             "target class to push it towards, or a neuron.")
    else:
        target = int(cls)
    strip = adversarial_strip(adapter, pixels, target, label=label, n_frames=8,
                              steps=knobs["steps"], step_size=knobs["step_size"] or 1.0,
                              max_change=knobs["max_change"])
    return strip, names, label
