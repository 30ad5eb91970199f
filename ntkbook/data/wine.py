"""UCI Wine Quality, red wines (Cortez et al., 2009): shipped with the package, found, verified.

:func:`load_wine_quality` searches ``winequality-red.csv`` in:

1. the ``data_dir`` argument (the folder itself, then its ``wine-quality/`` subfolder);
2. ``$NTKBOOK_DATA`` (the same two);
3. the copy shipped inside the package, :data:`PACKAGED_WINE_DIR` (``ntkbook/data/files``, with
   its citation and licence, CC BY 4.0, beside it), verified by :data:`WINE_QUALITY_SHA256`;
4. the user cache ``$XDG_CACHE_HOME/ntkbook/wine-quality`` (default ``~/.cache/...``);
5. a download into the user cache, when ``download`` is true.

Every copy is also verified by structure: 12 columns including ``quality``, 1599 rows, and the
quality counts :data:`WINE_QUALITY_COUNTS`. UCI's ``;``-separated file and a ``,``-separated
copy are both read.
"""

from __future__ import annotations

import os
import warnings
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
from ntkbook.data.formats import parse_wine_csv

__all__ = [
    "PACKAGED_WINE_DIR",
    "WINE_QUALITY_COUNTS",
    "WINE_QUALITY_FILE",
    "WINE_QUALITY_SHA256",
    "WINE_QUALITY_URL",
    "WineQuality",
    "load_wine_quality",
]

ENV_WINE_URL = "NTKBOOK_WINE_URL"
WINE_QUALITY_FILE = "winequality-red.csv"
#: The package's own copy of ``winequality-red.csv`` lives here (package data).
PACKAGED_WINE_DIR = Path(__file__).resolve().parent / "files"
#: sha256 of the packaged ``winequality-red.csv``.
WINE_QUALITY_SHA256 = "d6a0d9bd24806944818795f22500c46cb6424cbff517aacda36595d3ed9b2daa"
#: UCI's folder holding ``winequality-red.csv``.
WINE_QUALITY_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/wine-quality/"
#: Quality score -> number of red wines with it (1599 in all).
WINE_QUALITY_COUNTS = {3: 10, 4: 53, 5: 681, 6: 638, 7: 199, 8: 18}

_PACKAGED = "packaged copy"


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


def _read_wine_file(
    path: Path, counts: Mapping[int, int], label: str = "", sha256: str | None = None
) -> WineQuality:
    """Read and check one ``winequality-red.csv`` (and its sha256, when given).

    ``label`` names the file in messages (default: its file name).

    Raises:
        Rejected: Missing, unreadable, checksum mismatch or malformed.
    """
    label = label or path.name
    if not path.is_file():
        raise Rejected(f"missing {label}")
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise Rejected(f"unreadable {label}: {exc}") from None
    if sha256 is not None and sha256_hex(raw) != sha256:
        raise Rejected(
            f"checksum mismatch for {label} {path} (sha256 {sha256_hex(raw)[:12]}..., expected "
            f"{sha256[:12]}...): {_PACKAGED_FIX}"
        )
    try:
        return _wine_from_table(*parse_wine_csv(text), counts, path)
    except ValueError as exc:
        raise Rejected(f"malformed {label}: {exc}") from None


def _read_wine_place(folder: Path, counts: Mapping[int, int]) -> WineQuality:
    """``winequality-red.csv`` in ``folder``; the packaged copy is also checked by sha256."""
    if folder == PACKAGED_WINE_DIR:
        return _read_wine_file(folder / WINE_QUALITY_FILE, counts, f"packaged {WINE_QUALITY_FILE}",
                               WINE_QUALITY_SHA256)
    return _read_wine_file(folder / WINE_QUALITY_FILE, counts)


def _download_wine(url: str, counts: Mapping[int, int], timeout: float) -> WineQuality:
    folder = user_cache_dir("wine-quality")
    urls = {WINE_QUALITY_FILE: file_url(url, WINE_QUALITY_FILE)}

    def verify(path: Path, file_name: str) -> None:
        _read_wine_file(path, counts, f"downloaded {file_name}")

    download_verified(urls, folder, verify, timeout)
    return _read_wine_file(folder / WINE_QUALITY_FILE, counts)


def _warn_if_packaged_copy_damaged(log: list[tuple[str, str]]) -> None:
    for place, why in log:
        if place.endswith(f"({_PACKAGED})") and why.startswith("checksum mismatch"):
            warnings.warn(f"Wine Quality: {why}", RuntimeWarning, stacklevel=3)


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
    ``$NTKBOOK_DATA`` (the same two), the copy shipped in the package (checked by its sha256),
    the user cache ``~/.cache/ntkbook/wine-quality``, then downloads it into the user cache when
    ``download`` is true. A file counts if it parses (``;`` or ``,`` separated), has 12 columns
    including ``quality``, and its quality counts equal ``expected_counts`` (which also fixes
    the number of rows). A damaged packaged copy is skipped with a warning.

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
    check_timeout(timeout)
    log: list[tuple[str, str]] = []
    places = candidates(data_dir, "wine-quality", [(PACKAGED_WINE_DIR, _PACKAGED)])
    found = search(places, lambda d: _read_wine_place(d, counts), log)
    if found is None and download:
        url = resolve_url(base_url, ENV_WINE_URL, WINE_QUALITY_URL)
        found = search([(url, "download")], lambda u: _download_wine(u, counts, timeout), log)
    elif found is None:
        log.append(("download", "not attempted (download=False)"))
    if found is None:
        raise DataNotFoundError.from_search("Wine Quality (red)", log, _WINE_FIX)
    _warn_if_packaged_copy_damaged(log)
    return found


_PACKAGED_FIX = (
    "the installed package is damaged; in a git checkout restore it with "
    f"`git checkout -- ntkbook/data/files/{WINE_QUALITY_FILE}`, else reinstall ntkbook "
    "(pip install --force-reinstall ntkbook)"
)
_WINE_FIX = (
    f"restore the packaged copy ({_PACKAGED_FIX}), or set {ENV_DATA}=/path/to/folder holding "
    f"{WINE_QUALITY_FILE} (or a wine-quality/ subfolder), or go online and call with "
    f"download=True (set {ENV_WINE_URL} to use a mirror)."
)
