"""MNIST: an IDX file reader/writer and the downloader of the four official files.

The IDX format (LeCun, Cortes and Burges, http://yann.lecun.com/exdb/mnist/): a big-endian header
``0x00 0x00 <type code> <number of dimensions k>``, then k big-endian uint32 sizes, then the data in C
order, big-endian. Type codes: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
Files may be gzip-compressed (recognised by the gzip magic bytes, not by the name).

The downloader fetches the official file names once into a cache folder (https mirrors first). While it streams
a file it enforces the published size (a mirror that sends more is cut off), and before it moves the file into
place it verifies the published SHA-256 (the checksums TensorFlow Datasets records) and, as a second check, the
MD5 (the one torchvision checks); a file that fails is never kept. A mirror that sends nothing for ``stall``
seconds (10) is given up, with a message while it waits. Offline, the error says which files to put where.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pixelwise.errors import DataError

# type code -> numpy dtype (big-endian, as stored)
IDX_TYPES = {0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
             0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODE_OF = {np.dtype(v).newbyteorder("=").str: k for k, v in IDX_TYPES.items()}

@dataclass(frozen=True)
class Published:
    """What a file's publishers state about it: its SHA-256, its MD5 (a second check) and its size in bytes."""

    sha256: str
    md5: str | None
    size: int


# The official files (the .gz files themselves).
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": Published("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                                            "f68b3c2dcbeaaa9fbdd348bbdeb94873", 9912422),
    "train-labels-idx1-ubyte.gz": Published("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                                            "d53e105ee54ea40749a09fcbcd1e9432", 28881),
    "t10k-images-idx3-ubyte.gz": Published("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                                           "9fb629c4189551a2d022fa330f9573f3", 1648877),
    "t10k-labels-idx1-ubyte.gz": Published("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
                                           "ec29112dd5afa0611ce80d1b7f02629c", 4542),
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


def digests_of(path: str | Path, chunk: int = 1 << 20) -> tuple[str, str, int]:
    """(SHA-256, MD5, size in bytes) of a file."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            sha.update(block)
            md5.update(block)
            size += len(block)
    return sha.hexdigest(), md5.hexdigest(), size


def md5_of(path: str | Path) -> str:
    return digests_of(path)[1]


def mismatch(name: str, expected: Published, sha: str, md5: str, size: int) -> str | None:
    """Why a file with these digests is not the published one, or None when it is."""
    if size != expected.size:
        return f"{name} has {size} bytes, not the published {expected.size}"
    if sha != expected.sha256:
        return f"{name} has SHA-256 {sha}, not the published {expected.sha256}"
    if expected.md5 is not None and md5 != expected.md5:
        return f"{name} has MD5 {md5}, not the published {expected.md5}"
    return None


def default_cache_dir() -> Path:
    """``$PIXELWISE_CACHE/mnist``, else ``$XDG_CACHE_HOME/pixelwise/mnist``, else
    ``~/.cache/pixelwise/mnist``."""
    if os.environ.get("PIXELWISE_CACHE"):
        return Path(os.environ["PIXELWISE_CACHE"]) / "mnist"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "pixelwise" / "mnist"


def _stream(url: str, out, expected: Published, stall: float) -> tuple[str, str, int]:
    """Copy ``url`` into the open file ``out``, refusing more than the published size; (SHA-256, MD5, bytes)."""
    sha, md5, size = hashlib.sha256(), hashlib.md5(), 0
    with urllib.request.urlopen(url, timeout=stall) as response:  # the timeout bounds every wait for data
        while block := response.read(1 << 16):
            size += len(block)
            if size > expected.size:
                raise ValueError(f"sent more than the published {expected.size} bytes")
            sha.update(block)
            md5.update(block)
            out.write(block)
    return sha.hexdigest(), md5.hexdigest(), size


def _download(url: str, target: Path, expected: Published, stall: float) -> str | None:
    """Fetch ``url`` into ``target`` if it is the published file; returns None on success, else the reason."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            digests = _stream(url, out, expected, stall)
        reason = mismatch(url, expected, *digests)
        if reason is None:
            os.replace(tmp, target)
        return reason
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as err:
        return f"{url}: {getattr(err, 'reason', err)}"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def fetch_mnist(cache_dir: str | Path | None = None, names: Sequence[str] | None = None,
                download: bool = True, mirrors: Sequence[str] = MNIST_MIRRORS,
                files: Mapping[str, Published] = MNIST_FILES, stall: float = 10.0,
                log: Callable[[str], None] = _stderr) -> dict[str, Path]:
    """Make sure the official files are in ``cache_dir`` and are the published ones; returns name -> path.

    A cached file is checked again (size, SHA-256, MD5) every time; a wrong one is an error that says to delete
    it, never silently used. ``mirrors`` are URL prefixes tried in order (a ``file://`` prefix works, for tests
    and for a local copy); a mirror that sends nothing for ``stall`` seconds is given up for the next one.
    """
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    names = list(files) if names is None else list(names)
    unknown = [n for n in names if n not in files]
    if unknown:
        raise DataError(f"unknown MNIST file(s) {unknown}; the official names are {', '.join(files)}.")
    paths = {}
    for name in names:
        target = cache / name
        if target.is_file():
            reason = mismatch(str(target), files[name], *digests_of(target))
            if reason is not None:
                raise DataError(f"{reason}; delete it and run again to download a fresh copy.")
        elif not download:
            raise DataError(f"MNIST file {name} is not in {cache}; put the four official files "
                            f"({', '.join(files)}) there or allow the download.")
        else:
            _fetch_one(name, target, files[name], mirrors, stall, log, cache, files)
        paths[name] = target
    return paths


def _fetch_one(name: str, target: Path, expected: Published, mirrors: Sequence[str], stall: float,
               log: Callable[[str], None], cache: Path, files: Mapping) -> None:
    reasons = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + name
        log(f"downloading {name} ({expected.size / 1e6:.1f} MB) from {url} (giving up on a mirror after "
            f"{stall:g} s without data)")
        reason = _download(url, target, expected, stall)
        if reason is None:
            return
        reasons.append(reason)
    raise DataError(f"cannot download MNIST file {name} ({'; '.join(reasons) or 'no mirror given'}); if this "
                    f"machine is offline, copy the four official files ({', '.join(files)}) into {cache} (or set "
                    "PIXELWISE_CACHE) and run again.")


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
