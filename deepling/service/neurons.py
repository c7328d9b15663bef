"""The Neurons view's data: one :class:`~deepling.neurons.NeuronAtlas` per model and data.

Mining reads every image of the dataset, so it runs as the work kind :data:`ATLAS`
(``neurons``, see :mod:`deepling.service.work`); its result goes to the disk cache under a key made of
the model's and the data's fingerprints and the mining parameters, where every later page
(and every server process) finds it.
"""

from __future__ import annotations

import numpy as np

from deepling.service import schema
from deepling.service.cache import cache_key
from deepling.service.work import Kind

# Bump when the atlas's arrays change meaning: old cache entries are then ignored.
VERSION = 1
PARAMS = {"min_support": 5, "min_length": 2, "closed": True}


def atlas_key(workspace, model_id: str, data_id: str) -> str:
    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    return cache_key("neurons", VERSION, adapter.fingerprint, adapter.input_key,
                     ds.fingerprint, PARAMS)


def cached_atlas(workspace, model_id: str, data_id: str):
    """The atlas if it was computed already, else None (never computes in the caller)."""
    return load_atlas(workspace, atlas_key(workspace, model_id, data_id))


def load_atlas(workspace, key: str):
    """The atlas stored under ``key``, or None."""
    from deepling.neurons import NeuronAtlas

    arrays = workspace.cache("neurons").get(key)
    return None if arrays is None else NeuronAtlas.from_arrays(arrays)


def compute_atlas(workspace, model_id: str, data_id: str, progress=None):
    """Mine the dataset (or read the cache): the body of the ``neurons`` task."""
    from deepling.neurons import NeuronAtlas, neuron_atlas

    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    key = atlas_key(workspace, model_id, data_id)
    arrays = workspace.cache("neurons").get_or_compute(
        key, lambda: neuron_atlas(adapter, ds.images, ds.labels, n_classes=ds.n_classes,
                                  progress=progress, **PARAMS).to_arrays())
    return NeuronAtlas.from_arrays(arrays)


ATLAS = Kind("neurons", check=lambda ws, p: schema.model_data(p, "the neuron atlas"),
             key=lambda ws, p: atlas_key(ws, p["model"], p["data"]),
             compute=lambda ws, p, progress: compute_atlas(ws, p["model"], p["data"], progress),
             load=load_atlas)


def strip_target(workspace, model_id: str, data_id: str, focus, units, images):
    """Which image and unit a pattern's one-click strip shows: the deepest of ``units``
    (``[(layer, unit), …]``, shallow to deep) whose gradient is not zero on the image in
    focus, else on one of the pattern's ``images`` (which fire its units). Returns
    ``(image index, (layer, unit) or None, note)``; the note says what was chosen and why,
    or why no strip can be made."""
    from deepling.methods import Channel, live_target

    adapter, ds = workspace.model(model_id), workspace.dataset(model_id, data_id)
    targets = [Channel(layer, int(unit)) for layer, unit in reversed(list(units))]
    tried = ([int(focus)] if focus is not None else []) + \
        [int(i) for i in list(images)[:3] if focus is None or int(i) != int(focus)]
    for i in tried:
        target = live_target(adapter, ds.images[i], targets)
        if target is not None:
            note = "" if i == focus else (f"none of its units has a gradient on image #{focus}, so "
                                          f"the strip starts from #{i}, one of the pattern's images")
            return i, (target.layer, int(target.channel)), note
    return focus, None, (f"no strip: none of its units has a gradient on image #{focus} or on "
                         "the pattern's first images (they do not fire there)")


def projected_layer(atlas, unit: dict | None, current: str | None) -> str:
    """The layer the Neurons view projects: the selected unit's, else the one shown, else the
    widest convolution (the widest layer in a model without one)."""
    if unit and unit.get("layer") in atlas.names:
        return unit["layer"]
    if current in atlas.names:
        return current
    return max(atlas.layers, key=lambda l: (l.type.startswith("Conv"), l.width)).name


def selected_unit(atlas, unit: dict | None):
    """(layer index, unit) of the page's selected unit (``{"layer", "unit"}``) when the atlas
    has it, else None."""
    if not unit or unit.get("layer") not in atlas.names:
        return None
    li = atlas.names.index(unit["layer"])
    u = int(unit["unit"])
    return (li, u) if 0 <= u < atlas.layers[li].width else None


def sent_images(atlas, pattern: int, unit: dict | None):
    """What a Send button of the Neurons view sends: ``(units, images)`` of pattern ``pattern``
    (≥ 0), else of the selected unit (the images of its paths, or its top images when it is
    on fewer than two); None when there is neither."""
    if pattern >= 0:
        return atlas.patterns.items(pattern), atlas.patterns.images(pattern)
    if selected_unit(atlas, unit) is None:
        return None
    units = [(unit["layer"], int(unit["unit"]))]
    images = atlas.path_images(*units[0])
    if len(images) < 2:  # a unit on no path: its top images instead
        images = atlas.layer(units[0][0]).top_images[units[0][1]]
    return units, images


def sample_sent(images, most: int):
    """At most ``most`` of ``images`` (the same ones every time), sorted."""
    return np.sort(np.random.default_rng(0).permutation(images)[:most])
