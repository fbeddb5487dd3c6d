"""Tests for neuroplast.data: IDX I/O, MNIST/Fashion-MNIST loaders, embedded copy, subsets."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import os
import shutil
import struct
import urllib.error
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
import torch

from neuroplast.data import (
    IDX_FILE_NAMES,
    ChecksumMismatchError,
    DataNotFoundError,
    Dataset,
    IdxFormatError,
    Split,
    load_embedded_mnist,
    load_fashion_mnist,
    load_mnist,
    load_mnist_or_embedded,
    peaked_indices,
    peaked_split,
    read_idx,
    verify_md5,
    write_idx,
)
from neuroplast.data import datasets as datasets_mod

# --------------------------------------------------------------------------------------------
# Shared real MNIST files (optional)
# --------------------------------------------------------------------------------------------


def _shared_mnist_dir() -> Path | None:
    candidates = [Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"]
    env = os.environ.get("NEUROPLAST_TEST_MNIST")
    if env:
        candidates.append(Path(env))
    for directory in candidates:
        if all((directory / name).is_file() for name in IDX_FILE_NAMES):
            return directory
    return None


SHARED_MNIST = _shared_mnist_dir()
needs_mnist = pytest.mark.skipif(
    SHARED_MNIST is None,
    reason="real MNIST files not found in <repo>/../shared/data/mnist; set "
    "NEUROPLAST_TEST_MNIST to a directory holding the four *-ubyte.gz files",
)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real network, no real user cache, no inherited NEUROPLAST_DATA."""

    def no_network(url: str, dest: object) -> None:
        raise urllib.error.URLError(f"network disabled in tests ({url})")

    monkeypatch.setattr(datasets_mod, "_fetch", no_network)
    monkeypatch.delenv("NEUROPLAST_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="module")
def mnist() -> Dataset:
    assert SHARED_MNIST is not None
    return load_mnist(root=SHARED_MNIST, download=False)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _fake_arrays(n_train: int, n_test: int, seed: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    train_x = rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8)
    test_x = rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8)
    train_y = (np.arange(n_train) % 10).astype(np.uint8)
    test_y = rng.integers(0, 10, size=n_test, dtype=np.uint8)
    return train_x, train_y, test_x, test_y


def _write_fake(
    directory: Path, n_train: int = 50, n_test: int = 20, seed: int = 0, gz: bool = True
) -> tuple[np.ndarray, ...]:
    directory.mkdir(parents=True, exist_ok=True)
    arrays = _fake_arrays(n_train, n_test, seed)
    for name, arr in zip(IDX_FILE_NAMES, arrays, strict=True):
        write_idx(directory / (name if gz else name.removesuffix(".gz")), arr)
    return arrays


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def _idx_bytes(arr: np.ndarray, code: int) -> bytes:
    header = bytes((0, 0, code, arr.ndim)) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


# --------------------------------------------------------------------------------------------
# IDX reader / writer
# --------------------------------------------------------------------------------------------

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)])
def test_idx_round_trip(tmp_path: Path, dtype: type, suffix: str, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    else:
        arr = rng.standard_normal(shape).astype(dtype)
    path = tmp_path / f"a-idx{suffix}"
    write_idx(path, arr)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype)
    assert out.dtype.isnative
    assert out.shape == shape
    assert out.flags.writeable
    np.testing.assert_array_equal(out, arr)


def test_idx_compression_detected_by_magic_not_name(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.int16).reshape(3, 4)
    gz_without_suffix = tmp_path / "plain-name"
    raw_with_suffix = tmp_path / "looks-compressed.gz"
    write_idx(gz_without_suffix, arr, compress=True)
    write_idx(raw_with_suffix, arr, compress=False)
    assert gz_without_suffix.read_bytes()[:2] == b"\x1f\x8b"
    assert raw_with_suffix.read_bytes()[:2] == b"\x00\x00"
    np.testing.assert_array_equal(read_idx(gz_without_suffix), arr)
    np.testing.assert_array_equal(read_idx(str(raw_with_suffix)), arr)


def test_idx_header_layout(tmp_path: Path) -> None:
    path = tmp_path / "labels-idx1-ubyte"
    write_idx(path, np.array([1, 2, 3], dtype=np.uint8))
    assert path.read_bytes() == b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02\x03"


def test_idx_accepts_big_endian_and_tensor_input(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=">f4").reshape(2, 3)
    write_idx(tmp_path / "be", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "be"), arr)
    write_idx(tmp_path / "t", torch.arange(4, dtype=torch.int32))
    np.testing.assert_array_equal(read_idx(tmp_path / "t"), np.arange(4))


@pytest.mark.parametrize("bad", [np.zeros(3, dtype=np.int64), np.zeros(3, dtype=bool)])
def test_write_idx_rejects_unsupported_dtype(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="cast"):
        write_idx(tmp_path / "x", bad)


@pytest.mark.parametrize("shape", [(), (1, 1, 1, 1, 1), (0, 3)])
def test_write_idx_rejects_bad_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="cannot write"):
        write_idx(tmp_path / "x", np.zeros(shape, dtype=np.uint8))


GOOD = _idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08)
GOOD_BIG = _idx_bytes(np.random.default_rng(0).integers(0, 256, (40, 28, 28), np.uint8), 0x08)


def _corrupt_gzip(data: bytes) -> bytes:
    blob = bytearray(gzip.compress(data, mtime=0))
    middle = len(blob) // 2
    for i in range(middle, middle + 16):
        blob[i] ^= 0xFF
    return bytes(blob)


BAD_FILES = {
    "bad_magic": (b"\x01\x00" + GOOD[2:], "magic"),
    "pk_zip": (b"PK\x03\x04" + GOOD[4:], "magic"),
    "bad_dtype": (GOOD[:2] + b"\x0a" + GOOD[3:], "type code 0x0A"),
    "ndim_zero": (b"\x00\x00\x08\x00", "dimensions"),
    "ndim_five": (b"\x00\x00\x08\x05" + b"\x00\x00\x00\x01" * 5 + b"\x00", "dimensions"),
    "zero_dim": (b"\x00\x00\x08\x02\x00\x00\x00\x00\x00\x00\x00\x03", "zero"),
    "short_header": (GOOD[:10], "truncated header"),
    "too_short": (b"\x00\x00", "too short"),
    "empty": (b"", "too short"),
    "truncated_raw": (GOOD[:-5], "truncated"),
    "trailing_bytes": (GOOD + b"\x00\x00\x00", "trailing"),
    "truncated_gzip": (gzip.compress(GOOD_BIG, mtime=0)[:-200], "gzip"),
    "corrupted_gzip": (_corrupt_gzip(GOOD_BIG), "gzip"),
    "gzip_of_truncated": (gzip.compress(GOOD[:-1], mtime=0), "truncated"),
    "gzip_of_trailing": (gzip.compress(GOOD + b"\x01", mtime=0), "trailing"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_read_idx_errors_name_the_file(tmp_path: Path, case: str) -> None:
    data, expected = BAD_FILES[case]
    path = tmp_path / f"broken-{case}-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(IdxFormatError) as info:
        read_idx(path)
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert path.name in message
    assert expected in message
    assert "download" in message or "regenerate" in message or "Check" in message


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


# --------------------------------------------------------------------------------------------
# Real MNIST (shared copy)
# --------------------------------------------------------------------------------------------


@needs_mnist
def test_load_mnist_shapes_and_values(mnist: Dataset) -> None:
    assert mnist.name == "mnist"
    assert mnist.source == str(SHARED_MNIST)
    assert mnist.train.x.shape == (60000, 784) and mnist.test.x.shape == (10000, 784)
    assert mnist.train.y.shape == (60000,) and mnist.test.y.shape == (10000,)
    assert mnist.train.n == 60000 and mnist.test.n == 10000
    for split in (mnist.train, mnist.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.int64
        assert float(split.x.min()) == 0.0 and float(split.x.max()) == 1.0
        counts = torch.bincount(split.y, minlength=10)
        assert counts.numel() == 10 and int(counts.sum()) == split.n
        assert int(counts.min()) > 800
    # Well-known class counts of the official training set.
    assert torch.bincount(mnist.train.y).tolist()[:2] == [5923, 6742]
    # Pixels are exactly byte/255: black background (0) dominates.
    assert float((mnist.train.x[:100] == 0).float().mean()) > 0.5
    assert torch.equal(torch.round(mnist.test.x[:50] * 255) / 255, mnist.test.x[:50])


@needs_mnist
def test_load_mnist_invert(mnist: Dataset) -> None:
    inverted = load_mnist(root=SHARED_MNIST, download=False, invert=True)
    assert torch.equal(inverted.train.x, 1 - mnist.train.x)
    assert torch.equal(inverted.test.x, 1 - mnist.test.x)
    assert torch.equal(inverted.train.y, mnist.train.y)
    # Paper's convention: corner pixels are white (1).
    assert bool((inverted.train.x[:, 0] == 1).all())


@needs_mnist
def test_peaked_split_on_real_mnist(mnist: Dataset) -> None:
    peaked = peaked_split(mnist.train, 3, seed=0)
    assert peaked.n == 11400
    counts = torch.bincount(peaked.y, minlength=10).tolist()
    assert counts[3] == 6000 and all(c == 600 for i, c in enumerate(counts) if i != 3)
    assert peaked_split(mnist.train, 1).n == 11400
    with pytest.raises(ValueError, match="class 5 has only 5421"):
        peaked_indices(mnist.train.y, 5)


@needs_mnist
def test_embedded_matches_shared_test_set(mnist: Dataset) -> None:
    emb = load_embedded_mnist()
    assert torch.equal(emb.train.x, mnist.test.x[:8000])
    assert torch.equal(emb.test.y, mnist.test.y[8000:])


# --------------------------------------------------------------------------------------------
# Loader on synthetic files
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_small_files(tmp_path: Path, gz: bool) -> None:
    train_x, train_y, test_x, test_y = _write_fake(tmp_path / "fm", 50, 20, gz=gz)
    ds = load_fashion_mnist(tmp_path / "fm", download=False)
    assert ds.name == "fashion-mnist"
    assert ds.source == str(tmp_path / "fm")
    assert ds.train.x.shape == (50, 784) and ds.test.x.shape == (20, 784)
    assert ds.train.x.dtype == torch.float32 and ds.test.y.dtype == torch.int64
    expected = torch.from_numpy(train_x.reshape(50, 784).astype(np.float32)) / 255
    assert torch.allclose(ds.train.x, expected, atol=0, rtol=1e-6)
    assert ds.train.y.tolist() == train_y.tolist() and ds.test.y.tolist() == test_y.tolist()
    assert 0.0 <= float(ds.test.x.min()) and float(ds.test.x.max()) <= 1.0
    inv = load_fashion_mnist(str(tmp_path / "fm"), download=False, invert=True)
    assert torch.equal(inv.train.x, 1 - ds.train.x)


def test_search_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, env, cache = tmp_path / "root", tmp_path / "env", tmp_path / "xdg"
    _write_fake(root, n_train=11)
    _write_fake(env / "mnist", n_train=12)
    _write_fake(env, n_train=13)
    _write_fake(cache / "neuroplast" / "mnist", n_train=14)
    monkeypatch.setenv("NEUROPLAST_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))

    assert load_mnist(root, download=False).train.n == 11  # explicit root first
    assert load_mnist(tmp_path / "empty", download=False).train.n == 12  # then env subfolder
    assert load_mnist(download=False).train.n == 12
    shutil.rmtree(env / "mnist")
    assert load_mnist(download=False).train.n == 13  # then env directly
    assert load_mnist(download=False).source == str(env)
    monkeypatch.delenv("NEUROPLAST_DATA")
    ds = load_mnist(download=False)  # then the cache
    assert ds.train.n == 14 and ds.source == str(cache / "neuroplast" / "mnist")
    # Fashion-MNIST uses its own subfolders.
    _write_fake(cache / "neuroplast" / "fashion-mnist", n_train=15)
    assert load_fashion_mnist(download=False).train.n == 15


def test_home_cache_used_without_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    _write_fake(tmp_path / "home" / ".cache" / "neuroplast" / "mnist", n_train=16)
    assert load_mnist(download=False).train.n == 16


def test_incomplete_directory_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write_fake(tmp_path / "root", n_train=11)
    (tmp_path / "root" / IDX_FILE_NAMES[3]).unlink()
    _write_fake(tmp_path / "env", n_train=12)
    monkeypatch.setenv("NEUROPLAST_DATA", str(tmp_path / "env"))
    assert load_mnist(tmp_path / "root", download=False).train.n == 12


def test_offline_error_lists_files_and_places(tmp_path: Path) -> None:
    root = tmp_path / "nothing-here"
    root.mkdir()
    with pytest.raises(DataNotFoundError) as info:
        load_mnist(root, download=False)
    assert isinstance(info.value, FileNotFoundError)
    message = str(info.value)
    for name in IDX_FILE_NAMES:
        assert name in message
    assert str(root) in message
    assert str(tmp_path / "xdg-cache" / "neuroplast" / "mnist") in message
    assert "NEUROPLAST_DATA" in message and "download=False" in message


def test_offline_error_with_failed_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEUROPLAST_DATA", str(tmp_path / "env"))
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist()  # autouse fixture: every fetch fails with URLError
    message = str(info.value)
    for name in IDX_FILE_NAMES:
        assert name in message
    assert str(tmp_path / "env" / "fashion-mnist") in message
    assert "network disabled" in message and "fashion-mnist.s3" in message
    cache = tmp_path / "xdg-cache" / "neuroplast" / "fashion-mnist"
    assert _leftovers(cache) == []  # download target created, but nothing left in it


def test_validation_errors_name_the_file(tmp_path: Path) -> None:
    train_x, train_y, test_x, test_y = _fake_arrays(30, 10, 0)
    bad_images = tmp_path / "bad-images"
    _write_fake(bad_images)
    write_idx(bad_images / IDX_FILE_NAMES[0], train_x.reshape(30, 784))
    with pytest.raises(IdxFormatError, match=IDX_FILE_NAMES[0] + ".*28, 28"):
        load_mnist(bad_images, download=False)

    bad_count = tmp_path / "bad-count"
    _write_fake(bad_count)
    write_idx(bad_count / IDX_FILE_NAMES[3], test_y[:5])
    with pytest.raises(IdxFormatError, match=IDX_FILE_NAMES[3] + ".*5 labels"):
        load_mnist(bad_count, download=False)

    bad_value = tmp_path / "bad-value"
    _write_fake(bad_value)
    labels = np.full(50, 10, dtype=np.uint8)
    write_idx(bad_value / IDX_FILE_NAMES[1], labels)
    with pytest.raises(IdxFormatError, match=IDX_FILE_NAMES[1] + ".*out of range"):
        load_mnist(bad_value, download=False)

    bad_dtype = tmp_path / "bad-dtype"
    _write_fake(bad_dtype)
    write_idx(bad_dtype / IDX_FILE_NAMES[2], test_x.astype(np.float32))
    with pytest.raises(IdxFormatError, match=IDX_FILE_NAMES[2] + ".*uint8"):
        load_mnist(bad_dtype, download=False)

    truncated = tmp_path / "truncated"
    _write_fake(truncated)
    path = truncated / IDX_FILE_NAMES[0]
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(IdxFormatError, match=IDX_FILE_NAMES[0]):
        load_mnist(truncated, download=False)


def test_split_validates_shapes() -> None:
    with pytest.raises(ValueError, match="Split"):
        Split(x=torch.zeros(3, 784), y=torch.zeros(4, dtype=torch.int64))
    split = Split(x=torch.zeros(3, 784), y=torch.zeros(3, dtype=torch.int64))
    assert split.n == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        split.x = torch.zeros(1)  # type: ignore[misc]


# --------------------------------------------------------------------------------------------
# Downloading (with a monkeypatched fetch function)
# --------------------------------------------------------------------------------------------


@pytest.fixture
def fake_remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Synthetic Fashion-MNIST 'server' files with their MD5s patched into the spec."""
    remote = tmp_path / "remote"
    _write_fake(remote, n_train=40, n_test=10, seed=3)
    spec = dataclasses.replace(
        datasets_mod._FASHION,
        mirrors=("https://mirror-a.invalid/fm/", "https://mirror-b.invalid/fm/"),
        md5=tuple(_md5(remote / name) for name in IDX_FILE_NAMES),
    )
    monkeypatch.setattr(datasets_mod, "_FASHION", spec)
    return remote


def test_download_success(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_remote: Path
) -> None:
    urls: list[str] = []

    def fetch(url: str, dest: BinaryIO) -> None:
        urls.append(url)
        dest.write((fake_remote / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(datasets_mod, "_fetch", fetch)
    root = tmp_path / "new" / "dir"
    ds = load_fashion_mnist(root)
    assert ds.train.n == 40 and ds.test.n == 10 and ds.source == str(root)
    assert urls == [f"https://mirror-a.invalid/fm/{name}" for name in IDX_FILE_NAMES]
    assert _leftovers(root) == sorted(IDX_FILE_NAMES)
    for name in IDX_FILE_NAMES:
        assert (root / name).read_bytes() == (fake_remote / name).read_bytes()
    # Present files are neither re-downloaded nor MD5-checked on later loads.
    (root / IDX_FILE_NAMES[1]).write_bytes(gzip.compress(_idx_bytes(np.zeros(40, np.uint8), 8)))
    urls.clear()
    again = load_fashion_mnist(root)
    assert urls == [] and int(again.train.y.sum()) == 0


def test_download_goes_to_cache_without_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_remote: Path
) -> None:
    monkeypatch.setattr(
        datasets_mod,
        "_fetch",
        lambda url, dest: dest.write((fake_remote / url.rsplit("/", 1)[1]).read_bytes()),
    )
    ds = load_fashion_mnist()
    cache = tmp_path / "xdg-cache" / "neuroplast" / "fashion-mnist"
    assert ds.source == str(cache)
    assert _leftovers(cache) == sorted(IDX_FILE_NAMES)


def test_download_falls_back_to_second_mirror_and_only_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_remote: Path
) -> None:
    urls: list[str] = []

    def fetch(url: str, dest: BinaryIO) -> None:
        urls.append(url)
        if "mirror-a" in url:
            raise urllib.error.URLError("mirror a is down")
        dest.write((fake_remote / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(datasets_mod, "_fetch", fetch)
    root = tmp_path / "root"
    root.mkdir()
    for name in IDX_FILE_NAMES[:3]:
        shutil.copy(fake_remote / name, root / name)
    ds = load_fashion_mnist(root)
    assert ds.test.n == 10
    assert urls == [
        f"https://mirror-a.invalid/fm/{IDX_FILE_NAMES[3]}",
        f"https://mirror-b.invalid/fm/{IDX_FILE_NAMES[3]}",
    ]
    assert _leftovers(root) == sorted(IDX_FILE_NAMES)


def test_download_md5_mismatch_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_remote: Path
) -> None:
    monkeypatch.setattr(datasets_mod, "_fetch", lambda url, dest: dest.write(b"garbage" * 100))
    root = tmp_path / "root"
    with pytest.raises(ChecksumMismatchError) as info:
        load_fashion_mnist(root)
    assert isinstance(info.value, ValueError)
    assert IDX_FILE_NAMES[0] in str(info.value) and "MD5" in str(info.value)
    assert _leftovers(root) == []  # neither the final name nor a temporary file


def test_download_interrupted_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_remote: Path
) -> None:
    def fetch(url: str, dest: BinaryIO) -> None:
        dest.write((fake_remote / url.rsplit("/", 1)[1]).read_bytes()[:100])
        raise ConnectionResetError("connection reset by peer")

    monkeypatch.setattr(datasets_mod, "_fetch", fetch)
    root = tmp_path / "root"
    with pytest.raises(DataNotFoundError) as info:
        load_fashion_mnist(root)
    message = str(info.value)
    assert "connection reset" in message and "mirror-b.invalid" in message
    assert all(name in message for name in IDX_FILE_NAMES)
    assert _leftovers(root) == []


def test_download_keyboard_interrupt_removes_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_remote: Path
) -> None:
    def fetch(url: str, dest: BinaryIO) -> None:
        dest.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(datasets_mod, "_fetch", fetch)
    root = tmp_path / "root"
    with pytest.raises(KeyboardInterrupt):
        load_fashion_mnist(root)
    assert _leftovers(root) == []


def test_truncated_download_caught_by_md5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_remote: Path
) -> None:
    """A connection that closes early without an error still never gets the final name."""
    monkeypatch.setattr(
        datasets_mod,
        "_fetch",
        lambda url, dest: dest.write((fake_remote / url.rsplit("/", 1)[1]).read_bytes()[:-10]),
    )
    with pytest.raises(ChecksumMismatchError):
        load_fashion_mnist(tmp_path / "root")
    assert _leftovers(tmp_path / "root") == []


@needs_mnist
def test_download_real_mnist_checks_official_md5(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls: list[str] = []

    def fetch(url: str, dest: BinaryIO) -> None:
        urls.append(url)
        assert SHARED_MNIST is not None
        with open(SHARED_MNIST / url.rsplit("/", 1)[1], "rb") as src:
            shutil.copyfileobj(src, dest)

    monkeypatch.setattr(datasets_mod, "_fetch", fetch)
    ds = load_mnist(tmp_path / "dl")
    assert ds.train.n == 60000 and ds.test.n == 10000
    assert all(u.startswith("https://ossci-datasets.s3.amazonaws.com/mnist/") for u in urls)
    assert len(urls) == 4


def test_verify_md5(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"abc")
    verify_md5(path, "900150983CD24FB0D6963F7D28E17F72")
    with pytest.raises(ChecksumMismatchError, match="f: MD5"):
        verify_md5(path, "0" * 32)


# --------------------------------------------------------------------------------------------
# Embedded copy
# --------------------------------------------------------------------------------------------


def test_embedded_mnist() -> None:
    emb = load_embedded_mnist()
    assert emb.name == "mnist-embedded"
    assert emb.train.n == 8000 and emb.test.n == 2000
    assert emb.train.x.shape == (8000, 784) and emb.train.x.dtype == torch.float32
    assert emb.test.y.dtype == torch.int64
    assert 0.0 == float(emb.train.x.min()) and float(emb.train.x.max()) == 1.0
    assert "embedded" in emb.source and "test set" in emb.source and "NOT" in emb.source
    assert torch.bincount(emb.test.y, minlength=10).min() > 100
    inv = load_embedded_mnist(invert=True)
    assert torch.equal(inv.test.x, 1 - emb.test.x)


def test_mnist_or_embedded_falls_back_only_when_not_found(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="embedded"):
        ds = load_mnist_or_embedded(tmp_path / "empty", download=False)
    assert ds.name == "mnist-embedded" and ds.train.n == 8000
    with pytest.warns(UserWarning, match="embedded"):
        assert load_mnist_or_embedded(tmp_path / "empty").name == "mnist-embedded"  # offline
    _write_fake(tmp_path / "real", n_train=21)
    assert load_mnist_or_embedded(tmp_path / "real", download=False).train.n == 21
    broken = tmp_path / "broken"
    _write_fake(broken)
    (broken / IDX_FILE_NAMES[0]).write_bytes(b"\x00\x00\x08")
    with pytest.raises(IdxFormatError):
        load_mnist_or_embedded(broken, download=False)


def test_mnist_or_embedded_propagates_checksum_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(datasets_mod, "_fetch", lambda url, dest: dest.write(b"x"))
    with pytest.raises(ChecksumMismatchError):
        load_mnist_or_embedded(tmp_path / "root")


# --------------------------------------------------------------------------------------------
# Peaked subsets
# --------------------------------------------------------------------------------------------


@pytest.fixture
def labels() -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    base = torch.arange(10).repeat_interleave(6500)
    return base[torch.randperm(base.numel(), generator=gen)]


def test_peaked_counts(labels: torch.Tensor) -> None:
    idx = peaked_indices(labels, 3)
    assert idx.dtype == torch.int64 and idx.shape == (11400,)
    assert bool((idx[1:] > idx[:-1]).all())  # sorted and distinct
    counts = torch.bincount(labels[idx], minlength=10).tolist()
    assert counts == [600, 600, 600, 6000, 600, 600, 600, 600, 600, 600]
    small = peaked_indices(labels, 0, major=50, minor=5)
    assert torch.bincount(labels[small]).tolist() == [50] + [5] * 9


def test_peaked_determinism(labels: torch.Tensor) -> None:
    a = peaked_indices(labels, 3, seed=7)
    assert torch.equal(a, peaked_indices(labels, 3, seed=7))
    assert not torch.equal(a, peaked_indices(labels, 3, seed=8))
    # Per-class draws do not depend on the peaked digit: subsets are nested / shared.
    b = peaked_indices(labels, 1, seed=7)
    a_set, b_set = set(a.tolist()), set(b.tolist())
    sevens_a = {i for i in a_set if labels[i] == 7}
    sevens_b = {i for i in b_set if labels[i] == 7}
    assert sevens_a == sevens_b
    threes_b = {i for i in b_set if labels[i] == 3}
    assert threes_b <= {i for i in a_set if labels[i] == 3}


def test_peaked_errors(labels: torch.Tensor) -> None:
    for digit in (-1, 10, 3.0, True):
        with pytest.raises(ValueError, match="digit"):
            peaked_indices(labels, digit)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="class 3 has only 6500"):
        peaked_indices(labels, 3, major=7000)
    with pytest.raises(ValueError, match="class 0 has only"):
        peaked_indices(labels[labels != 0], 3)
    with pytest.raises(ValueError, match="1-D integer"):
        peaked_indices(labels.float(), 3)
    with pytest.raises(ValueError, match=">= 0"):
        peaked_indices(labels, 3, minor=-1)


def test_peaked_split(labels: torch.Tensor) -> None:
    x = labels.float().unsqueeze(1).repeat(1, 784) / 10
    split = Split(x=x, y=labels)
    peaked = peaked_split(split, 4, major=100, minor=10, seed=1)
    assert peaked.n == 190
    assert torch.equal(peaked.x[:, 0] * 10, peaked.y.float())
    assert torch.equal(peaked.y, labels[peaked_indices(labels, 4, major=100, minor=10, seed=1)])
