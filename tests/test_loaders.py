"""Data loaders on real files, including the awkward ones users have."""

import numpy as np
import pytest
from PIL import Image

from deepling.data import (CIFAR10_CLASSES, DataError, DataUnavailableError, Dataset,
                           load_cifar10, load_dataset, load_image_folder, load_npz)
from deepling.data.images import convert_channels, decode_image


def _save(path, array, mode=None, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode).save(path, **kw) if mode else Image.fromarray(array).save(path, **kw)


@pytest.fixture
def messy_folder(tmp_path):
    """cat/ and dog/ with mixed sizes and modes, plus files that are not images."""
    rng = np.random.default_rng(1)
    rgb = lambda h, w: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # noqa: E731
    _save(tmp_path / "cat" / "a.png", rgb(32, 32))
    _save(tmp_path / "cat" / "b.jpg", rgb(32, 32))
    _save(tmp_path / "cat" / "c.png", rgb(64, 48))                      # other size
    _save(tmp_path / "cat" / "gray.png", rng.integers(0, 256, (32, 32), dtype=np.uint8))
    (tmp_path / "dog").mkdir()
    Image.fromarray(rgb(32, 32)).convert("CMYK").save(tmp_path / "dog" / "cmyk.jpg")
    rgba = np.dstack([rgb(32, 32), np.zeros((32, 32), np.uint8)])     # fully transparent
    _save(tmp_path / "dog" / "rgba.png", rgba, "RGBA")
    Image.fromarray(rgb(32, 32)).convert("P").save(tmp_path / "dog" / "pal.gif")
    Image.fromarray(rng.integers(0, 65535, (32, 32)).astype(np.uint16)).save(tmp_path / "dog" / "deep.png")
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    (tmp_path / "dog" / "fake.png").write_bytes(b"definitely not a png")
    good = (tmp_path / "cat" / "b.jpg").read_bytes()
    (tmp_path / "dog" / "truncated.jpg").write_bytes(good[: len(good) - 200])
    return tmp_path


def test_image_folder_converts_and_counts_skips(messy_folder):
    ds = load_image_folder(messy_folder, split=None)
    assert ds.class_names == ("cat", "dog")
    assert ds.images.shape[1:] == (32, 32, 3) and ds.images.dtype == np.uint8
    # 4 cats (one resized, one gray converted) + cmyk, rgba, gif, 16-bit dogs
    assert list(ds.class_counts()) == [4, 4]
    text = " | ".join(ds.notes)
    assert "resized 1 of" in text
    assert "skipped 2 file(s), not an image" in text          # notes.txt, fake.png
    assert "skipped 1 file(s), corrupt or truncated" in text  # truncated.jpg
    # transparent pixels are composited onto white, not left as black garbage
    assert any(ds.images[i].min() == 255 for i in np.flatnonzero(ds.labels == 1))


def test_image_folder_target_size_and_cache(messy_folder, tmp_path_factory):
    cache = tmp_path_factory.mktemp("datasets")
    first = load_image_folder(messy_folder, split=None, size=(16, 16), cache_dir=cache)
    assert first.images.shape[1:3] == (16, 16)
    stored = list(cache.glob("folder-*.npz"))
    assert len(stored) == 1
    again = load_image_folder(messy_folder, split=None, size=(16, 16), cache_dir=cache)  # from the cache
    np.testing.assert_array_equal(first.images, again.images)
    assert first.notes == again.notes and list(cache.glob("folder-*.npz")) == stored
    # without a cache folder the library keeps nothing
    load_image_folder(messy_folder, split=None, size=(8, 8))
    assert list(cache.glob("folder-*.npz")) == stored


def test_image_folder_grayscale_stays_grayscale(tmp_path):
    for k, name in enumerate(["zero", "one"]):
        for i in range(3):
            _save(tmp_path / name / f"{i}.png", np.full((8, 8), 100 * k + i, np.uint8))
    ds = load_image_folder(tmp_path, split=None)
    assert ds.images.shape == (6, 8, 8, 1)


def test_image_folder_splits_share_class_names(tmp_path):
    img = np.zeros((8, 8, 3), np.uint8)
    _save(tmp_path / "train" / "a" / "0.png", img)
    _save(tmp_path / "train" / "b" / "0.png", img)
    _save(tmp_path / "test" / "b" / "0.png", img)
    test = load_image_folder(tmp_path, split="test")
    assert test.class_names == ("a", "b") and list(test.labels) == [1]
    with pytest.raises(DataError, match="split must be one of"):
        load_image_folder(tmp_path, split="validation")


def test_image_folder_with_nothing_readable(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "x.txt").write_text("hello")
    with pytest.raises(DataError, match="could be read as an image"):
        load_image_folder(tmp_path, split=None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="No image files"):
        load_image_folder(tmp_path / "empty", split=None)


def test_decode_refuses_decompression_bomb(tmp_path, monkeypatch):
    import deepling.data.images as images

    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    _save(tmp_path / "big.png", np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(images.ImageDecodeError) as exc:
        decode_image(tmp_path / "big.png")
    assert exc.value.reason == "too large"


def test_npz_variants(tmp_path):
    x = np.random.default_rng(0).random((5, 8, 8, 3))
    np.savez(tmp_path / "float01.npz", x=x, y=np.eye(3)[[0, 1, 2, 1, 0]])
    ds = load_npz(tmp_path / "float01.npz")
    assert ds.images.dtype == np.uint8 and ds.images.max() > 200
    assert list(ds.labels) == [0, 1, 2, 1, 0] and ds.class_names == ("0", "1", "2")

    np.savez(tmp_path / "named.npz", x=np.zeros((2, 4, 4), np.uint8), y=[[1], [0]],
             class_names=np.array(["no", "yes"]))
    ds = load_dataset(str(tmp_path / "named.npz"))
    assert ds.images.shape == (2, 4, 4, 1) and ds.class_names == ("no", "yes")


def test_npz_refuses_objects_and_missing_keys(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([object()], dtype=object), y=[0])
    with pytest.raises(DataError, match="does not unpickle"):
        load_npz(tmp_path / "obj.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(DataError, match="not an .npz archive"):
        load_npz(tmp_path / "plain.npy")
    np.savez(tmp_path / "nokeys.npz", images=np.zeros((1, 4, 4, 3), np.uint8))
    with pytest.raises(DataError, match=r"lacks array\(s\) \['x', 'y'\]"):
        load_npz(tmp_path / "nokeys.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")  # numpy would call this pickled data
    with pytest.raises(DataError, match=r"not an \.npz archive.*numpy\.savez") as info:
        load_npz(tmp_path / "junk.npz")
    assert "allow_pickle" not in str(info.value)  # never advise loading it unsafely


def test_load_dataset_explains_unknown_input(tmp_path):
    with pytest.raises(DataError, match="No data at"):
        load_dataset(str(tmp_path / "missing"))
    (tmp_path / "data.csv").write_text("a,b")
    with pytest.raises(DataError, match="unknown data format"):
        load_dataset(str(tmp_path / "data.csv"))


def test_cifar10_local_copy(cifar_test):
    assert len(cifar_test) == 10_000 and cifar_test.class_names == CIFAR10_CLASSES
    assert cifar_test.image_shape == (32, 32, 3)
    assert list(cifar_test.class_counts()) == [1000] * 10


def test_cifar10_offline_message(monkeypatch):
    """No local copy and no network: one paragraph naming the flag and the variable."""
    import keras

    def offline():
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.delenv("DEEPLING_CIFAR10", raising=False)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", offline)
    with pytest.raises(DataUnavailableError) as exc:
        load_cifar10("test")
    message = str(exc.value)
    assert "--data" in message and "DEEPLING_CIFAR10" in message and "\n" not in message


def test_cifar10_env_pointing_nowhere(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPLING_CIFAR10", str(tmp_path / "nope"))
    with pytest.raises(DataUnavailableError, match="does not exist"):
        load_cifar10("test")


def test_dataset_validation_and_fingerprint():
    imgs = np.zeros((3, 4, 4, 3), np.uint8)
    ds = Dataset(imgs, [0, 1, 1], ("a", "b"), "test")
    assert ds.fingerprint == Dataset(imgs.copy(), [0, 1, 1], ("a", "b"), "x").fingerprint
    assert ds.fingerprint != Dataset(imgs, [0, 1, 0], ("a", "b"), "test").fingerprint
    with pytest.raises(DataError, match="uint8"):
        Dataset(imgs.astype(float), [0, 1, 1], ("a", "b"), "test")
    with pytest.raises(DataError, match="3 images but 2 labels"):
        Dataset(imgs, [0, 1], ("a", "b"), "test")
    with pytest.raises(DataError, match="label 2 but only 2 class names"):
        Dataset(imgs, [0, 1, 2], ("a", "b"), "test")


def test_convert_channels_round_trip():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 4, 4, 3), dtype=np.uint8)
    gray = convert_channels(rgb, 1)
    assert gray.shape == (2, 4, 4, 1)
    expected = np.asarray(Image.fromarray(rgb[0]).convert("L"))
    assert np.abs(gray[0, ..., 0].astype(int) - expected).max() <= 1
    assert convert_channels(gray, 3).shape == (2, 4, 4, 3)
