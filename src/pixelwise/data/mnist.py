"""MNIST: an IDX file reader/writer and the downloader of the four official files.

The IDX format (LeCun, Cortes and Burges, http://yann.lecun.com/exdb/mnist/): a big-endian header
``0x00 0x00 <type code> <number of dimensions k>``, then k big-endian uint32 sizes, then the data in C
order, big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
Files may be gzip-compressed (recognised by the gzip magic bytes, not by the name).

The downloader fetches the official file names once into a cache folder, verifies each file's MD5 against
the published checksums (the same ones that torchvision and TensorFlow Datasets check) before moving it
into place, and never keeps a file that fails the check. Offline, the error says which files to put where.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from pixelwise.errors import DataError

# type code -> numpy dtype (big-endian, as stored)
IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODE_OF = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_TYPES.items()}

# The official files: name -> (MD5 of the .gz file, size in bytes).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": ("d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": ("9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": ("ec29112dd5afa0611ce80d1b7f02629c", 4542),
}
# Tried in order. yann.lecun.com is the original home; the others are the long-standing public mirrors.
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
SPLIT_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
               "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def _open_maybe_gzip(path: Path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzip) into a native-endian numpy array of its stored shape."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"IDX file {path} does not exist; check the path.")
    try:
        with _open_maybe_gzip(path) as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise DataError(f"cannot read {path} ({err}); the file is damaged, download it again.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_TYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number); expected an MNIST-style "
                        "*-idx?-ubyte(.gz) file.")
    dtype, ndim = IDX_TYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path} ends inside its IDX header; the file is truncated, download it again.")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{path} holds {len(raw) - header} data bytes but its header {tuple(shape)} needs "
                        f"{expected}; the file is truncated or damaged, download it again.")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzip-compressed when the name ends in .gz); returns the path."""
    arr = np.asarray(array)
    code = _CODE_OF.get(arr.dtype.newbyteorder("=").str)
    if code is None:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}; use uint8, int8, int16, int32, float32 or "
                         "float64.")
    if arr.ndim < 1 or arr.ndim > 255:
        raise ValueError(f"IDX stores 1 to 255 dimensions, got an array of shape {arr.shape}.")
    payload = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload += np.ascontiguousarray(arr, dtype=IDX_TYPES[code]).tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path


def md5_of(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def default_cache_dir() -> Path:
    """``$PIXELWISE_CACHE/mnist``, else ``$XDG_CACHE_HOME/pixelwise/mnist``, else
    ``~/.cache/pixelwise/mnist``."""
    if os.environ.get("PIXELWISE_CACHE"):
        return Path(os.environ["PIXELWISE_CACHE"]) / "mnist"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "pixelwise" / "mnist"


def _download(url: str, target: Path, md5: str, timeout: float) -> str | None:
    """Fetch ``url`` into ``target`` if its MD5 matches; returns None on success, else the reason."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while block := response.read(1 << 20):
                out.write(block)
        got = md5_of(tmp)
        if got != md5:
            return f"{url} has MD5 {got}, not the published {md5}"
        os.replace(tmp, target)
        return None
    except (urllib.error.URLError, OSError, TimeoutError) as err:
        return f"{url}: {getattr(err, 'reason', err)}"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch_mnist(cache_dir: str | Path | None = None, names: Sequence[str] | None = None,
                download: bool = True, mirrors: Sequence[str] = MNIST_MIRRORS,
                files: Mapping[str, tuple[str, int]] = MNIST_FILES,
                timeout: float = 60.0) -> dict[str, Path]:
    """Make sure the official files are in ``cache_dir`` with the right checksums; returns name -> path.

    A cached file is re-checked (MD5) every time; a wrong one is an error that says to delete it, never
    silently used. ``mirrors`` are URL prefixes tried in order (a ``file://`` prefix works, for tests and
    for a local copy).
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    names = list(files) if names is None else list(names)
    unknown = [n for n in names if n not in files]
    if unknown:
        raise DataError(f"unknown MNIST file(s) {unknown}; the official names are {', '.join(files)}.")
    paths = {}
    for name in names:
        md5, _size = files[name]
        target = cache / name
        if target.is_file():
            got = md5_of(target)
            if got != md5:
                raise DataError(f"{target} has MD5 {got}, not the published {md5}; delete it and run again "
                                "to download a fresh copy.")
            paths[name] = target
            continue
        if not download:
            raise DataError(f"MNIST file {name} is not in {cache}; put the four official files "
                            f"({', '.join(files)}) there or allow the download.")
        reasons = []
        for mirror in mirrors:
            reason = _download(mirror.rstrip("/") + "/" + name, target, md5, timeout)
            if reason is None:
                break
            reasons.append(reason)
        else:
            raise DataError(f"cannot download MNIST file {name} ({'; '.join(reasons)}); if this machine is "
                            f"offline, copy the four official files ({', '.join(files)}) into {cache} "
                            "(or set PIXELWISE_CACHE) and run again.")
        paths[name] = target
    return paths


def load_mnist(split: str = "train", cache_dir: str | Path | None = None, download: bool = True,
               **fetch_kwargs) -> tuple[np.ndarray, np.ndarray]:
    """MNIST ``split`` ("train": 60,000 or "test": 10,000): images uint8 (N, 28, 28), labels uint8 (N,)."""
    if split not in SPLIT_FILES:
        raise DataError(f"MNIST split {split!r} is not known; use 'train' or 'test'.")
    image_name, label_name = SPLIT_FILES[split]
    paths = fetch_mnist(cache_dir, [image_name, label_name], download, **fetch_kwargs)
    images, labels = read_idx(paths[image_name]), read_idx(paths[label_name])
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"MNIST {split} files disagree: images {images.shape}, labels {labels.shape}; "
                        f"delete {paths[image_name].parent} and download again.")
    return images.astype(np.uint8), labels.astype(np.uint8)
