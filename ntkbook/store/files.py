"""Files written atomically: through a temporary file in the same folder and a rename, so that a
reader never sees a half-written file. JSON goes through the one codec,
:func:`ntkbook.store.codec.to_builtin` (NaN/Inf become null)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ntkbook.store.codec import to_builtin

__all__ = ["atomic_write_json", "atomic_write_text", "to_builtin"]


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (NaN/Inf as null, via
    :func:`~ntkbook.store.codec.to_builtin`)."""
    return atomic_write_text(path, json.dumps(to_builtin(obj), indent=2, allow_nan=False) + "\n")
