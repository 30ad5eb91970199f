"""Fashion-MNIST (Xiao et al., 2017): found, verified by checksum, and read from its IDX files.

:func:`load_fashion_mnist` searches for the four IDX files, gzipped or raw, in:

1. the ``data_dir`` argument (the folder itself, then its ``fashion-mnist/`` subfolder);
2. ``$NTKBOOK_DATA`` (the folder itself, then its ``fashion-mnist/`` subfolder);
3. :data:`DEBIAN_FASHION_MNIST_DIR`, filled by ``apt-get install dataset-fashion-mnist``;
4. the user cache ``$XDG_CACHE_HOME/ntkbook/fashion-mnist`` (default ``~/.cache/...``);
5. a download into the user cache, when ``download`` is true.

Each file is verified by the sha256 of its *decompressed* bytes (:data:`FASHION_MNIST_SHA256`;
Debian rewrote the gzip headers, so the compressed bytes differ from upstream's) and parsed with
a strict IDX parser (:func:`ntkbook.data.formats.parse_idx`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntkbook.data.fetch import (
    DOWNLOAD_TIMEOUT,
    ENV_DATA,
    DataNotFoundError,
    Rejected,
    candidates,
    check_timeout,
    download_verified,
    file_url,
    resolve_url,
    search,
    sha256_hex,
    user_cache_dir,
)
from ntkbook.data.formats import parse_idx, read_bytes

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_URL",
    "FashionMNIST",
    "load_fashion_mnist",
]

ENV_FASHION_MNIST_URL = "NTKBOOK_FASHION_MNIST_URL"
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
        Rejected: Unreadable, checksum mismatch, or malformed.
    """
    label = label or path.name
    try:
        raw = read_bytes(path)
    except ValueError as exc:
        raise Rejected(f"malformed {label}: {exc}") from None
    except OSError as exc:
        raise Rejected(f"unreadable {label}: {exc}") from None
    digest = sha256_hex(raw)
    if digest != checksums[name].lower():
        raise Rejected(f"checksum mismatch for {label} (sha256 {digest[:12]}...)")
    try:
        return parse_idx(raw)
    except ValueError as exc:
        raise Rejected(f"malformed {label}: {exc}") from None


def _load_idx_file(folder: Path, name: str, checksums: Mapping[str, str]) -> np.ndarray:
    """The first of ``name.gz`` and ``name`` in ``folder`` that passes its checks."""
    paths = [p for p in (folder / f"{name}.gz", folder / name) if p.is_file()]
    if not paths:
        raise Rejected(f"missing {name}[.gz]")
    reasons = []
    for path in paths:
        try:
            return _verified_idx(path, name, checksums)
        except Rejected as why:
            reasons.append(str(why))
    raise Rejected("; ".join(reasons))


def _load_fashion_dir(folder: Path, checksums: Mapping[str, str]) -> FashionMNIST:
    if not folder.is_dir():
        raise Rejected("missing (no such folder)")
    arrays = {f: _load_idx_file(folder, n, checksums) for f, n in FASHION_MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise Rejected(
                f"malformed: {split} images {images.shape} do not match labels {labels.shape}"
            )
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise Rejected(f"malformed: {split} files are not uint8 IDX (magic 2051/2049)")
    return FashionMNIST(**arrays, source=folder)


def _download_fashion(base_url: str, checksums: Mapping[str, str], timeout: float) -> FashionMNIST:
    folder = user_cache_dir("fashion-mnist")
    urls = {f"{n}.gz": file_url(base_url, f"{n}.gz") for n in FASHION_MNIST_FILES.values()}

    def verify(path: Path, file_name: str) -> None:
        _verified_idx(path, file_name.removesuffix(".gz"), checksums, f"downloaded {file_name}")

    download_verified(urls, folder, verify, timeout)
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
    check_timeout(timeout)
    log: list[tuple[str, str]] = []
    debian = [(DEBIAN_FASHION_MNIST_DIR, "Debian package dataset-fashion-mnist")]
    places = candidates(data_dir, "fashion-mnist", debian)
    found = search(places, lambda folder: _load_fashion_dir(folder, table), log)
    if found is not None:
        return found
    if download:
        url = resolve_url(base_url, ENV_FASHION_MNIST_URL, FASHION_MNIST_URL)
        found = search([(url, "download")], lambda u: _download_fashion(u, table, timeout), log)
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
