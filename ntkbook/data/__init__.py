"""Data sets of the book: Fashion-MNIST and UCI Wine Quality (red), found, verified and split.

Both loaders look in a fixed order of places and take the first one whose files pass the
checks; a place that fails is skipped and remembered. When nothing passes, they raise
:class:`DataNotFoundError`, whose message lists every place searched, why each was rejected,
and how to fix it.

Fashion-MNIST (:func:`load_fashion_mnist`) searches for the four IDX files, gzipped or raw:

1. the ``data_dir`` argument (the folder itself, then its ``fashion-mnist/`` subfolder);
2. ``$NTKBOOK_DATA`` (the folder itself, then its ``fashion-mnist/`` subfolder);
3. :data:`DEBIAN_FASHION_MNIST_DIR`, filled by ``apt-get install dataset-fashion-mnist``;
4. the user cache ``$XDG_CACHE_HOME/ntkbook/fashion-mnist`` (default ``~/.cache/...``);
5. a download into the user cache, when ``download`` is true.

Each file is verified by the sha256 of its *decompressed* bytes (:data:`FASHION_MNIST_SHA256`;
Debian rewrote the gzip headers, so the compressed bytes differ from upstream's) and parsed with
a strict IDX parser (:func:`parse_idx`).

Wine Quality (:func:`load_wine_quality`) searches for ``winequality-red.csv`` in the same way
(subfolder ``wine-quality/``, no Debian package) and verifies it by structure: 12 columns
including ``quality``, 1599 rows, and the quality counts :data:`WINE_QUALITY_COUNTS`.

Downloads use :mod:`urllib` with a timeout, write to a temporary file in the cache folder, verify
it, and only then move it into place with :func:`os.replace`: the cache never holds a partial or
unverified file.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.client
import math
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from numpy.typing import DTypeLike

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "DataNotFoundError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_URL",
    "FashionMNIST",
    "WINE_QUALITY_COUNTS",
    "WINE_QUALITY_FILE",
    "WINE_QUALITY_URL",
    "WineQuality",
    "berg_subset",
    "fashion_mnist_splits",
    "load_fashion_mnist",
    "load_wine_quality",
    "parse_idx",
    "parse_wine_csv",
    "read_idx",
    "user_cache_dir",
    "wine_splits",
]

ENV_DATA = "NTKBOOK_DATA"
ENV_FASHION_MNIST_URL = "NTKBOOK_FASHION_MNIST_URL"
ENV_WINE_URL = "NTKBOOK_WINE_URL"
DOWNLOAD_TIMEOUT = 30.0

#: Debian's ``dataset-fashion-mnist`` package installs the four gzipped IDX files here.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
#: The zalandoresearch/fashion-mnist release folder (files ``<name>.gz``).
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
#: Field of :class:`FashionMNIST` -> base name of its IDX file (``.gz`` optional on disk).
FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: sha256 of the *decompressed* bytes of each IDX file.
FASHION_MNIST_SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
#: Label -> class name.
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

WINE_QUALITY_FILE = "winequality-red.csv"
#: UCI's folder holding ``winequality-red.csv``.
WINE_QUALITY_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/"
#: Quality score -> number of red wines with it (1599 in all).
WINE_QUALITY_COUNTS = {3: 10, 4: 53, 5: 681, 6: 638, 7: 199, 8: 18}

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"
_FETCH_ERRORS = (OSError, http.client.HTTPException, ValueError)

_T = TypeVar("_T")


class DataNotFoundError(FileNotFoundError):
    """No searched place holds a valid copy of a data set, and downloading was off or failed.

    The message lists every place searched, why each was rejected, and how to fix it.

    Attributes:
        searched: ``(place, reason)`` for every place searched, in order.
    """

    def __init__(self, message: str, searched: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.searched = list(searched)

    def __reduce__(self):  # keep ``searched`` through pickling (e.g. to a worker process)
        return type(self), (str(self), self.searched)

    @classmethod
    def from_search(
        cls, dataset: str, searched: Sequence[tuple[str, str]], fix: str
    ) -> DataNotFoundError:
        """The error for ``dataset`` after the ``(place, reason)`` rejections ``searched``."""
        lines = [f"{dataset} not found. Searched, in order:"]
        lines += [f"  {i}. {place}: {why}" for i, (place, why) in enumerate(searched, 1)]
        lines.append(f"To fix: {fix}")
        return cls("\n".join(lines), searched)


class _Rejected(Exception):
    """Internal: a candidate place failed its checks (the reason is the message)."""


@dataclass(frozen=True, eq=False)
class FashionMNIST:
    """The Fashion-MNIST data set as stored in its IDX files, in file order.

    Attributes:
        train_images: ``(60000, 28, 28)`` uint8 pixels.
        train_labels: ``(60000,)`` uint8 labels in 0..9 (see :data:`FASHION_MNIST_CLASSES`).
        test_images: ``(10000, 28, 28)`` uint8 pixels.
        test_labels: ``(10000,)`` uint8 labels.
        source: Folder the files were read from.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path


@dataclass(frozen=True, eq=False)
class WineQuality:
    """The red-wine part of UCI Wine Quality (Cortez et al., 2009), in file order.

    Attributes:
        features: ``(1599, 11)`` float64 physicochemical features.
        quality: ``(1599,)`` float64 quality scores (integers 3..8).
        feature_names: The 11 column names of ``features``.
        source: File the data were read from.
    """

    features: np.ndarray
    quality: np.ndarray
    feature_names: tuple[str, ...]
    source: Path


# --------------------------------------------------------------------------- places to search


def user_cache_dir(name: str) -> Path:
    """``$XDG_CACHE_HOME/ntkbook/<name>``, or ``~/.cache/ntkbook/<name>`` if that is unset."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "ntkbook" / name


def _root_candidates(root: str | os.PathLike | None, label: str, sub: str) -> list[tuple]:
    if root is None or str(root) == "":
        return []
    path = Path(root).expanduser()
    return [(path, label), (path / sub, f"{label}, subfolder {sub}/")]


def _candidates(data_dir, sub: str, debian: Path | None) -> list[tuple[Path, str]]:
    places = _root_candidates(data_dir, "data_dir argument", sub)
    places += _root_candidates(os.environ.get(ENV_DATA), f"${ENV_DATA}", sub)
    if debian is not None:
        places.append((Path(debian), "Debian package dataset-fashion-mnist"))
    places.append((user_cache_dir(sub), "user cache"))
    return places


def _search(
    places: Iterable[tuple[Any, str]], load: Callable[[Any], _T], log: list[tuple[str, str]]
) -> _T | None:
    """The first ``load(place)`` that passes; every rejection is appended to ``log``."""
    for folder, label in places:
        try:
            return load(folder)
        except _Rejected as why:
            log.append((f"{folder} ({label})", str(why)))
    return None


def _resolve_url(base_url: str | None, env: str, default: str) -> str:
    url = base_url or os.environ.get(env) or default
    if not isinstance(url, str):
        raise ValueError(f"base_url must be a string URL, got {url!r}")
    return url


def _file_url(base_url: str, name: str) -> str:
    """URL of ``name`` under the folder ``base_url`` (or ``base_url`` itself if it names it)."""
    if base_url.rstrip("/").endswith("/" + name):
        return base_url
    return base_url.rstrip("/") + "/" + name


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")


# --------------------------------------------------------------------------- downloads


def _fetch(url: str, folder: Path, timeout: float) -> Path:
    """Download ``url`` into a new temporary file in ``folder``; deleted again on any failure."""
    fd, name = tempfile.mkstemp(dir=folder, prefix=".download-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            shutil.copyfileobj(resp, out)
            _check_length(resp.headers.get("Content-Length"), out.tell())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


def _check_length(content_length: str | None, received: int) -> None:
    """Raise if the server announced a length and sent fewer or more bytes (http.client won't)."""
    if content_length is not None and int(content_length) != received:
        raise OSError(f"incomplete download: {received} of {content_length} bytes")


def _fetch_reason(url: str, exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"download of {url} failed: HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"download of {url} failed: {exc.reason}"
    return f"download of {url} failed: {type(exc).__name__}: {exc}"


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return those created, outermost first."""
    missing = [p for p in (folder, *folder.parents) if not p.exists()][::-1]
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty(dirs: Sequence[Path]) -> None:
    """Remove the folders ``dirs`` (outermost first) again, innermost first, while empty."""
    for folder in reversed(dirs):
        try:
            folder.rmdir()
        except OSError:
            return


def _download_verified(
    urls: Mapping[str, str], folder: Path, verify: Callable[[Path, str], None], timeout: float
) -> None:
    """Download ``{file name: url}`` into ``folder``: all files are verified, then moved in.

    Raises:
        _Rejected: A download or a check failed; no new file is left in ``folder``, and folders
            created for it are removed again.
    """
    temps: dict[str, Path] = {}
    created: list[Path] = []
    done = False
    try:
        created = _make_dirs(folder)
        for name, url in urls.items():
            try:
                temps[name] = _fetch(url, folder, timeout)
            except _FETCH_ERRORS as exc:
                raise _Rejected(_fetch_reason(url, exc)) from None
            verify(temps[name], name)
        for name, tmp in temps.items():
            os.replace(tmp, folder / name)
        done = True
    except OSError as exc:
        raise _Rejected(f"cannot write to {folder}: {exc}") from None
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        if not done:
            _remove_empty(created)


# --------------------------------------------------------------------------- IDX files


def parse_idx(raw: bytes) -> np.ndarray:
    """Parse the bytes of an (uncompressed) IDX file.

    The header is two zero bytes, a type code (``0x08`` = uint8, ...), the number of
    dimensions ``d``, then ``d`` big-endian uint32 sizes; the data follow in C order. Labels
    have magic number 2049 (uint8, 1-D), images 2051 (uint8, 3-D).

    Args:
        raw: The file's bytes.

    Returns:
        A new array of shape ``(n0, ..., n{d-1})`` in native byte order.

    Raises:
        ValueError: Bad magic number, unknown type code, or a data length that does not match
            the header (truncated file or trailing bytes).
    """
    if len(raw) < 4 or raw[:2] != b"\x00\x00" or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        magic = int.from_bytes(raw[:4], "big") if len(raw) >= 4 else None
        raise ValueError(f"not an IDX file: bad magic number {magic!r}")
    ndim, dtype = raw[3], np.dtype(_IDX_DTYPES[raw[2]])
    start = 4 + 4 * ndim
    if len(raw) < start:
        raise ValueError(f"truncated IDX header: {ndim} dimensions need {start} bytes")
    shape = tuple(int(n) for n in np.frombuffer(raw, ">u4", ndim, 4))
    expected = start + math.prod(shape) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(f"IDX data of shape {shape}: expected {expected} bytes, got {len(raw)}")
    data = np.frombuffer(raw, dtype, offset=start).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if they start with the gzip magic (whatever the name)."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"corrupt gzip data: {exc}") from None
    return raw


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, gzipped or raw (see :func:`parse_idx`).

    Args:
        path: The file.

    Returns:
        The parsed array.

    Raises:
        ValueError: The file is not valid (gzip or IDX).
    """
    return parse_idx(_read_bytes(Path(path)))


# --------------------------------------------------------------------------- Fashion-MNIST


def _check_checksums(checksums: Mapping[str, str] | None) -> Mapping[str, str]:
    table = FASHION_MNIST_SHA256 if checksums is None else checksums
    missing = [n for n in FASHION_MNIST_FILES.values() if n not in table]
    if missing:
        raise ValueError(f"checksums lacks an entry for {missing}")
    for name in FASHION_MNIST_FILES.values():
        digest = table[name]
        if not (isinstance(digest, str) and len(digest) == 64 and _is_hex(digest)):
            raise ValueError(f"checksums[{name!r}] is not a sha256 hex digest: {digest!r}")
    return table


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


def _verified_idx(
    path: Path, name: str, checksums: Mapping[str, str], label: str = ""
) -> np.ndarray:
    """Parse ``path`` after checking the sha256 of its decompressed bytes.

    ``label`` names the file in messages (default: its file name).

    Raises:
        _Rejected: Unreadable, checksum mismatch, or malformed.
    """
    label = label or path.name
    try:
        raw = _read_bytes(path)
    except ValueError as exc:
        raise _Rejected(f"malformed {label}: {exc}") from None
    except OSError as exc:
        raise _Rejected(f"unreadable {label}: {exc}") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != checksums[name].lower():
        raise _Rejected(f"checksum mismatch for {label} (sha256 {digest[:12]}...)")
    try:
        return parse_idx(raw)
    except ValueError as exc:
        raise _Rejected(f"malformed {label}: {exc}") from None


def _load_idx_file(folder: Path, name: str, checksums: Mapping[str, str]) -> np.ndarray:
    """The first of ``name.gz`` and ``name`` in ``folder`` that passes its checks."""
    paths = [p for p in (folder / f"{name}.gz", folder / name) if p.is_file()]
    if not paths:
        raise _Rejected(f"missing {name}[.gz]")
    reasons = []
    for path in paths:
        try:
            return _verified_idx(path, name, checksums)
        except _Rejected as why:
            reasons.append(str(why))
    raise _Rejected("; ".join(reasons))


def _load_fashion_dir(folder: Path, checksums: Mapping[str, str]) -> FashionMNIST:
    if not folder.is_dir():
        raise _Rejected("missing (no such folder)")
    arrays = {f: _load_idx_file(folder, n, checksums) for f, n in FASHION_MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise _Rejected(
                f"malformed: {split} images {images.shape} do not match labels {labels.shape}"
            )
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise _Rejected(f"malformed: {split} files are not uint8 IDX (magic 2051/2049)")
    return FashionMNIST(**arrays, source=folder)


def _download_fashion(base_url: str, checksums: Mapping[str, str], timeout: float) -> FashionMNIST:
    folder = user_cache_dir("fashion-mnist")
    urls = {f"{n}.gz": _file_url(base_url, f"{n}.gz") for n in FASHION_MNIST_FILES.values()}

    def verify(path: Path, file_name: str) -> None:
        _verified_idx(path, file_name.removesuffix(".gz"), checksums, f"downloaded {file_name}")

    _download_verified(urls, folder, verify, timeout)
    return _load_fashion_dir(folder, checksums)


def load_fashion_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    base_url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> FashionMNIST:
    """Find, verify and read Fashion-MNIST (Xiao et al., 2017).

    Searches the places listed in the module docstring, in order, and reads the first folder
    whose four IDX files (``<name>`` or ``<name>.gz``) pass their sha256 checks and parse.

    Args:
        data_dir: Folder searched first (itself, then its ``fashion-mnist/`` subfolder).
        download: Download into the user cache when no searched place holds valid files.
        base_url: Folder URL to download ``<name>.gz`` from; default ``$NTKBOOK_FASHION_MNIST_URL``
            or :data:`FASHION_MNIST_URL`.
        checksums: File base name -> sha256 of its decompressed bytes; default
            :data:`FASHION_MNIST_SHA256` (tests pass a table for tiny self-made files).
        timeout: Seconds to wait for the server on each download.

    Returns:
        The four arrays: train images ``(60000, 28, 28)``, train labels ``(60000,)``, test images
        ``(10000, 28, 28)``, test labels ``(10000,)``, all uint8.

    Raises:
        DataNotFoundError: No valid copy found and downloading was off or failed.
        ValueError: Invalid arguments.
    """
    table = _check_checksums(checksums)
    _check_timeout(timeout)
    log: list[tuple[str, str]] = []
    places = _candidates(data_dir, "fashion-mnist", DEBIAN_FASHION_MNIST_DIR)
    found = _search(places, lambda folder: _load_fashion_dir(folder, table), log)
    if found is not None:
        return found
    if download:
        url = _resolve_url(base_url, ENV_FASHION_MNIST_URL, FASHION_MNIST_URL)
        found = _search([(url, "download")], lambda u: _download_fashion(u, table, timeout), log)
        if found is not None:
            return found
    else:
        log.append(("download", "not attempted (download=False)"))
    raise DataNotFoundError.from_search("Fashion-MNIST", log, _FASHION_FIX)


_FASHION_FIX = (
    "install Debian's package (apt-get install -y dataset-fashion-mnist), or set "
    f"{ENV_DATA}=/path/to/folder holding the four IDX files (or a fashion-mnist/ subfolder), "
    f"or go online and call with download=True (set {ENV_FASHION_MNIST_URL} to use a mirror)."
)


# --------------------------------------------------------------------------- Wine Quality


def parse_wine_csv(text: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Parse a Wine Quality CSV: UCI's ``;``-separated or a ``,``-separated copy.

    The delimiter is sniffed from the header line; quotes around names are removed.

    Args:
        text: The file's text.

    Returns:
        ``(header, values)``: the column names and a ``(rows, columns)`` float64 array.

    Raises:
        ValueError: Empty file, rows of the wrong width, or a value that is not a number.
    """
    lines = [line for line in text.lstrip("\ufeff").splitlines() if line.strip()]
    if len(lines) < 2:
        raise ValueError("no header and data rows")
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = tuple(name.strip() for name in rows[0])
    bad = [i for i, row in enumerate(rows[1:], 2) if len(row) != len(header)]
    if bad:
        raise ValueError(f"line {bad[0]} does not have the header's {len(header)} fields")
    try:
        values = np.array(rows[1:], dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"non-numeric value: {exc}") from None
    return header, values


def _check_counts(counts: Mapping[int, int] | None) -> dict[int, int]:
    table = WINE_QUALITY_COUNTS if counts is None else counts
    ints = (int, np.integer)
    if not table or not all(
        isinstance(k, ints) and isinstance(n, ints) and n > 0 for k, n in table.items()
    ):
        raise ValueError(f"expected_counts must map scores to positive counts, got {table!r}")
    return {int(k): int(v) for k, v in table.items()}


def _wine_from_table(
    header: tuple[str, ...], values: np.ndarray, counts: Mapping[int, int], source: Path
) -> WineQuality:
    """Check the structure of a parsed table and split off ``quality``.

    Raises:
        ValueError: Wrong columns, row count or quality counts.
    """
    if len(header) != 12 or "quality" not in header:
        raise ValueError(f"expected 12 columns including 'quality', got {list(header)}")
    if len(values) != sum(counts.values()):
        raise ValueError(f"expected {sum(counts.values())} rows, got {len(values)}")
    q = header.index("quality")
    quality = values[:, q]
    if not np.all(quality == np.round(quality)):
        raise ValueError("quality scores are not all integers")
    scores, found = np.unique(quality.astype(np.int64), return_counts=True)
    got = dict(zip(scores.tolist(), found.tolist(), strict=True))
    if got != dict(counts):
        raise ValueError(f"quality counts {got} differ from the expected {dict(counts)}")
    names = header[:q] + header[q + 1 :]
    return WineQuality(np.delete(values, q, axis=1), quality.copy(), names, source)


def _read_wine_file(path: Path, counts: Mapping[int, int], label: str = "") -> WineQuality:
    """Read and check one ``winequality-red.csv``.

    ``label`` names the file in messages (default: its file name).

    Raises:
        _Rejected: Missing, unreadable or malformed.
    """
    label = label or path.name
    if not path.is_file():
        raise _Rejected(f"missing {label}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _Rejected(f"unreadable {label}: {exc}") from None
    try:
        return _wine_from_table(*parse_wine_csv(text), counts, path)
    except ValueError as exc:
        raise _Rejected(f"malformed {label}: {exc}") from None


def _download_wine(url: str, counts: Mapping[int, int], timeout: float) -> WineQuality:
    folder = user_cache_dir("wine-quality")
    urls = {WINE_QUALITY_FILE: _file_url(url, WINE_QUALITY_FILE)}

    def verify(path: Path, file_name: str) -> None:
        _read_wine_file(path, counts, f"downloaded {file_name}")

    _download_verified(urls, folder, verify, timeout)
    return _read_wine_file(folder / WINE_QUALITY_FILE, counts)


def load_wine_quality(
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = True,
    base_url: str | None = None,
    expected_counts: Mapping[int, int] | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
) -> WineQuality:
    """Find, check and read UCI Wine Quality, red wines (Cortez et al., 2009).

    Searches ``winequality-red.csv`` in: ``data_dir`` (itself, then ``wine-quality/``),
    ``$NTKBOOK_DATA`` (the same two), the user cache ``~/.cache/ntkbook/wine-quality``, then
    downloads it into the user cache when ``download`` is true. A file counts if it parses
    (``;`` or ``,`` separated), has 12 columns including ``quality``, and its quality counts
    equal ``expected_counts`` (which also fixes the number of rows).

    Args:
        data_dir: Folder searched first.
        download: Download into the user cache when no searched place holds a valid file.
        base_url: Folder URL holding ``winequality-red.csv`` (or the file's full URL); default
            ``$NTKBOOK_WINE_URL`` or :data:`WINE_QUALITY_URL`.
        expected_counts: Quality score -> count; default :data:`WINE_QUALITY_COUNTS`.
        timeout: Seconds to wait for the server on the download.

    Returns:
        Features ``(1599, 11)`` float64, quality ``(1599,)`` float64 and the feature names.

    Raises:
        DataNotFoundError: No valid copy found and downloading was off or failed.
        ValueError: Invalid arguments.
    """
    counts = _check_counts(expected_counts)
    _check_timeout(timeout)
    log: list[tuple[str, str]] = []
    places = _candidates(data_dir, "wine-quality", None)
    found = _search(places, lambda d: _read_wine_file(d / WINE_QUALITY_FILE, counts), log)
    if found is not None:
        return found
    if download:
        url = _resolve_url(base_url, ENV_WINE_URL, WINE_QUALITY_URL)
        found = _search([(url, "download")], lambda u: _download_wine(u, counts, timeout), log)
        if found is not None:
            return found
    else:
        log.append(("download", "not attempted (download=False)"))
    raise DataNotFoundError.from_search("Wine Quality (red)", log, _WINE_FIX)


_WINE_FIX = (
    f"set {ENV_DATA}=/path/to/folder holding {WINE_QUALITY_FILE} (or a wine-quality/ "
    f"subfolder), or go online and call with download=True (set {ENV_WINE_URL} to use a mirror)."
)


# --------------------------------------------------------------------------- splits


def _check_sizes(sizes: Sequence[int], n: int) -> tuple[int, int, int]:
    if len(sizes) != 3 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
        raise ValueError(f"sizes must be three positive integers, got {sizes!r}")
    if sum(sizes) != n:
        raise ValueError(f"sizes {tuple(sizes)} must add up to the {n} examples")
    return int(sizes[0]), int(sizes[1]), int(sizes[2])


def _check_seed(seed: int) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _split_indices(n: int, sizes: tuple[int, int, int], seed: int) -> dict[str, np.ndarray]:
    """Disjoint ``train``/``val``/``test`` index arrays of a seeded permutation of ``range(n)``."""
    perm = np.random.default_rng(seed).permutation(n)
    ends = np.cumsum(sizes)
    return {"train": perm[: ends[0]], "val": perm[ends[0] : ends[1]], "test": perm[ends[1] :]}


def _check_fashion(data: FashionMNIST) -> None:
    if not isinstance(data, FashionMNIST):
        raise TypeError(f"data must be a FashionMNIST (from load_fashion_mnist), got {data!r}")


def fashion_mnist_splits(
    data: FashionMNIST, seed: int = 0, *, sizes: Sequence[int] = (42000, 14000, 14000)
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pooled, shuffled train/validation/test splits of Fashion-MNIST (Sarvanau, 2025).

    As in Sarvanau's thesis: all 70,000 images (train then test file) are pooled, flattened to
    784 pixels, scaled to [0, 1] by dividing by 255 (float32), shuffled with
    ``np.random.default_rng(seed).permutation`` and cut into 42,000 / 14,000 / 14,000 examples.

    Args:
        data: The data set from :func:`load_fashion_mnist`.
        seed: Seed of the shuffle.
        sizes: Sizes of train, validation and test; they must add up to all pooled images.

    Returns:
        ``{"train": (x, y), "val": (x, y), "test": (x, y)}`` with ``x`` of shape ``(n, 784)``
        float32 and ``y`` of shape ``(n,)`` int64 labels.

    Raises:
        TypeError: ``data`` is not a :class:`FashionMNIST`.
        ValueError: Bad seed or sizes.
    """
    _check_fashion(data)
    _check_seed(seed)
    images = np.concatenate([data.train_images, data.test_images])
    labels = np.concatenate([data.train_labels, data.test_labels]).astype(np.int64)
    index = _split_indices(len(images), _check_sizes(sizes, len(images)), seed)
    x = images.reshape(len(images), -1)
    return {k: (_scaled_pixels(x[i], np.float32), labels[i]) for k, i in index.items()}


def _scaled_pixels(pixels: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """``pixels / 255`` as a new array of ``dtype`` (divided in that dtype, in place)."""
    out = pixels.astype(dtype)
    out /= np.asarray(255, dtype=dtype)
    return out


def _check_wine_arrays(features: np.ndarray, quality: np.ndarray) -> None:
    if features.ndim != 2 or quality.ndim != 1 or len(features) != len(quality):
        raise ValueError(
            f"need features (n, d) and quality (n,), got {features.shape} and {quality.shape}"
        )
    if not (np.all(np.isfinite(features)) and np.all(np.isfinite(quality))):
        raise ValueError("features and quality must be finite")


def wine_splits(
    features: np.ndarray,
    quality: np.ndarray,
    seed: int = 0,
    *,
    sizes: Sequence[int] = (959, 320, 320),
) -> dict[str, object]:
    """Shuffled, standardised train/validation/test splits of Wine Quality (red).

    The 1599 wines are shuffled with ``np.random.default_rng(seed).permutation`` and cut into
    959 / 320 / 320 (60 / 20 / 20 %). As with scikit-learn's ``StandardScaler`` fitted on the
    training split only, every feature is centred by the train mean and divided by the train
    standard deviation (``ddof=0``; a zero deviation is replaced by 1). Targets are the raw
    quality scores as float64.

    Args:
        features: ``(n, d)`` features, e.g. ``WineQuality.features``.
        quality: ``(n,)`` quality scores.
        seed: Seed of the shuffle.
        sizes: Sizes of train, validation and test; they must add up to ``n``.

    Returns:
        ``{"train": (x, y), "val": (x, y), "test": (x, y), "mean": (d,), "std": (d,)}`` with
        ``x`` of shape ``(n_split, d)`` and ``y`` of shape ``(n_split,)``, all float64.

    Raises:
        ValueError: Bad shapes, non-finite values, seed or sizes.
    """
    features = np.asarray(features, dtype=np.float64)
    quality = np.asarray(quality, dtype=np.float64)
    _check_wine_arrays(features, quality)
    _check_seed(seed)
    index = _split_indices(len(features), _check_sizes(sizes, len(features)), seed)
    mean = features[index["train"]].mean(axis=0)
    std = features[index["train"]].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    result: dict[str, object] = {
        k: ((features[i] - mean) / std, quality[i].copy()) for k, i in index.items()
    }
    return result | {"mean": mean, "std": std}


def berg_subset(
    data: FashionMNIST,
    n_per_class: int = 100,
    classes: Sequence[int] = (0, 9),
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """The small binary Fashion-MNIST problem of Berg (2024).

    The first ``n_per_class`` training images (in file order) of ``classes[0]`` (default
    0, T-shirt/top) followed by the first ``n_per_class`` of ``classes[1]`` (default 9, ankle
    boot), flattened and divided by 255, with targets 0.0 and 1.0.

    Args:
        data: The data set from :func:`load_fashion_mnist`.
        n_per_class: Images taken per class.
        classes: The two labels, mapped to targets 0.0 and 1.0.
        dtype: Floating dtype of the returned arrays.

    Returns:
        ``(x, y)``: ``x`` of shape ``(2 * n_per_class, 784)`` in [0, 1], ``y`` of shape
        ``(2 * n_per_class,)``, sorted by class.

    Raises:
        TypeError: ``data`` is not a :class:`FashionMNIST`.
        ValueError: Bad ``n_per_class``, ``classes`` or ``dtype``, or too few images of a class.
    """
    _check_fashion(data)
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if len(classes) != 2 or classes[0] == classes[1] or not set(classes) <= set(range(10)):
        raise ValueError(f"classes must be two different labels in 0..9, got {classes!r}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    index = [_first_of_class(data.train_labels, c, n_per_class) for c in classes]
    x = data.train_images[np.concatenate(index)].reshape(2 * n_per_class, -1)
    y = np.repeat(np.array([0, 1], dtype=dtype), n_per_class)
    return _scaled_pixels(x, dtype), y


def _first_of_class(labels: np.ndarray, label: int, n: int) -> np.ndarray:
    found = np.flatnonzero(labels == label)[:n]
    if len(found) < n:
        raise ValueError(f"only {len(found)} training images of class {label}, need {n}")
    return found
