"""Finding a data set: the places searched, the error that lists them, verified downloads.

A loader lists candidate places in order (:func:`candidates`) and takes the first one whose files
pass its checks (:func:`search`); a place that fails raises :class:`Rejected`, which is logged
and skipped. When nothing passes, :meth:`DataNotFoundError.from_search` names every place, why
it was rejected, and how to fix it.

Downloads (:func:`download_verified`) use :mod:`urllib` with a timeout, write to a temporary file
in the cache folder, verify it, and only then move it into place with :func:`os.replace`: the
cache never holds a partial or unverified file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ntkbook.store.paths import user_cache_dir

__all__ = [
    "DOWNLOAD_TIMEOUT",
    "ENV_DATA",
    "DataNotFoundError",
    "Rejected",
    "candidates",
    "check_timeout",
    "download_verified",
    "file_url",
    "resolve_url",
    "search",
    "sha256_hex",
    "user_cache_dir",
]

ENV_DATA = "NTKBOOK_DATA"
DOWNLOAD_TIMEOUT = 30.0
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


class Rejected(Exception):
    """A candidate place failed its checks (the reason is the message); the search goes on."""


def sha256_hex(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --------------------------------------------------------------------------- places to search


def _root_candidates(root: str | os.PathLike | None, label: str, sub: str) -> list[tuple]:
    if root is None or str(root) == "":
        return []
    path = Path(root).expanduser()
    return [(path, label), (path / sub, f"{label}, subfolder {sub}/")]


def candidates(
    data_dir: str | os.PathLike | None, sub: str, shipped: Sequence[tuple[Path, str]] = ()
) -> list[tuple[Path, str]]:
    """``(folder, label)`` in search order: ``data_dir`` and ``$NTKBOOK_DATA`` (each itself, then
    its ``sub`` folder), the ``shipped`` places (a system package, the package's own copy), then
    the user cache ``user_cache_dir(sub)``."""
    places = _root_candidates(data_dir, "data_dir argument", sub)
    places += _root_candidates(os.environ.get(ENV_DATA), f"${ENV_DATA}", sub)
    places += [(Path(folder), label) for folder, label in shipped]
    places.append((user_cache_dir(sub), "user cache"))
    return places


def search(
    places: Iterable[tuple[Any, str]], load: Callable[[Any], _T], log: list[tuple[str, str]]
) -> _T | None:
    """The first ``load(place)`` that passes; every rejection is appended to ``log``."""
    for folder, label in places:
        try:
            return load(folder)
        except Rejected as why:
            log.append((f"{folder} ({label})", str(why)))
    return None


def resolve_url(base_url: str | None, env: str, default: str) -> str:
    """``base_url``, else ``$env``, else ``default``."""
    url = base_url or os.environ.get(env) or default
    if not isinstance(url, str):
        raise ValueError(f"base_url must be a string URL, got {url!r}")
    return url


def file_url(base_url: str, name: str) -> str:
    """URL of ``name`` under the folder ``base_url`` (or ``base_url`` itself if it names it)."""
    if base_url.rstrip("/").endswith("/" + name):
        return base_url
    return base_url.rstrip("/") + "/" + name


def check_timeout(timeout: float) -> None:
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


def download_verified(
    urls: Mapping[str, str], folder: Path, verify: Callable[[Path, str], None], timeout: float
) -> None:
    """Download ``{file name: url}`` into ``folder``: all files are verified, then moved in.

    Raises:
        Rejected: A download or a check failed; no new file is left in ``folder``, and folders
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
                raise Rejected(_fetch_reason(url, exc)) from None
            verify(temps[name], name)
        for name, tmp in temps.items():
            os.replace(tmp, folder / name)
        done = True
    except OSError as exc:
        raise Rejected(f"cannot write to {folder}: {exc}") from None
    finally:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        if not done:
            _remove_empty(created)
