"""procrustes_align: exact on similar copies, mirrors detected and undone, residuals defined."""

import numpy as np
import pytest
from scipy.spatial import procrustes

from deepling.projection import Alignment, procrustes_align


def rotation(deg):
    """Row-vector matrix turning points counter-clockwise by ``deg``."""
    t = np.radians(deg)
    return np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])


MIRROR = np.diag([1.0, -1.0])


@pytest.fixture
def cloud():
    rng = np.random.default_rng(0)
    return rng.normal(size=(80, 2)) * [2.0, 0.5] + [3.0, -1.0]  # elongated, off-centre


def test_rotated_scaled_translated_copy_is_aligned_exactly(cloud):
    moved = 2.5 * (cloud - cloud.mean(0)) @ rotation(40) + [10.0, 7.0]
    a = procrustes_align(cloud, moved)
    np.testing.assert_allclose(a.layout, cloud, atol=1e-12)
    assert not a.mirrored
    assert a.rotation_deg == pytest.approx(-40.0)
    assert a.scale == pytest.approx(1 / 2.5)
    assert a.residual_after == pytest.approx(0.0, abs=1e-12)
    assert a.residual_before > 0.5  # unturned, the copy is far off
    assert a.residual_alternative > 0.3  # and no mirror image fits as well


def test_mirrored_copy_is_detected_and_undone(cloud):
    centred = cloud - cloud.mean(0)
    mirrored = (centred @ MIRROR) @ rotation(75) * 0.3
    a = procrustes_align(cloud, mirrored)
    assert a.mirrored
    np.testing.assert_allclose(a.layout, cloud, atol=1e-12)
    assert a.residual_after == pytest.approx(0.0, abs=1e-12)
    assert a.residual_alternative > 0.3  # the best proper rotation is clearly worse
    # The reported transform reproduces the layout: mirror, then rotate, scale, translate.
    redo = a.scale * ((mirrored - mirrored.mean(0)) @ MIRROR @ rotation(a.rotation_deg))
    np.testing.assert_allclose(redo + cloud.mean(0), a.layout, atol=1e-12)


def test_identical_layout_is_left_alone(cloud):
    a = procrustes_align(cloud, cloud)
    np.testing.assert_allclose(a.layout, cloud, atol=1e-12)
    assert (a.mirrored, a.rotation_deg, a.scale) == (False, pytest.approx(0.0), pytest.approx(1.0))
    assert a.residual_before == pytest.approx(0.0, abs=1e-12)


def test_residual_matches_scipy_procrustes_disparity():
    rng = np.random.default_rng(1)
    ref, lay = rng.normal(size=(50, 2)), rng.normal(size=(50, 2))
    a = procrustes_align(ref, lay)
    assert a.residual_after ** 2 == pytest.approx(procrustes(ref, lay)[2], rel=1e-10)
    assert a.residual_after <= a.residual_before
    assert a.residual_after <= a.residual_alternative


def test_match_rms_keeps_the_reference_size(cloud):
    noisy = cloud @ rotation(10) + np.random.default_rng(2).normal(scale=0.8, size=cloud.shape)
    lsq = procrustes_align(cloud, noisy)
    rms = procrustes_align(cloud, noisy, scaling="match_rms")

    def radius(x):
        return np.sqrt(((x - x.mean(0)) ** 2).sum(1).mean())

    assert radius(rms.layout) == pytest.approx(radius(cloud))
    assert radius(lsq.layout) < radius(cloud)  # least squares shrinks a poor fit
    assert lsq.residual_after <= rms.residual_after


def test_collapsed_layout_goes_to_the_reference_centroid(cloud):
    a = procrustes_align(cloud, np.ones_like(cloud))
    np.testing.assert_allclose(a.layout, np.broadcast_to(cloud.mean(0), cloud.shape))
    assert np.isfinite([a.rotation_deg, a.scale, a.residual_before, a.residual_after]).all()
    assert a.residual_after == pytest.approx(1.0)


def test_result_is_a_frozen_dataclass(cloud):
    a = procrustes_align(cloud, cloud)
    assert isinstance(a, Alignment)
    with pytest.raises(AttributeError):
        a.mirrored = True


def test_bad_inputs_raise_clear_errors(cloud):
    with pytest.raises(ValueError, match="same N"):
        procrustes_align(cloud, cloud[:-1])
    with pytest.raises(ValueError, match="same N"):
        procrustes_align(np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="nothing to align to"):
        procrustes_align(np.zeros_like(cloud), cloud)
    with pytest.raises(ValueError, match="NaN"):
        procrustes_align(cloud, np.full_like(cloud, np.nan))
    with pytest.raises(ValueError, match="scaling must be one of"):
        procrustes_align(cloud, cloud, scaling="none")
