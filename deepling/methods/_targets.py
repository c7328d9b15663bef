"""What a method optimises or explains: a class, or one channel of a layer.

Callers may say ``3``, ``Channel("conv3b", 17)``, ``{"layer": "conv3b", "channel": 17}`` or
``("conv3b", 17)``; :func:`resolve_target` turns all of them into an ``int`` or a
:class:`Channel` and checks them against the model, so every method reports bad input the
same way.

Every bad target raises ValueError (never TypeError), so callers catch one exception type.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral


@dataclass(frozen=True)
class Channel:
    """One channel (feature map, or unit of a dense layer) of a named layer.

    Parameters
    ----------
    layer : str
        The layer's name, as in ``model.get_layer(name)``.
    channel : int
        Index along the layer output's last axis.
    """

    layer: str
    channel: int

    def __str__(self) -> str:
        return f"{self.layer} channel {self.channel}"


def describe_target(target: int | Channel) -> str:
    """Short words for a resolved target: ``'class 3'`` or ``'conv3b channel 17'``."""
    return str(target) if isinstance(target, Channel) else f"class {target}"


def resolve_target(target, model, n_classes: int) -> int | Channel:
    """Normalise ``target`` to a class index or a :class:`Channel` valid for ``model``.

    Raises
    ------
    ValueError
        Unknown form, class out of range, no such layer, or channel out of range.
    """
    if isinstance(target, bool):  # bool is an Integral: refuse it explicitly
        raise ValueError(f"Target {target!r} is not a class index or a channel.")  # noqa: TRY004
    if isinstance(target, Integral):
        index = int(target)
        if not 0 <= index < n_classes:
            raise ValueError(
                f"Class {index} is out of range: the model has {n_classes} classes (0..{n_classes - 1})."
            )
        return index
    if isinstance(target, dict):
        unknown = set(target) - {"layer", "channel"}
        if unknown or "layer" not in target or "channel" not in target:
            raise ValueError(
                f"A channel target is {{'layer': name, 'channel': index}}; got keys {sorted(target)}."
            )
        target = Channel(target["layer"], target["channel"])
    elif isinstance(target, tuple) and len(target) == 2 and isinstance(target[0], str):
        target = Channel(*target)
    if not isinstance(target, Channel):
        raise ValueError(  # noqa: TRY004
            f"Target {target!r} is neither a class index nor a channel; pass an int, "
            "Channel(layer, channel) or {'layer': ..., 'channel': ...}."
        )
    layer = find_layer(model, target.layer)
    width = layer_width(layer)
    channel = target.channel
    if isinstance(channel, bool) or not isinstance(channel, Integral):
        raise ValueError(f"Channel index must be an int, got {channel!r}.")  # noqa: TRY004
    if not 0 <= int(channel) < width:
        raise ValueError(
            f"Channel {channel} is out of range: layer '{layer.name}' has {width} channels "
            f"(0..{width - 1})."
        )
    return Channel(layer.name, int(channel))


def find_layer(model, name: str):
    """``model.get_layer(name)`` with a message that lists what exists."""
    names = [layer.name for layer in model.layers]
    if name not in names:
        shown = ", ".join(names if len(names) <= 30 else names[:15] + ["..."] + names[-10:])
        raise ValueError(f"The model has no layer named {name!r}. Layers: {shown}.")
    return model.get_layer(name)


def layer_output(layer):
    """The layer's symbolic output, or a ValueError when it has none or several."""
    try:
        return layer.output
    except (AttributeError, ValueError) as exc:
        raise ValueError(
            f"Layer '{layer.name}' has no single output tensor to read ({exc}). Deepling reads "
            "inner layers of functional and Sequential models whose layers are used once."
        ) from None


def layer_width(layer) -> int:
    """Number of channels (last axis) of a layer's output."""
    shape = layer_output(layer).shape
    if len(shape) < 2 or shape[-1] is None:
        raise ValueError(f"Layer '{layer.name}' has output shape {tuple(shape)}: no channel axis.")
    return int(shape[-1])
