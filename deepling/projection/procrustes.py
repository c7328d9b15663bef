"""Procrustes alignment of one 2-D layout onto another, mirror included.

Two MDS layouts of the same points are each determined only up to rotation, reflection,
uniform scale and translation. :func:`procrustes_align` removes that freedom so that
consecutive layers of the animation move only as much as the network changed the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg import orthogonal_procrustes
from sklearn.utils import check_array

_SCALINGS = ("least_squares", "match_rms")


@dataclass(frozen=True, eq=False)
class Alignment:
    """A layout turned onto a reference, and what was done to it.

    The aligned layout is ``scale · (mirror(layout - centroid) rotated by rotation_deg)
    + reference centroid``, where ``mirror`` flips the second coordinate and the rotation
    is counter-clockwise.

    Attributes
    ----------
    layout : ndarray of float64, shape (n_points, 2)
        The aligned layout.
    mirrored : bool
        Whether the layout was reflected: the best reflection fitted the reference better
        than the best proper rotation.
    rotation_deg : float
        Counter-clockwise rotation in degrees, in (-180, 180], applied after mirroring.
    scale : float
        Uniform factor applied to the centred layout.
    residual_before : float
        RMS distance between corresponding points after translation and scaling only
        (no turning), divided by the reference's RMS radius about its centroid.
    residual_after : float
        The same after the rotation/reflection as well. 0 means the layouts coincide;
        1 is as far off as putting every point on the reference's centroid. With
        least-squares scaling, ``residual_after ** 2`` equals the disparity of
        :func:`scipy.spatial.procrustes`.
    residual_alternative : float
        Residual of the best transform of the other handedness (the best proper rotation
        when mirrored, else the best reflection). Close to ``residual_after`` means the
        mirror decision was nearly a tie, as for round, featureless clouds.
    """

    layout: np.ndarray
    mirrored: bool
    rotation_deg: float
    scale: float
    residual_before: float
    residual_after: float
    residual_alternative: float


def procrustes_align(reference, layout, *, scaling="least_squares"):
    """Rotate (or mirror and rotate), scale and translate ``layout`` onto ``reference``.

    The best proper rotation and the best reflection are found separately, each with
    :func:`scipy.linalg.orthogonal_procrustes`, and the one that leaves the smaller
    residual is kept (a proper rotation wins a tie). Points are matched by row.

    Parameters
    ----------
    reference : array-like of shape (n_points, 2)
        The layout to align to; it must not have all points in one place.
    layout : array-like of shape (n_points, 2)
        The layout to move. If all its points coincide, the result puts them on the
        reference's centroid.
    scaling : {"least_squares", "match_rms"}, default="least_squares"
        ``"least_squares"`` scales to minimise the residual, the classical Procrustes
        fit; it shrinks layouts that fit poorly, so chains of alignments drift smaller.
        ``"match_rms"`` gives the layout the reference's RMS radius instead, which keeps
        a sequence of layouts at one size.

    Returns
    -------
    Alignment
        The aligned layout with the mirror decision, rotation, scale and residuals.

    Raises
    ------
    ValueError
        The inputs are not finite N×2 arrays of the same shape, the reference has no
        spread, or ``scaling`` is unknown.

    Examples
    --------
    >>> import numpy as np
    >>> from deepling.projection import procrustes_align
    >>> ref = np.random.default_rng(0).normal(size=(50, 2))
    >>> a = procrustes_align(ref, 3 * ref[:, ::-1] + 1)  # swapped axes: a mirror image
    >>> a.mirrored, round(a.scale, 6), round(a.residual_after, 6)
    (True, 0.333333, 0.0)
    """
    if scaling not in _SCALINGS:
        raise ValueError(f"scaling must be one of {_SCALINGS}, got {scaling!r}.")
    ref = check_array(reference, dtype=np.float64, input_name="reference")
    lay = check_array(layout, dtype=np.float64, input_name="layout")
    if ref.shape != lay.shape or ref.shape[1] != 2:
        raise ValueError(
            f"reference and layout must both be N×2 with the same N (rows are matched "
            f"points); got {ref.shape} and {lay.shape}."
        )
    centroid = ref.mean(axis=0)
    ref_c = ref - centroid
    lay_c = lay - lay.mean(axis=0)
    ref_ss = float(np.sum(ref_c ** 2))
    lay_ss = float(np.sum(lay_c ** 2))
    if ref_ss <= 0.0:
        raise ValueError("The reference layout has all points in one place: there is "
                         "nothing to align to. Align to a layout with some spread.")
    if lay_ss <= 0.0:
        collapsed = np.broadcast_to(centroid, lay.shape).copy()
        return Alignment(collapsed, False, 0.0, 1.0, 1.0, 1.0, 1.0)

    # In the complex plane a proper rotation is multiplication by a unit number u, and a
    # reflection is conjugation followed by one. orthogonal_procrustes on one complex
    # column returns the best such u, so each family gets its own optimum.
    z_ref = (ref_c[:, 0] + 1j * ref_c[:, 1])[:, None]
    z_lay = (lay_c[:, 0] + 1j * lay_c[:, 1])[:, None]
    candidates = []
    for mirrored, z in ((False, z_lay), (True, np.conj(z_lay))):
        u, fit = orthogonal_procrustes(z, z_ref)  # fit = |zᴴ z_ref|
        scale = fit / lay_ss if scaling == "least_squares" else np.sqrt(ref_ss / lay_ss)
        moved = scale * (z * u[0, 0])
        residual = _relative_rms(moved - z_ref, ref_ss)
        candidates.append((residual, mirrored, u[0, 0], scale, moved))
    (best, mirrored, u, scale, moved), (other, *_) = sorted(candidates, key=lambda c: c[0])
    aligned = np.column_stack([moved[:, 0].real, moved[:, 0].imag]) + centroid
    before = _relative_rms(scale * z_lay - z_ref, ref_ss)
    return Alignment(aligned, bool(mirrored), float(np.degrees(np.angle(u))), float(scale),
                     before, float(best), float(other))


def _relative_rms(diff, ref_ss):
    """RMS length of the rows of ``diff`` over the reference's RMS radius."""
    return float(np.sqrt(np.sum(np.abs(diff) ** 2) / ref_ss))
