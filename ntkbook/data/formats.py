"""File formats of the data sets: IDX (Fashion-MNIST, gzipped or raw) and the Wine Quality CSV."""

from __future__ import annotations

import csv
import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["parse_idx", "parse_wine_csv", "read_bytes", "read_idx"]

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


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


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if they start with the gzip magic (whatever the name).

    Raises:
        ValueError: Corrupt gzip data.
        OSError: The file cannot be read.
    """
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
    return parse_idx(read_bytes(Path(path)))


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
