"""Plotly figures shared by several views."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from deepling.web.views.common import class_color

_MARGIN = dict(l=8, r=8, t=8, b=8)


def probability_bars(probs: np.ndarray, class_names, true_label: int | None = None,
                     compare: np.ndarray | None = None, compare_name: str = "edited") -> go.Figure:
    """Horizontal bars of class probabilities; ``compare`` adds a second series beside them."""
    names = list(class_names)
    colors = [class_color(k) for k in range(len(names))]
    fig = go.Figure(go.Bar(x=probs, y=names, orientation="h", marker_color=colors,
                           name="original", hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    if compare is not None:
        fig.add_bar(x=compare, y=names, orientation="h", name=compare_name,
                    marker=dict(color=colors, pattern_shape="/", opacity=0.6),
                    hovertemplate="%{y}: %{x:.1%}<extra>" + compare_name + "</extra>")
    if true_label is not None and 0 <= true_label < len(names):
        fig.add_annotation(x=1.0, y=names[true_label], text="true", showarrow=False,
                           xanchor="right", font=dict(size=10, color="#555"))
    fig.update_layout(margin=_MARGIN, height=max(160, 18 * len(names) + 30), barmode="group",
                      xaxis=dict(range=[0, 1], tickformat=".0%", fixedrange=True),
                      yaxis=dict(autorange="reversed", fixedrange=True),
                      showlegend=compare is not None, legend=dict(orientation="h", y=-0.15),
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig


def per_class_accuracy(labels: np.ndarray, predicted: np.ndarray, class_names) -> go.Figure:
    n = len(class_names)
    correct = np.bincount(labels[labels == predicted], minlength=n)
    total = np.maximum(np.bincount(labels[labels >= 0], minlength=n), 1)
    acc = correct / total
    fig = go.Figure(go.Bar(x=list(class_names), y=acc, marker_color=[class_color(k) for k in range(n)],
                           hovertemplate="%{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(margin=_MARGIN, height=170, yaxis=dict(range=[0, 1], tickformat=".0%"),
                      plot_bgcolor="white", paper_bgcolor="white")
    return fig
