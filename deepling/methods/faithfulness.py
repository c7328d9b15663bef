"""Deletion and insertion (Petsiuk et al. 2018): does a map put first the pixels the class
probability depends on? And a ranking of the methods by both over a sample of images.

*Deletion* replaces the most important pixels first (by the heat map) with a baseline and
follows the class probability down: a faithful map makes it fall fast (low area under the
curve). *Insertion* starts from the baseline and puts the most important pixels back
first: a faithful map makes the probability rise fast (high area). As in the paper, the
deletion baseline is black and the insertion baseline a blurred copy of the image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._maps import check_count, fixed_classes
from deepling.methods._probe import ModelProbe
from deepling.methods.integrated_gradients import baseline_images

# Lighter settings for the ranking over a sample (RISE's masks and the noise samples
# dominate its time); the single-image panel uses each method's own defaults.
RANKING_PARAMS = {
    "rise": {"masks": 500},
    "smoothgrad": {"samples": 16},
    "vargrad": {"samples": 16},
    "integrated_gradients": {"steps": 16},
}


@dataclass(frozen=True, eq=False)
class FaithfulnessCurves:
    """Deletion and insertion curves of one map.

    Attributes
    ----------
    fractions : ndarray, shape (steps + 1,)
        Fraction of the pixels removed (deletion) or put back (insertion), 0..1.
    deletion, insertion : ndarray, shape (steps + 1,)
        Probability of ``target`` at each fraction.
    deletion_auc, insertion_auc : float
        Areas under the curves (fraction axis 0..1): deletion lower is better, insertion
        higher is better.
    deletion_baseline, insertion_baseline : str
        What removed pixels become / what the image starts as.
    target : int
    method : str
    """

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray
    deletion_auc: float
    insertion_auc: float
    deletion_baseline: str
    insertion_baseline: str
    target: int
    method: str = ""

    def plot(self, height: int = 260):
        """A Plotly figure of both curves."""
        import plotly.graph_objects as go

        fig = go.Figure()
        fig.add_trace(go.Scatter(x=self.fractions, y=self.deletion, mode="lines",
                                 name=f"deletion → {self.deletion_baseline} (AUC {self.deletion_auc:.2f})"))
        fig.add_trace(go.Scatter(x=self.fractions, y=self.insertion, mode="lines",
                                 name=f"insertion from {self.insertion_baseline} "
                                      f"(AUC {self.insertion_auc:.2f})"))
        fig.update_layout(height=height, xaxis_title="fraction of pixels", yaxis_title="p(class)",
                          yaxis_range=[0, 1], margin=dict(l=40, r=10, t=10, b=40),
                          title=self.method or None)
        return fig


def _auc(fractions, curves):
    return np.trapezoid(curves, fractions, axis=-1)


def faithfulness_curves(model, images, heatmaps, target=None, steps: int = 32,
                        deletion_baseline="black", insertion_baseline="blurred",
                        batch_size: int = 512) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Deletion and insertion curves for a batch: ``(fractions, deletion N×(steps+1),
    insertion N×(steps+1), classes)``.

    Pixels are ranked by ``heatmaps`` (N×H×W, highest first; ties keep raster order); at
    step ``k`` the top ``k/steps`` of them are removed / inserted, all colour channels at
    once. ``target`` as for the methods (the predicted class by default).
    """
    steps = check_count("steps", steps)
    probe = ModelProbe.of(model)
    x, _ = probe.as_batch(images)
    heat = np.asarray(heatmaps, np.float32).reshape(len(x), -1)
    if heat.shape[1] != x.shape[1] * x.shape[2]:
        raise ValueError(f"One heat map per image at image size: got {np.shape(heatmaps)} for "
                         f"images {x.shape}.")
    classes, _ = fixed_classes(probe, x, target)
    n_pix = heat.shape[1]
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = np.rint(fractions * n_pix).astype(int)
    deletion = np.empty((len(x), steps + 1))
    insertion = np.empty((len(x), steps + 1))
    per_chunk = max(1, batch_size // (2 * (steps + 1)))
    for start in range(0, len(x), per_chunk):
        xs = x[start:start + per_chunk]
        removed = baseline_images(xs, deletion_baseline)
        inserted = baseline_images(xs, insertion_baseline)
        batch = []
        for i in range(len(xs)):
            order = np.argsort(-heat[start + i], kind="stable")
            rank = np.empty(n_pix, int)
            rank[order] = np.arange(n_pix)
            masks = (rank[None, :] < counts[:, None]).reshape((steps + 1,) + xs.shape[1:3] + (1,))
            batch.append(np.where(masks, removed[i], xs[i]))
            batch.append(np.where(masks, xs[i], inserted[i]))
        probs = probe.probabilities(np.concatenate(batch), batch_size)
        probs = probs.reshape(len(xs), 2, steps + 1, -1)
        for i in range(len(xs)):
            c = classes[start + i]
            deletion[start + i] = probs[i, 0, :, c]
            insertion[start + i] = probs[i, 1, :, c]
    return fractions, deletion, insertion, classes


def deletion_insertion(model, image, attribution, target=None, steps: int = 32,
                       deletion_baseline="black", insertion_baseline="blurred") -> FaithfulnessCurves:
    """Deletion and insertion curves of one map on one image.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C)
        Pixels in 0..255.
    attribution : Attribution or array (H, W)
        The map; an Attribution also gives the class (unless ``target`` is given).
    steps : int
        Points on each curve after the first.
    deletion_baseline, insertion_baseline : 'black', 'gray', 'blurred' or number
        What removed pixels become; what the insertion starts from.
    """
    heat = getattr(attribution, "heatmap", attribution)
    if target is None:
        target = getattr(attribution, "target", None)
    fr, dele, ins, classes = faithfulness_curves(model, np.asarray(image)[None], np.asarray(heat)[None],
                                                 None if target is None else [target], steps,
                                                 deletion_baseline, insertion_baseline)
    return FaithfulnessCurves(fr, dele[0], ins[0], float(_auc(fr, dele[0])), float(_auc(fr, ins[0])),
                              str(deletion_baseline), str(insertion_baseline), int(classes[0]),
                              getattr(attribution, "method", ""))


@dataclass(frozen=True, eq=False)
class MethodRanking:
    """Deletion and insertion AUCs of several methods over the same images.

    Attributes
    ----------
    methods : list of str
        In ranking order: highest mean (insertion − deletion) first.
    insertion, deletion : ndarray, shape (methods, images)
        Per-image areas, rows in the order of ``methods``.
    seconds : ndarray, shape (methods,)
        Time each method took to explain the sample.
    n_images, steps : int
    deletion_baseline, insertion_baseline : str
    """

    methods: list
    insertion: np.ndarray
    deletion: np.ndarray
    seconds: np.ndarray
    n_images: int
    steps: int
    deletion_baseline: str = "black"
    insertion_baseline: str = "blurred"

    def table(self) -> list[dict]:
        """One row per method: means, standard deviations and standard errors of both
        AUCs and of their difference, and the method's rank by each."""
        from deepling.methods.attributions import ATTRIBUTIONS

        ins_rank = _ranks(-self.insertion.mean(1))
        del_rank = _ranks(self.deletion.mean(1))
        rows = []
        for m, name in enumerate(self.methods):
            diff = self.insertion[m] - self.deletion[m]
            n = max(1, self.insertion.shape[1])
            rows.append({
                "method": name, "label": ATTRIBUTIONS[name].label if name in ATTRIBUTIONS else name,
                "insertion": float(self.insertion[m].mean()), "insertion_sd": float(self.insertion[m].std()),
                "deletion": float(self.deletion[m].mean()), "deletion_sd": float(self.deletion[m].std()),
                "difference": float(diff.mean()), "difference_se": float(diff.std() / np.sqrt(n)),
                "insertion_rank": int(ins_rank[m]), "deletion_rank": int(del_rank[m]),
                "seconds": float(self.seconds[m]),
            })
        return rows

    def plot(self, height: int = 320):
        """Insertion against deletion AUC per method, with ±1 standard error bars."""
        import plotly.graph_objects as go

        fig = go.Figure()
        n = np.sqrt(max(1, self.insertion.shape[1]))
        rows = self.table()
        places = _label_places([r["deletion"] for r in rows], [r["insertion"] for r in rows])
        for row, place in zip(rows, places):
            fig.add_trace(go.Scatter(
                x=[row["deletion"]], y=[row["insertion"]], mode="markers+text", name=row["label"],
                text=[row["label"]], textposition=place,
                error_x=dict(type="data", array=[row["deletion_sd"] / n]),
                error_y=dict(type="data", array=[row["insertion_sd"] / n])))
        fig.update_layout(height=height, showlegend=False, margin=dict(l=50, r=10, t=10, b=40),
                          xaxis_title=f"deletion AUC (→ {self.deletion_baseline}; lower is better)",
                          yaxis_title=f"insertion AUC (from {self.insertion_baseline}; higher is better)")
        return fig


_PLACES = {"top center": (0.0, 0.06), "bottom center": (0.0, -0.06), "middle right": (0.12, 0.0),
           "middle left": (-0.12, 0.0), "top right": (0.1, 0.06), "bottom left": (-0.1, -0.06),
           "top left": (-0.1, 0.06), "bottom right": (0.1, -0.06)}


def _label_places(x, y) -> list[str]:
    """A text position per point, chosen greedily (best point first) so each label sits
    as far as it can from the labels placed before it: methods of nearly equal areas (the
    CAM family) would otherwise print their names over each other."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    span = lambda v: (v - v.min()) / max(float(np.ptp(v)), 1e-9)  # noqa: E731
    px, py = span(x), span(y)
    placed, out = [], []
    for i in range(len(x)):
        def clearance(name):
            dx, dy = _PLACES[name]
            ax, ay = px[i] + dx, py[i] + dy
            return min((np.hypot((ax - bx) / 2, ay - by) for bx, by in placed), default=np.inf)
        best = max(_PLACES, key=clearance)  # ties: the first (top center)
        dx, dy = _PLACES[best]
        placed.append((px[i] + dx, py[i] + dy))
        out.append(best)
    return out


def _ranks(values) -> np.ndarray:
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values), int)
    ranks[order] = np.arange(1, len(values) + 1)
    return ranks


def rank_methods(model, images, methods=None, layer: str | None = None, steps: int = 16,
                 params: dict | None = None, batch_size: int = 16, progress=None) -> MethodRanking:
    """Rank attribution methods by deletion and insertion AUC over ``images``.

    Each method explains the predicted class of every image (with :data:`RANKING_PARAMS`
    unless ``params`` gives others per method); each map gets its deletion (black) and
    insertion (blurred) curve.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    images : array (N, H, W, C)
        Pixels in 0..255, e.g. a stratified sample of the test set.
    methods : list of str, optional
        Names in :data:`~deepling.methods.ATTRIBUTIONS`; all by default.
    layer : str, optional
        The CAM methods' layer (default: the last convolution).
    steps : int
        Points per curve.
    progress : callable(fraction, message), optional
        Called between batches; raising from it stops the ranking.
    """
    import time

    from deepling.methods.attributions import ATTRIBUTIONS, attribute

    methods = list(methods or ATTRIBUTIONS)
    unknown = [m for m in methods if m not in ATTRIBUTIONS]
    if unknown:
        raise ValueError(f"Unknown method(s) {', '.join(unknown)}; choose from {', '.join(ATTRIBUTIONS)}.")
    probe = ModelProbe.of(model)
    x, _ = probe.as_batch(images)
    classes, _ = fixed_classes(probe, x, None)
    settings = {**RANKING_PARAMS, **(params or {})}
    ins = np.empty((len(methods), len(x)))
    dele = np.empty((len(methods), len(x)))
    seconds = np.zeros(len(methods))
    chunks = range(0, len(x), batch_size)
    total = len(methods) * len(chunks)
    done = 0
    for m, name in enumerate(methods):
        for start in chunks:
            if progress is not None:
                progress(done / total, f"{ATTRIBUTIONS[name].label}: images {start + 1}–"
                                       f"{min(start + batch_size, len(x))} of {len(x)}")
            sl = slice(start, start + batch_size)
            t0 = time.perf_counter()
            extra = dict(settings.get(name, {}))
            if progress is not None and ATTRIBUTIONS[name].reports_progress:
                # the slow per-image methods (RISE, Score-CAM) report inside a batch, so a
                # cancel (raised from progress) stops them within an image, not a batch
                extra["progress"] = (lambda f, _msg, d=done: progress((d + f) / total,
                                                                       f"{ATTRIBUTIONS[name].label}: "
                                                                       f"images {start + 1}–"
                                                                       f"{min(start + batch_size, len(x))}"
                                                                       f" of {len(x)}"))
            maps = attribute(probe, x[sl], name, target=classes[sl], layer=layer, **extra)
            seconds[m] += time.perf_counter() - t0
            heat = np.stack([a.heatmap for a in maps])
            _, d, i, _ = faithfulness_curves(probe, x[sl], heat, classes[sl], steps)
            fr = np.linspace(0.0, 1.0, steps + 1)
            dele[m, sl], ins[m, sl] = _auc(fr, d), _auc(fr, i)
            done += 1
    if progress is not None:
        progress(1.0, "ranked")
    order = np.argsort(-(ins - dele).mean(axis=1), kind="stable")
    return MethodRanking([methods[k] for k in order], ins[order], dele[order], seconds[order],
                         len(x), steps)
