"""Quick looks at results in a notebook: one Plotly figure per result type.

Plotly because it is already a dependency, draws the same way the app does, and its
figures are interactive in Jupyter (hover a point to see its image index) and in a script
(``fig.show()`` opens a browser tab). Each result has a ``.plot()`` that calls these:
``strip.plot()``, ``sequence.plot(layer="conv2b", labels=y)``, ``gradcam(...).plot(image)``,
``curves.plot()``.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

# Tableau 10, as the app's layer view.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def _rgb(image) -> np.ndarray:
    """H×W×C pixels (0..255) as H×W×3 uint8, which ``go.Image`` draws."""
    image = np.clip(np.asarray(image, dtype=np.float32), 0, 255).astype(np.uint8)
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image


def _name(k: int, class_names) -> str:
    return str(class_names[k]) if class_names is not None and k < len(class_names) else f"class {k}"


def plot_strip(strip, class_names=None, height: int = 380) -> go.Figure:
    """The frames of an adversarial strip over the size of the change, captioned with the
    top class and the target's probability at each frame."""
    k = len(strip.frames)
    fig = make_subplots(rows=2, cols=k, vertical_spacing=0.08, horizontal_spacing=0.01,
                        subplot_titles=[f"step {s}" for s in strip.steps] + [""] * k)
    vmax = float(strip.delta_magnitude.max()) or 1.0
    target = None if not isinstance(strip.target, (int, np.integer)) else int(strip.target)
    for i in range(k):
        fig.add_trace(go.Image(z=_rgb(strip.frames[i]), hoverinfo="skip"), row=1, col=i + 1)
        change = np.clip(strip.delta_magnitude[i] / vmax * 255, 0, 255).astype(np.uint8)
        fig.add_trace(go.Image(z=np.stack([change] * 3, axis=-1), hoverinfo="skip"), row=2, col=i + 1)
        top = int(strip.predicted[i])
        caption = f"{_name(top, class_names)} {strip.probabilities[i, top]:.0%}"
        if target is not None and target != top:
            caption += f"<br>{_name(target, class_names)} {strip.probabilities[i, target]:.0%}"
        fig.add_annotation(text=caption, xref=f"x{i + k + 1} domain", yref=f"y{i + k + 1} domain",
                           x=0.5, y=-0.08, yanchor="top", showarrow=False, font_size=11)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    title = f"towards {_name(target, class_names) if target is not None else strip.target_label}"
    if strip.flip_frame is not None:
        title += f" · top class flips at frame {strip.flip_frame} (step {strip.flip_step})"
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=60, b=50))
    return fig


def plot_sequence(sequence, layer=None, labels=None, class_names=None,
                  height: int = 520) -> go.Figure:
    """One layer's layout as a scatter (``layer`` a name or index), or, with no layer,
    every layer as an animation frame with a slider and a play button."""
    labels = np.zeros(sequence.n_images, int) if labels is None else np.asarray(labels).reshape(-1)
    if len(labels) != sequence.n_images:
        raise ValueError(f"labels has {len(labels)} entries for {sequence.n_images} images.")
    if isinstance(layer, str):
        sequence.layout(layer)  # a KeyError naming the layers there are, if it is not one
        layer = sequence.names.index(layer)
    classes = np.unique(labels)

    def traces(i):
        xy = sequence.layouts[i]
        return [go.Scattergl(x=xy[labels == c, 0], y=xy[labels == c, 1], mode="markers",
                             name=_name(int(c), class_names),
                             marker=dict(size=5, color=PALETTE[int(c) % len(PALETTE)], opacity=0.8),
                             customdata=np.nonzero(labels == c)[0],
                             hovertemplate="image %{customdata}<extra>%{fullData.name}</extra>")
                for c in classes]

    axis = dict(visible=False)
    if layer is not None:
        fig = go.Figure(traces(layer))
        fig.update_layout(title=f"layer {layer}: {sequence.names[layer]} ({sequence.types[layer]})")
    else:
        frames = [go.Frame(data=traces(i), name=str(i)) for i in range(len(sequence))]
        fig = go.Figure(frames[0].data, frames=frames)
        # one fixed range for all frames (animations do not rescale), wide enough for each
        reach = 1.05 * float(np.abs(sequence.layouts).max() or 1.0)
        axis = dict(axis, range=[-reach, reach])
        step = dict(frame=dict(duration=600, redraw=True), transition=dict(duration=400),
                    mode="immediate")
        fig.update_layout(
            title="layer by layer",
            updatemenus=[dict(type="buttons", x=0, y=-0.05, xanchor="left", showactive=False,
                              buttons=[dict(label="▶", method="animate", args=[None, step])])],
            sliders=[dict(x=0.08, len=0.92, y=-0.02, currentvalue=dict(prefix="layer: "),
                          steps=[dict(label=n, method="animate", args=[[str(i)], step])
                                 for i, n in enumerate(sequence.names)])])
    fig.update_layout(height=height, xaxis=axis, yaxis=dict(axis, scaleanchor="x"),
                      plot_bgcolor="white", margin=dict(l=10, r=10, t=50, b=80))
    return fig


def plot_attribution(attribution, image=None, class_names=None, height: int = 320) -> go.Figure:
    """The heat map beside (and, with the image, over) the image it explains."""
    cols = 3 if image is not None else 1
    what = f"{attribution.method}: {_name(attribution.target, class_names)} " \
           f"({attribution.probability:.0%})" + (f" at {attribution.layer}" if attribution.layer else "")
    fig = make_subplots(rows=1, cols=cols, horizontal_spacing=0.03,
                        subplot_titles=(["image", "heat map", "overlay"] if image is not None else None))
    signed = attribution.signed
    heat = dict(z=attribution.heatmap, colorscale="RdBu_r" if signed else "Inferno",
                zmid=0 if signed else None, colorbar=dict(title=attribution.units or None))
    if image is None:
        fig.add_trace(go.Heatmap(**heat), row=1, col=1)
    else:
        fig.add_trace(go.Image(z=_rgb(image), hoverinfo="skip"), row=1, col=1)
        fig.add_trace(go.Heatmap(**heat), row=1, col=2)
        fig.add_trace(go.Image(z=_rgb(image), hoverinfo="skip"), row=1, col=3)
        fig.add_trace(go.Heatmap(**dict(heat, opacity=0.5, showscale=False)), row=1, col=3)
    fig.update_yaxes(autorange="reversed", scaleanchor="x", visible=False)
    fig.update_xaxes(visible=False)
    for c in range(2, cols + 1):
        fig.update_yaxes(scaleanchor=f"x{c}", row=1, col=c)
    fig.update_layout(title=what, height=height, margin=dict(l=10, r=10, t=60, b=10))
    return fig


def plot_robustness(curves, class_names=None, height: int = 360) -> go.Figure:
    """Accuracy and mean true-class probability against the augmentation's magnitude,
    and each class's mean probability as a thin line."""
    fig = go.Figure()
    for k, row in enumerate(curves.per_class):
        if np.isfinite(row).any():
            fig.add_trace(go.Scatter(x=curves.magnitudes, y=row, mode="lines",
                                     name=_name(k, class_names), opacity=0.45,
                                     line=dict(width=1, color=PALETTE[k % len(PALETTE)])))
    fig.add_trace(go.Scatter(x=curves.magnitudes, y=curves.accuracy, name="accuracy",
                             mode="lines+markers", line=dict(width=3, color="black")))
    fig.add_trace(go.Scatter(x=curves.magnitudes, y=curves.mean, name="mean p(true)",
                             mode="lines", line=dict(width=2, dash="dot", color="black")))
    fig.update_layout(title=f"{curves.augmentation}", xaxis_title=curves.unit,
                      yaxis=dict(range=[0, 1], title="probability / accuracy"), height=height,
                      margin=dict(l=10, r=10, t=50, b=10), plot_bgcolor="white")
    return fig


def plot_cka(result, height: int = 560) -> go.Figure:
    """A CKA matrix as a heatmap: model A's layers up the rows, model B's along the columns."""
    z = np.asarray(result.matrix, dtype=float)
    fig = go.Figure(go.Heatmap(
        z=z, x=list(result.names_b), y=list(result.names_a), zmin=0, zmax=1,
        colorscale="Viridis", colorbar=dict(title="CKA"),
        hovertemplate=f"{result.model_a}: %{{y}}<br>{result.model_b}: %{{x}}"
                      "<br>CKA %{z:.3f}<extra></extra>"))
    fig.update_layout(
        title=f"Linear CKA, {result.n_images:,} images: {result.model_a} × {result.model_b}",
        height=height, margin=dict(l=10, r=10, t=50, b=10),
        xaxis=dict(title=result.model_b, tickangle=-45), yaxis=dict(title=result.model_a))
    return fig


def plot_label_errors(result, images, n: int = 12, class_names=None, height: int = 300) -> go.Figure:
    """The ``n`` most suspicious images, each captioned "given → predicted" and its score."""
    top = list(result.order[:n])
    cols = max(1, min(6, len(top)))
    rows = max(1, -(-len(top) // cols))
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.01, vertical_spacing=0.12,
                        subplot_titles=[
                            f"#{i}: {_name(int(result.labels[i]), class_names)} → "
                            f"{_name(int(result.predicted[i]), class_names)} ({result.score[i]:.2f})"
                            for i in top])
    for j, i in enumerate(top):
        fig.add_trace(go.Image(z=_rgb(images[i]), hoverinfo="skip"), row=j // cols + 1, col=j % cols + 1)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_annotations(font_size=10)
    fig.update_layout(title="Suspicious labels: given → predicted (label-error score)",
                      height=height * rows, margin=dict(l=10, r=10, t=60, b=10))
    return fig
