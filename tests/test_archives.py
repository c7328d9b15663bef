"""Zips of image folders: the layouts users make load; hostile zips are refused unopened."""

import zipfile

import pytest

from deepling.data import DataError, load_dataset
from deepling.data.loaders import load_image_zip
from deepling.data.limits import UploadLimits
from tests import hostile


def test_zip_of_class_folders(tmp_path):
    ds = load_image_zip(hostile.image_zip(tmp_path / "flat.zip"))
    assert ds.class_names == ("cat", "dog") and len(ds) == 6
    assert ds.image_shape == (8, 8, 3) and list(ds.class_counts()) == [3, 3]
    assert ds.origin == "flat.zip"
    assert ds.images[0, 0, 0, 0] > 200 and ds.images[-1, 0, 0, 2] > 200  # red cats, blue dogs


def test_zip_of_the_folder_itself_with_splits_and_macos_junk(tmp_path):
    path = tmp_path / "pets.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for split, n in (("train", 4), ("test", 2)):
            for cls in ("cat", "dog", "eel"):
                for i in range(n):
                    zf.writestr(f"pets/{split}/{cls}/{i}.png", hostile.png_bytes())
        zf.writestr("pets/.DS_Store", b"junk")
        zf.writestr("__MACOSX/pets/train/cat/._0.png", b"resource fork")
    test = load_dataset(str(path))  # the loader's entry point for .zip
    assert test.class_names == ("cat", "dog", "eel") and len(test) == 6
    assert test.origin == "pets.zip (test)"
    train = load_image_zip(path, split="train", size=(4, 4))
    assert len(train) == 12 and train.image_shape == (4, 4, 3)
    # __MACOSX/ was not unpacked: "pets" stayed the single top folder and nothing was skipped.
    assert not any("skipped" in note for note in train.notes)


def test_windows_backslash_names_work(tmp_path):
    path = tmp_path / "win.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for cls in ("a", "b"):
            zf.writestr(zipfile.ZipInfo(f"data\\{cls}\\1.png"), hostile.png_bytes())
    assert load_image_zip(path).class_names == ("a", "b")


@pytest.mark.parametrize("member, why", [
    ("../evil.txt", "outside the folder"),
    ("cat/../../evil.txt", "outside the folder"),
    ("..\\evil.txt", "outside the folder"),
    ("/tmp/evil.txt", "absolute path"),
    ("C:/evil.txt", "absolute path"),
    ("C:\\evil.txt", "absolute path"),
])
def test_members_outside_the_folder_are_refused(tmp_path, member, why):
    workdir = tmp_path / "uploads"
    workdir.mkdir()
    path = hostile.zip_with_member(workdir / "evil.zip", member)
    with pytest.raises(DataError, match=why) as err:
        load_image_zip(path)
    assert repr(member)[1:-1] in str(err.value) and "Zip the image folder itself" in str(err.value)
    assert not list(tmp_path.rglob("evil.txt"))


def test_symlink_member_is_refused(tmp_path):
    with pytest.raises(DataError, match="symbolic link"):
        load_image_zip(hostile.symlink_zip(tmp_path / "link.zip"))


def test_zip_bomb_is_refused_by_its_ratio(tmp_path):
    path = hostile.zip_bomb(tmp_path / "bomb.zip", unpacked=64 << 20)
    assert path.stat().st_size < 1 << 20
    with pytest.raises(DataError, match="zip bomb"):
        load_image_zip(path)  # default limits


def test_declared_totals_are_bounded(tmp_path):
    path = hostile.image_zip(tmp_path / "many.zip", per_class=30)
    with pytest.raises(DataError, match="60 entries; the limit is 10"):
        load_image_zip(path, limits=UploadLimits(max_members=10))
    with pytest.raises(DataError, match="DEEPLING_MAX_UNCOMPRESSED_MB"):
        load_image_zip(path, limits=UploadLimits(max_uncompressed_bytes=1000))
    with pytest.raises(DataError, match="accepts uploads up to"):
        load_image_zip(path, limits=UploadLimits(max_upload_bytes=1000))


def test_lying_header_cannot_unpack_more_than_declared(tmp_path):
    """The member says 1000 bytes and inflates to 8 MB: refused, and nothing big is left."""
    path = hostile.lying_zip(tmp_path / "liar.zip")
    with pytest.raises(DataError, match="liar.zip: 'cat/0.png'"):
        load_image_zip(path)


def test_not_a_zip_and_empty_zip(tmp_path):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="not a readable zip"):
        load_image_zip(fake)
    truncated = tmp_path / "truncated.zip"
    truncated.write_bytes(hostile.image_zip(tmp_path / "whole.zip").read_bytes()[:300])
    with pytest.raises(DataError, match="not a readable zip"):
        load_image_zip(truncated)
    corrupt = tmp_path / "corrupt.zip"
    with zipfile.ZipFile(corrupt, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cat/0.ppm", b"P6 8 8 255\n" + bytes(range(192)))
    raw = bytearray(corrupt.read_bytes())
    raw[30 + len("cat/0.ppm")] = 0x07  # first deflate block: reserved type, zlib.error
    corrupt.write_bytes(bytes(raw))
    with pytest.raises(DataError, match="cannot be unpacked"):
        load_image_zip(corrupt)
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    with pytest.raises(DataError, match="holds no files"):
        load_image_zip(empty)
    clash = tmp_path / "clash.zip"
    with zipfile.ZipFile(clash, "w") as zf:
        zf.writestr("cat", b"a file")
        zf.writestr("cat/1.png", hostile.png_bytes())
    with pytest.raises(DataError, match="clashes"):
        load_image_zip(clash)
