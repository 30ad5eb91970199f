"""Results cached by a content hash of their inputs and of the code that made them."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ntkbook.store.files import atomic_write_json


def default_cache_dir() -> Path:
    """``$NTKBOOK_CACHE``, else ``_build/cache`` in the checkout, else ``~/.cache/ntkbook``."""
    if os.environ.get("NTKBOOK_CACHE"):
        return Path(os.environ["NTKBOOK_CACHE"])
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "_toc.yml").is_file():
        return checkout / "_build" / "cache"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ntkbook" / "results"


def content_hash(*parts: Any, code: tuple[ModuleType, ...] = ()) -> str:
    """SHA-256 over ``parts`` (arrays by dtype, shape and bytes; the rest as JSON) and the source
    files of the modules in ``code``."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(f"{part.dtype}{part.shape}".encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(json.dumps(part, sort_keys=True, default=str).encode())
    for module in code:
        digest.update(Path(module.__file__).read_bytes())
    return digest.hexdigest()


def load_json(cache_dir: Path | None, kind: str, key: str) -> Any | None:
    """The cached value of ``kind``/``key``, or None."""
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
    if cache_dir is not None:
        atomic_write_json(Path(cache_dir) / kind / f"{key}.json", value)
