"""What-if edits do what they say, and do nothing at magnitude 0."""

import numpy as np
import pytest

from deepling.methods import edits
from deepling.methods.edits import (
    EDIT_ORDER,
    add_noise,
    apply_edits,
    blur,
    brightness,
    flip,
    hue,
    occlude,
    rotate,
)


@pytest.fixture
def image():
    rng = np.random.default_rng(7)
    return rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)  # not square: catches x/y swaps


@pytest.mark.parametrize("edit, kwargs", [
    (brightness, {"delta": 0}), (brightness, {"factor": 1.0}), (hue, {"shift": 0}),
    (hue, {"shift": 360}), (rotate, {"degrees": 0}), (rotate, {"degrees": -360}),
    (flip, {"direction": None}), (blur, {"sigma": 0}), (add_noise, {"sigma": 0}),
    (occlude, {"x": 5, "y": 5, "size": 0}),
])
def test_zero_magnitude_is_an_exact_copy(image, edit, kwargs):
    out = edit(image, **kwargs)
    assert out.dtype == np.uint8 and np.array_equal(out, image)
    assert out is not image and not np.shares_memory(out, image)


def test_flip_mirrors(image):
    assert np.array_equal(flip(image, "horizontal"), image[:, ::-1])
    assert np.array_equal(flip(image, "vertical"), image[::-1])
    assert np.array_equal(flip(image, "both"), image[::-1, ::-1])
    assert np.array_equal(flip(flip(image, "horizontal"), "horizontal"), image)
    with pytest.raises(ValueError, match="horizontal"):
        flip(image, "sideways")


def test_occlusion_patch_is_where_it_was_placed(image):
    out = occlude(image, x=5, y=8, size=4, fill="black")
    # Centre (x=5, y=8) with even size 4 covers columns 3..6 and rows 6..9.
    assert (out[6:10, 3:7] == 0).all()
    untouched = np.ones(image.shape[:2], bool)
    untouched[6:10, 3:7] = False
    assert np.array_equal(out[untouched], image[untouched])


def test_occlusion_fills_and_border(image):
    corner = occlude(image, x=0, y=0, size=5, fill="gray")
    assert (corner[:3, :3] == 128).all() and np.array_equal(corner[3:], image[3:])
    mean = occlude(image, x=8, y=6, size=3, fill="mean")
    assert np.array_equal(mean[6, 8], np.rint(image.reshape(-1, 3).mean(0)).astype(np.uint8))
    colour = occlude(image, x=8, y=6, size=1, fill=(10, 20, 30))
    assert colour[6, 8].tolist() == [10, 20, 30]
    with pytest.raises(ValueError, match="fill"):
        occlude(image, 1, 1, 2, fill="plaid")


def test_rotate_turns_counter_clockwise_and_keeps_size():
    img = np.zeros((9, 9, 3), np.uint8)
    img[0:3, 4] = 255  # a bar above the centre
    out = rotate(img, 90, fill="black")
    assert out.shape == img.shape
    assert (out[4, 0:3] > 200).all()  # now left of the centre: counter-clockwise
    assert out[0:3, 4].max() < 50
    assert rotate(img, 30, fill="edge").shape == img.shape
    with pytest.raises(ValueError, match="fill"):
        rotate(img, 10, fill="wrap")


def test_brightness_adds_and_scales(image):
    out = brightness(image, delta=20)
    assert np.array_equal(out, np.clip(image.astype(int) + 20, 0, 255).astype(np.uint8))
    assert (brightness(image, factor=0.0) == 0).all()
    assert np.array_equal(brightness(image, delta=-300), np.zeros_like(image))


def test_hue_rotates_colours():
    px = np.array([[[255, 0, 0], [0, 255, 0], [100, 100, 100]]], np.uint8)
    out = hue(px, 120)
    assert out[0, 0].tolist() == [0, 255, 0]   # red → green
    assert out[0, 1].tolist() == [0, 0, 255]   # green → blue
    assert out[0, 2].tolist() == [100, 100, 100]  # grey has no hue
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    back = hue(hue(img, 77), -77)
    assert np.abs(back.astype(int) - img).max() <= 2
    gray = rng.integers(0, 256, (4, 4, 1), dtype=np.uint8)
    assert np.array_equal(hue(gray, 90), gray)


def test_blur_smooths_without_mixing_images():
    rng = np.random.default_rng(1)
    batch = rng.integers(0, 256, (2, 16, 16, 3), dtype=np.uint8)
    batch[1] = 0
    out = blur(batch, 1.5)
    assert out[0].std() < batch[0].std() / 2
    assert abs(out[0].mean() - batch[0].mean()) < 3
    assert (out[1] == 0).all()  # nothing leaked from image 0


def test_noise_is_seeded_and_sized(image):
    flat = np.full((64, 64, 3), 128, np.uint8)
    a, b = add_noise(flat, 10, seed=3), add_noise(flat, 10, seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, add_noise(flat, 10, seed=4))
    assert 9 < (a.astype(float) - 128).std() < 11


def test_apply_edits_uses_fixed_order(image):
    spec = {"occlude": {"x": 2, "y": 2, "size": 3}, "brightness": 30, "flip": "horizontal",
            "rotate": 20, "hue": 45, "blur": 0.7, "noise": {"sigma": 5, "seed": 1}}
    manual = rotate(image, 20)
    manual = flip(manual, "horizontal")
    manual = brightness(manual, delta=30)
    manual = hue(manual, 45)
    manual = blur(manual, 0.7)
    manual = add_noise(manual, 5, seed=1)
    manual = occlude(manual, 2, 2, 3)
    assert EDIT_ORDER == ("rotate", "flip", "brightness", "hue", "blur", "noise", "occlude")
    assert np.array_equal(apply_edits(image, spec), manual)
    reordered = dict(reversed(list(spec.items())))
    assert np.array_equal(apply_edits(image, reordered), manual)


def test_apply_edits_skips_zero_and_rejects_unknown(image):
    assert np.array_equal(apply_edits(image, {}), image)
    assert np.array_equal(apply_edits(image, {"rotate": 0, "flip": None, "blur": 0.0,
                                              "occlude": None}), image)
    with pytest.raises(ValueError, match="known: rotate"):
        apply_edits(image, {"sharpen": 2})
    with pytest.raises(ValueError, match="dict"):
        apply_edits(image, {"occlude": 4})


def test_edits_refuse_non_uint8(image):
    with pytest.raises(ValueError, match="uint8"):
        edits.blur(image.astype(np.float32), 1.0)
