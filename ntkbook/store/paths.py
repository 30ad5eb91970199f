"""Where things are: the book's checkout, the user cache and the result cache, in one place.

* :func:`checkout`: the folder holding ``_toc.yml`` and ``book/`` (the repository), found from a
  start folder upwards, else the checkout this package was imported from, else None (an
  installed wheel has no book).
* :func:`user_cache_dir`: ``$XDG_CACHE_HOME/ntkbook/<name>``, default ``~/.cache/ntkbook/<name>``
  (downloaded data sets live here).
* :func:`default_cache_dir`: where cached results go: ``$NTKBOOK_CACHE``, else
  ``<checkout>/_build/cache``, else ``user_cache_dir("results")``.
"""

from __future__ import annotations

import os
from pathlib import Path

#: The ``ntkbook`` package folder.
PACKAGE_DIR = Path(__file__).resolve().parent.parent
ENV_CACHE = "NTKBOOK_CACHE"


def _is_checkout(folder: Path) -> bool:
    return (folder / "_toc.yml").is_file() and (folder / "book").is_dir()


def checkout(start: str | os.PathLike | None = None) -> Path | None:
    """The book's checkout: the first folder holding ``_toc.yml`` and ``book/`` from ``start``
    (default: the working directory) upwards, else the checkout this package was imported from,
    else None."""
    first = Path(start or Path.cwd()).resolve()
    for folder in (first, *first.parents, PACKAGE_DIR.parent):
        if _is_checkout(folder):
            return folder
    return None


def user_cache_dir(name: str = "") -> Path:
    """``$XDG_CACHE_HOME/ntkbook/<name>``, or ``~/.cache/ntkbook/<name>`` if that is unset or
    not an absolute path (as the XDG specification says)."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return root / "ntkbook" / name if name else root / "ntkbook"


def default_cache_dir() -> Path:
    """``$NTKBOOK_CACHE``, else ``_build/cache`` in the package's checkout, else
    ``~/.cache/ntkbook/results`` (see :func:`user_cache_dir`)."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE])
    if _is_checkout(PACKAGE_DIR.parent):
        return PACKAGE_DIR.parent / "_build" / "cache"
    return user_cache_dir("results")
