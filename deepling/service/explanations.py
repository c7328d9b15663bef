"""What the testing view computes: the confidence embedding and one image's explanations.

Both take well under a second once the model's functions are traced, so the page's
callbacks call them directly; the embedding's layout is kept in the disk cache by content.
"""

from __future__ import annotations

import numpy as np

from deepling.evaluation import image_robustness, stratified_sample
from deepling.methods import attribute, default_gradcam_layer
from deepling.methods.gradcam import spatial_layers
from deepling.models import as_adapter
from deepling.projection.activations import penultimate_layer
from deepling.service.attributions import map_curves, method_params
from deepling.service.focus import edited_image, focused_image, is_identity
from deepling.service.projections import cached_sequence

EMBED_DEFAULT = 500   # images in the embedding when the animation has chosen none
EMBED_MAX = 2000      # above this the embedding subsamples: it is an SVG scatter, not WebGL
SEED = 0


def embedding_indices(labels, chosen: np.ndarray | None) -> tuple[np.ndarray, str]:
    """The images to lay out: the animation's (``chosen``), else a stratified sample.

    Returns the sorted dataset indices and a phrase saying where they came from.
    """
    idx, source = chosen, "the layer animation's images"
    if idx is None:
        source = "a stratified sample"
        if (labels >= 0).any():
            idx = stratified_sample(labels, EMBED_DEFAULT, SEED)
        else:
            idx = np.random.default_rng(SEED).permutation(len(labels))[:EMBED_DEFAULT]
    if len(idx) > EMBED_MAX:
        keep = np.random.default_rng(SEED).choice(len(idx), EMBED_MAX, replace=False)
        idx, source = idx[keep], f"{EMBED_MAX:,} of the layer animation's {len(idx):,} images"
    return np.sort(idx), source


def animation_images(projections, model_id: str, data_id: str, choice: dict | None):
    """The dataset indices of the animation's choice, or None without a (valid) one."""
    if not choice:
        return None
    try:
        return projections.choose(model_id, data_id, choice)[1]
    except ValueError:
        return None  # the animation reports a bad choice itself; show a sample meanwhile


def compute_embedding(store, model, images) -> tuple[str, np.ndarray]:
    """(layer name, N×2 layout) of the penultimate layer: the model's last features."""
    layer = penultimate_layer(model)
    return layer, cached_sequence(store, model, images, layers=[layer]).layout(layer)


def gradcam_layers(model) -> tuple[list[str], str | None]:
    """The layers Grad-CAM can explain, and the one to start with."""
    layers = spatial_layers(model)
    try:
        return layers, default_gradcam_layer(model)
    except ValueError:
        return layers, layers[-1] if layers else None


def explain_image(model, image, layer: str | None, target: int | None,
                  methods=("gradcam", "saliency", "occlusion")) -> tuple[dict, np.ndarray]:
    """The ``methods``' maps (:data:`~deepling.methods.ATTRIBUTIONS` names) for one image,
    and its class probabilities.

    A method that fails gives its error instead of a map: a model can suit one method and
    not another (no spatial layer for Grad-CAM, say), so each failure is shown in its own
    panel instead of blanking the row.
    """
    out = {}
    for name in methods:
        try:
            out[name] = attribute(model, image, name, target=target, layer=layer,
                                  **method_params(name, np.shape(image)))
        except ValueError as exc:
            out[name] = exc
    return out, as_adapter(model).predict_proba(np.asarray(image)[None])[0]


def image_curves(model, image, label: int | None) -> tuple[dict, int]:
    """The image's robustness curves (:func:`~deepling.evaluation.image_robustness`) for
    its true class, or for the class the model predicts when the label is unknown; and
    that class."""
    target = label if label is not None else \
        int(as_adapter(model).predict_proba(np.asarray(image)[None]).argmax())
    return image_robustness(model, image, target), int(target)


def embedding(workspace, projections, model_id: str, data_id: str, choice: dict | None):
    """The testing view's confidence embedding: ``(indices, source, layer, layout)`` of the
    animation's images (or a sample) at the penultimate layer; ValueError when there are
    fewer than 2 images or the layer cannot be laid out."""
    ds = workspace.dataset(model_id, data_id)
    chosen = animation_images(projections, model_id, data_id, choice)
    idx, source = embedding_indices(ds.labels, chosen)
    if len(idx) < 2:
        raise ValueError("The embedding needs at least 2 images.")
    layer, layout = compute_embedding(workspace.cache("projections"), workspace.model(model_id),
                                      ds.images[idx])
    return idx, source, layer, layout


def explain_focus(workspace, rendered: dict, focus, picture, layer, target, methods, whatif):
    """The image in focus (or the uploaded picture) explained by ``methods``, and its edited
    copy when ``whatif`` edits it.

    Returns ``(label, rows, problem)``: the image's true label (None: unknown), rows
    ``[(which, caption, pixels, maps, probabilities, curves)]`` with ``which`` "image" or
    "edited", and the what-if's error message when its edits cannot be applied (else None).
    """
    adapter = workspace.model(rendered["model"])
    pixels, label, caption = focused_image(workspace, rendered, focus, picture)

    def row(which, title, image):
        maps, probs = explain_image(adapter, image, layer, target, methods)
        return which, title, image, maps, probs, map_curves(adapter, image, maps)

    rows, problem = [row("image", caption, pixels)], None
    if not is_identity(whatif):
        try:
            edited = edited_image(adapter, pixels, label, whatif)
        except ValueError as exc:
            problem = str(exc)
        else:
            rows.append(row("edited", "edited", edited))
    return label, rows, problem
