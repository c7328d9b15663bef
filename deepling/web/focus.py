"""The image the user is looking at, and the what-if version of it.

Every view that shows "the image in focus" goes through here, so a dataset image, an
uploaded picture and an edited image mean the same thing in the strip, the what-if panel
and the testing views.
"""

from __future__ import annotations

import base64

import numpy as np

from deepling.data.images import decode_image
from deepling.methods import apply_edits, fgsm
from deepling.service import schema


def focused_image(workspace, rendered: dict, focus, picture: dict | None = None):
    """(pixels, true label or None, caption) for the ``focus`` store or an uploaded picture.

    ``picture`` is ``{"png": base64 PNG, "name": str}`` (the strip view's upload), already
    checked when it was taken.
    """
    m, d = rendered["model"], rendered["data"]
    if picture:
        h, w, c = workspace.model(m).input_shape
        pixels = decode_image(base64.b64decode(picture["png"]), size=(h, w), channels=c)
        return pixels, None, picture["name"]
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
