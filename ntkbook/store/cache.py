"""Results cached as JSON under a content hash of their inputs and of the code that made them.

The key is :func:`ntkbook.store.hashing.content_hash` (re-exported here as :func:`content_hash`);
the folder is :func:`ntkbook.store.paths.default_cache_dir` unless a caller names one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ntkbook.store.files import atomic_write_json
from ntkbook.store.hashing import content_hash
from ntkbook.store.paths import default_cache_dir

__all__ = ["content_hash", "default_cache_dir", "load_json", "save_json"]


def load_json(cache_dir: Path | None, kind: str, key: str) -> Any | None:
    """The cached value of ``kind``/``key``, or None (also for a damaged entry)."""
    if cache_dir is None:
        return None
    path = Path(cache_dir) / kind / f"{key}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return None  # a damaged entry is recomputed


def save_json(cache_dir: Path | None, kind: str, key: str, value: Any) -> None:
    """Store ``value`` (see :func:`~ntkbook.store.files.atomic_write_json`) as ``kind``/``key``."""
    if cache_dir is not None:
        atomic_write_json(Path(cache_dir) / kind / f"{key}.json", value)
