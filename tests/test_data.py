"""Tests of ntkbook.data: IDX parsing, the search order, checksums, downloads, CSVs and splits.

Everything runs on tiny files written here and a local HTTP server on 127.0.0.1; the real data
sets are checked where they are: Wine Quality always (it ships with the package), Fashion-MNIST
where Debian's dataset-fashion-mnist is installed, and a winequality-red.csv named by
$NTKBOOK_DATA when set.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import ntkbook.data.fashion_mnist as fm
import ntkbook.data.wine as wine_module
from ntkbook import data

REAL_DEBIAN_DIR = fm.DEBIAN_FASHION_MNIST_DIR
REAL_PACKAGED_WINE_DIR = wine_module.PACKAGED_WINE_DIR
REAL_DATA_ENV = os.environ.get("NTKBOOK_DATA", "")
NAMES = list(data.FASHION_MNIST_FILES.values())
N_TRAIN, N_TEST = 12, 8
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


# --------------------------------------------------------------------------- helpers


def idx_bytes(array: np.ndarray, type_code: int = 0x08, dtype: str = ">u1") -> bytes:
    """An IDX file's bytes, written independently of the parser under test."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_file(path: Path, raw: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


def tiny_arrays() -> dict[str, np.ndarray]:
    """Tiny Fashion-MNIST: image k is filled with the value k, labels are k % 10."""
    n = N_TRAIN + N_TEST
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None], (n, 28, 28))
    labels = (np.arange(n) % 10).astype(np.uint8)
    return {
        "train-images-idx3-ubyte": images[:N_TRAIN],
        "train-labels-idx1-ubyte": labels[:N_TRAIN],
        "t10k-images-idx3-ubyte": images[N_TRAIN:],
        "t10k-labels-idx1-ubyte": labels[N_TRAIN:],
    }


TINY_RAW = {name: idx_bytes(array) for name, array in tiny_arrays().items()}
TINY_SHA256 = {name: hashlib.sha256(raw).hexdigest() for name, raw in TINY_RAW.items()}


def make_fashion_dir(folder: Path, gz: bool = True) -> Path:
    for name, raw in TINY_RAW.items():
        write_file(folder / (name + ".gz" if gz else name), raw, gz)
    return folder


def load_tiny(*args, **kwargs) -> data.FashionMNIST:
    kwargs.setdefault("download", False)
    return data.load_fashion_mnist(*args, checksums=TINY_SHA256, **kwargs)


WINE_NAMES = [
    "fixed acidity", "volatile acidity", "citric acid", "residual sugar", "chlorides",
    "free sulfur dioxide", "total sulfur dioxide", "density", "pH", "sulphates", "alcohol",
]  # fmt: skip
WINE_QUALITY = [5, 5, 5, 6, 6, 7]
WINE_COUNTS = {5: 3, 6: 2, 7: 1}
WINE_FEATURES = np.arange(6)[:, None] + np.arange(11)[None, :] / 8.0


def wine_csv(delimiter: str) -> str:
    """A tiny CSV in UCI's format (';', quoted names) or the plain comma format."""
    quote = '"' if delimiter == ";" else ""
    lines = [delimiter.join(f"{quote}{n}{quote}" for n in [*WINE_NAMES, "quality"])]
    for row, q in zip(WINE_FEATURES, WINE_QUALITY, strict=True):
        lines.append(delimiter.join([*(repr(float(v)) for v in row), str(q)]))
    return "\n".join(lines) + "\n"


def write_wine(folder: Path, delimiter: str = ",") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / data.WINE_QUALITY_FILE
    path.write_text(wine_csv(delimiter))
    return path


def cache_dir(name: str) -> Path:
    return data.user_cache_dir(name)


def cache_is_clean(name: str) -> bool:
    """No file at all (neither partial nor final) in the user cache folder ``name``."""
    folder = cache_dir(name)
    return not folder.exists() or not any(folder.iterdir())


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """No real data places: HOME, XDG cache, Debian folder, the packaged Wine copy and env vars
    all point into tmp."""
    for var in ("NTKBOOK_DATA", "NTKBOOK_FASHION_MNIST_URL", "NTKBOOK_WINE_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
        monkeypatch.delenv(var.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(fm, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "debian")
    monkeypatch.setattr(wine_module, "PACKAGED_WINE_DIR", tmp_path / "package")
    return tmp_path


@pytest.fixture
def server():
    """A ThreadingHTTPServer on 127.0.0.1 serving ``files``; ``modes`` bends single files."""
    files: dict[str, bytes] = {}
    modes: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            name = self.path.lstrip("/")
            if name not in files:
                self.send_error(404)
                return
            if modes.get(name) == "slow":
                time.sleep(1.0)
            extra = 1000 if modes.get(name) == "truncate" else 0
            self.send_response(200)
            self.send_header("Content-Length", str(len(files[name]) + extra))
            self.end_headers()
            self.wfile.write(files[name])

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        yield SimpleNamespace(url=url, files=files, modes=modes)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def serve_fashion(server) -> None:
    server.files.update({f"{n}.gz": gzip.compress(raw) for n, raw in TINY_RAW.items()})


# --------------------------------------------------------------------------- IDX parser


@pytest.mark.parametrize("gz", [True, False], ids=["gz", "raw"])
def test_idx_round_trip(tmp_path, gz):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 5, dtype=np.uint8)
    img = data.read_idx(write_file(tmp_path / "img", idx_bytes(images), gz))
    lab = data.read_idx(write_file(tmp_path / "lab", idx_bytes(labels), gz))
    assert img.dtype == np.uint8 and img.shape == (5, 28, 28)
    assert lab.dtype == np.uint8 and lab.shape == (5,)
    np.testing.assert_array_equal(img, images)
    np.testing.assert_array_equal(lab, labels)
    assert int.from_bytes(idx_bytes(labels)[:4], "big") == 2049
    assert int.from_bytes(idx_bytes(images)[:4], "big") == 2051


def test_idx_big_endian_int32():
    values = np.array([[1, -2, 70000], [3, 4, -5]], dtype=np.int32)
    parsed = data.parse_idx(idx_bytes(values, 0x0C, ">i4"))
    assert parsed.dtype == np.int32 and parsed.dtype.isnative
    np.testing.assert_array_equal(parsed, values)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: b"\x01\x02" + raw[2:], "bad magic number"),
        (lambda raw: raw[:2] + b"\x07" + raw[3:], "bad magic number"),
        (lambda raw: raw[:3], "bad magic number"),
        (lambda raw: raw[:10], "truncated IDX header"),
        (lambda raw: raw[:-1], "expected 3152 bytes, got 3151"),
        (lambda raw: raw + b"\x00", "expected 3152 bytes, got 3153"),
    ],
    ids=["magic", "type-code", "short", "header", "truncated", "trailing"],
)
def test_idx_malformed(mutate, message):
    raw = idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8))
    with pytest.raises(ValueError, match=message):
        data.parse_idx(mutate(raw))


def test_read_idx_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros(5, np.uint8)))[:-6])
    with pytest.raises(ValueError, match="corrupt gzip"):
        data.read_idx(path)


# --------------------------------------------------------------------------- search order


def test_search_order(tmp_path, monkeypatch):
    explicit = make_fashion_dir(tmp_path / "explicit")
    env = make_fashion_dir(tmp_path / "env" / "fashion-mnist", gz=False)
    debian = make_fashion_dir(fm.DEBIAN_FASHION_MNIST_DIR)
    cache = make_fashion_dir(cache_dir("fashion-mnist"))
    monkeypatch.setenv("NTKBOOK_DATA", str(tmp_path / "env"))
    for expected in (explicit, env, debian, cache):
        assert load_tiny(explicit).source == expected
        for path in expected.iterdir():
            path.unlink()
    with pytest.raises(data.DataNotFoundError):
        load_tiny(explicit)


def test_loaded_arrays_exact(tmp_path):
    loaded = load_tiny(make_fashion_dir(tmp_path / "d"))
    arrays = tiny_arrays()
    for field, name in data.FASHION_MNIST_FILES.items():
        np.testing.assert_array_equal(getattr(loaded, field), arrays[name])
        assert getattr(loaded, field).dtype == np.uint8


def test_cache_respects_xdg_and_home(tmp_path, monkeypatch):
    assert cache_dir("fashion-mnist") == tmp_path / "xdg" / "ntkbook" / "fashion-mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    expected = tmp_path / "home" / ".cache" / "ntkbook" / "fashion-mnist"
    assert cache_dir("fashion-mnist") == expected
    make_fashion_dir(expected)
    assert load_tiny(download=False, data_dir=None).source == expected


def test_checksum_mismatch_is_skipped(tmp_path, monkeypatch):
    bad = make_fashion_dir(tmp_path / "bad")
    write_file(bad / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.ones(N_TEST, np.uint8)), gz=True)
    good = make_fashion_dir(tmp_path / "good")
    monkeypatch.setenv("NTKBOOK_DATA", str(good))
    assert load_tiny(bad).source == good


def test_nothing_valid_names_every_place(tmp_path, monkeypatch):
    bad = make_fashion_dir(tmp_path / "bad")
    write_file(bad / "train-labels-idx1-ubyte.gz", b"garbage", gz=True)
    debian = make_fashion_dir(fm.DEBIAN_FASHION_MNIST_DIR, gz=False)
    (debian / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03broken")
    monkeypatch.setenv("NTKBOOK_DATA", str(tmp_path / "env"))
    with pytest.raises(data.DataNotFoundError) as info:
        load_tiny(bad)
    message = str(info.value)
    reasons = dict(info.value.searched)
    assert len(info.value.searched) == 7  # 2 explicit, 2 env, Debian, cache, download
    for place in (bad, tmp_path / "env", debian, cache_dir("fashion-mnist")):
        assert str(place) in message
    bad_reason = reasons[f"{bad} (data_dir argument)"]
    assert "checksum mismatch for train-labels-idx1-ubyte.gz" in bad_reason
    assert "checksum mismatch for t10k-images-idx3-ubyte" in message
    assert "missing" in message and "download=False" in message
    assert "apt-get install -y dataset-fashion-mnist" in message
    assert "NTKBOOK_DATA=" in message
    assert isinstance(info.value, FileNotFoundError)


def test_malformed_but_matching_checksum_is_reported(tmp_path):
    folder = make_fashion_dir(tmp_path / "d")
    junk = b"not an idx file"
    write_file(folder / "train-images-idx3-ubyte.gz", junk, gz=True)
    table = TINY_SHA256 | {"train-images-idx3-ubyte": hashlib.sha256(junk).hexdigest()}
    with pytest.raises(data.DataNotFoundError, match="malformed train-images-idx3-ubyte.gz"):
        data.load_fashion_mnist(folder, download=False, checksums=table)


def test_error_pickles():
    error = data.DataNotFoundError("nothing", [("here", "missing")])
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == "nothing" and copy.searched == [("here", "missing")]


# --------------------------------------------------------------------------- downloads


def test_download_lands_in_cache(server):
    serve_fashion(server)
    loaded = load_tiny(download=True, base_url=server.url, timeout=5)
    cache = cache_dir("fashion-mnist")
    assert loaded.source == cache
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{n}.gz" for n in NAMES)
    for name in NAMES:
        assert (cache / f"{name}.gz").read_bytes() == server.files[f"{name}.gz"]
    server.files.clear()
    assert load_tiny(download=False).source == cache


def test_download_url_from_env(server, monkeypatch):
    serve_fashion(server)
    monkeypatch.setenv("NTKBOOK_FASHION_MNIST_URL", server.url.rstrip("/"))
    assert load_tiny(download=True, timeout=5).source == cache_dir("fashion-mnist")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("404", "HTTP 404"),
        ("checksum", "checksum mismatch for downloaded t10k-labels-idx1-ubyte.gz"),
        ("truncate", "incomplete download"),
        ("slow", "timed out"),
    ],
)
def test_failed_download_leaves_no_file(server, mode, message):
    serve_fashion(server)
    last = "t10k-labels-idx1-ubyte.gz"
    if mode == "404":
        del server.files[last]
    elif mode == "checksum":
        server.files[last] = gzip.compress(idx_bytes(np.ones(N_TEST, np.uint8)))
    else:
        server.modes[last] = mode
    with pytest.raises(data.DataNotFoundError, match=message) as info:
        load_tiny(download=True, base_url=server.url, timeout=0.3)
    assert info.value.searched[-1][0] == f"{server.url} (download)"
    assert cache_is_clean("fashion-mnist")
    assert not cache_dir("fashion-mnist").exists()


def test_server_down(tmp_path):
    cache = make_fashion_dir(cache_dir("fashion-mnist"))
    (cache / "train-images-idx3-ubyte.gz").write_bytes(b"corrupt")
    before = sorted(p.name for p in cache.iterdir())
    with pytest.raises(data.DataNotFoundError, match="Connection refused|failed") as info:
        load_tiny(download=True, base_url=f"http://127.0.0.1:{free_port()}/", timeout=2)
    assert "go online" in str(info.value)
    assert sorted(p.name for p in cache.iterdir()) == before  # no partial file added


# --------------------------------------------------------------------------- wine


@pytest.mark.parametrize("delimiter", [";", ","], ids=["uci", "comma"])
def test_wine_formats(tmp_path, delimiter):
    write_wine(tmp_path / "w", delimiter)
    wine = data.load_wine_quality(tmp_path / "w", download=False, expected_counts=WINE_COUNTS)
    assert wine.feature_names == tuple(WINE_NAMES)
    assert wine.features.dtype == np.float64 and wine.features.shape == (6, 11)
    np.testing.assert_array_equal(wine.features, WINE_FEATURES)
    np.testing.assert_array_equal(wine.quality, np.array(WINE_QUALITY, dtype=np.float64))


def test_wine_search_order(tmp_path, monkeypatch):
    explicit = write_wine(tmp_path / "explicit")
    env = write_wine(tmp_path / "env" / "wine-quality", ";")
    packaged = write_wine(wine_module.PACKAGED_WINE_DIR)
    monkeypatch.setattr(wine_module, "WINE_QUALITY_SHA256", sha256_of(packaged))
    cache = write_wine(cache_dir("wine-quality"))
    monkeypatch.setenv("NTKBOOK_DATA", str(tmp_path / "env"))
    for expected in (explicit, env, packaged, cache):
        wine = data.load_wine_quality(explicit.parent, download=False, expected_counts=WINE_COUNTS)
        assert wine.source == expected
        expected.unlink()


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_damaged_packaged_wine_is_named_with_its_fix(tmp_path):
    packaged = write_wine(wine_module.PACKAGED_WINE_DIR)  # sha256 differs from the real file's
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_wine_quality(download=False, expected_counts=WINE_COUNTS)
    message = str(info.value)
    assert f"checksum mismatch for packaged winequality-red.csv {packaged}" in message
    assert "git checkout -- ntkbook/data/files/winequality-red.csv" in message
    assert "pip install --force-reinstall ntkbook" in message
    cache = write_wine(cache_dir("wine-quality"))
    with pytest.warns(RuntimeWarning, match="checksum mismatch for packaged"):
        wine = data.load_wine_quality(download=False, expected_counts=WINE_COUNTS)
    assert wine.source == cache  # a damaged packaged copy is skipped, loudly


def _assert_is_wine_quality(wine):
    """The red Wine Quality table (shape, names, score counts) and the theses' split sizes;
    returns the splits."""
    assert wine.features.shape == (1599, 11) and wine.quality.shape == (1599,)
    assert wine.feature_names == tuple(WINE_NAMES)
    scores, counts = np.unique(wine.quality, return_counts=True)
    assert dict(zip(scores.tolist(), counts.tolist(), strict=True)) == data.WINE_QUALITY_COUNTS
    splits = data.wine_splits(wine.features, wine.quality, seed=0)
    assert [len(splits[k][0]) for k in ("train", "val", "test")] == [959, 320, 320]
    return splits


def test_packaged_wine(monkeypatch):
    """The copy shipped in the package: found with no data folder, cache or network."""
    monkeypatch.setattr(wine_module, "PACKAGED_WINE_DIR", REAL_PACKAGED_WINE_DIR)
    packaged = REAL_PACKAGED_WINE_DIR / data.WINE_QUALITY_FILE
    assert sha256_of(packaged) == data.WINE_QUALITY_SHA256
    assert (REAL_PACKAGED_WINE_DIR / "README.md").is_file()  # citation and licence beside it
    wine = data.load_wine_quality(download=False)
    assert wine.source == packaged
    splits = _assert_is_wine_quality(wine)
    # scikit-learn's StandardScaler gives the book's numbers bit for bit: the theses' split and
    # (x - train mean) / train std (ddof=0) in NumPy
    train = np.random.default_rng(0).permutation(1599)[:959]
    mean, std = wine.features[train].mean(axis=0), wine.features[train].std(axis=0)
    np.testing.assert_array_equal(splits["train"][0], (wine.features[train] - mean) / std)
    np.testing.assert_array_equal(splits["train"][1], wine.quality[train])


def test_wine_wrong_counts_rejected(tmp_path):
    write_wine(tmp_path / "w")
    with pytest.raises(data.DataNotFoundError) as info:
        data.load_wine_quality(tmp_path / "w", download=False, expected_counts={5: 4, 6: 2})
    assert "malformed winequality-red.csv: quality counts" in str(info.value)
    assert "NTKBOOK_DATA=" in str(info.value)
    with pytest.raises(data.DataNotFoundError, match="expected 1599 rows, got 6"):
        data.load_wine_quality(tmp_path / "w", download=False)


def test_wine_parser_errors():
    lines = wine_csv(",").splitlines()
    wide = [*lines[:2], lines[2] + ",1", *lines[3:]]
    with pytest.raises(ValueError, match="line 3 does not have the header's 12 fields"):
        data.parse_wine_csv("\n".join(wide))
    word = [*lines[:2], "five" + lines[2][3:], *lines[3:]]
    with pytest.raises(ValueError, match="non-numeric"):
        data.parse_wine_csv("\n".join(word))
    with pytest.raises(ValueError, match="no header"):
        data.parse_wine_csv("")


def test_wine_download(server, monkeypatch):
    server.files[data.WINE_QUALITY_FILE] = wine_csv(";").encode()
    monkeypatch.setenv("NTKBOOK_WINE_URL", server.url + data.WINE_QUALITY_FILE)
    wine = data.load_wine_quality(expected_counts=WINE_COUNTS, timeout=5)
    assert wine.source == cache_dir("wine-quality") / data.WINE_QUALITY_FILE
    assert wine.source.read_bytes() == server.files[data.WINE_QUALITY_FILE]
    assert [p.name for p in cache_dir("wine-quality").iterdir()] == [data.WINE_QUALITY_FILE]


def test_wine_download_failures(server):
    with pytest.raises(data.DataNotFoundError, match="HTTP 404"):
        data.load_wine_quality(base_url=server.url, expected_counts=WINE_COUNTS, timeout=5)
    assert cache_is_clean("wine-quality")
    server.files[data.WINE_QUALITY_FILE] = wine_csv(",").encode()
    with pytest.raises(data.DataNotFoundError, match="malformed downloaded winequality-red.csv"):
        data.load_wine_quality(base_url=server.url, timeout=5)
    assert cache_is_clean("wine-quality")


def real_wine_dir() -> Path | None:
    if not REAL_DATA_ENV:
        return None
    root = Path(REAL_DATA_ENV)
    found = [d for d in (root, root / "wine-quality") if (d / data.WINE_QUALITY_FILE).is_file()]
    return found[0] if found else None


@pytest.mark.skipif(
    real_wine_dir() is None,
    reason="set NTKBOOK_DATA to a folder holding winequality-red.csv to test the real file",
)
def test_real_wine(monkeypatch):
    monkeypatch.setenv("NTKBOOK_DATA", REAL_DATA_ENV)
    wine = data.load_wine_quality(download=False)
    assert wine.source == real_wine_dir() / data.WINE_QUALITY_FILE
    _assert_is_wine_quality(wine)


# --------------------------------------------------------------------------- real Fashion-MNIST


@pytest.fixture(scope="module")
def real_fashion():
    if not all((REAL_DEBIAN_DIR / f"{n}.gz").is_file() for n in NAMES):
        pytest.skip(f"Fashion-MNIST not installed in {REAL_DEBIAN_DIR} (dataset-fashion-mnist)")
    return data.load_fashion_mnist(REAL_DEBIAN_DIR, download=False)


def test_real_fashion_mnist(real_fashion):
    assert real_fashion.train_images.shape == (60000, 28, 28)
    assert real_fashion.train_labels.shape == (60000,)
    assert real_fashion.test_images.shape == (10000, 28, 28)
    assert real_fashion.test_labels.shape == (10000,)
    for name in NAMES:
        raw = gzip.decompress((REAL_DEBIAN_DIR / f"{name}.gz").read_bytes())
        assert hashlib.sha256(raw).hexdigest() == data.FASHION_MNIST_SHA256[name]
    np.testing.assert_array_equal(np.bincount(real_fashion.train_labels), np.full(10, 6000))


def test_real_berg_subset(real_fashion):
    x, y = data.berg_subset(real_fashion)
    assert x.shape == (200, 784) and y.shape == (200,) and x.dtype == np.float64
    assert np.all(np.diff(y) >= 0) and np.all(y[:100] == 0.0) and np.all(y[100:] == 1.0)
    labels = real_fashion.train_labels
    first = np.concatenate([np.flatnonzero(labels == 0)[:100], np.flatnonzero(labels == 9)[:100]])
    np.testing.assert_array_equal(labels[first[:100]], 0)
    np.testing.assert_array_equal(x, real_fashion.train_images[first].reshape(200, 784) / 255.0)


# --------------------------------------------------------------------------- splits


def tiny_dataset(tmp_path) -> data.FashionMNIST:
    return load_tiny(make_fashion_dir(tmp_path / "d"))


def test_fashion_splits(tmp_path):
    tiny = tiny_dataset(tmp_path)
    splits = data.fashion_mnist_splits(tiny, seed=3, sizes=(10, 5, 5))
    assert list(splits) == ["train", "val", "test"]
    ids = {}
    for key, size in zip(splits, (10, 5, 5), strict=True):
        x, y = splits[key]
        assert x.shape == (size, 784) and x.dtype == np.float32 and y.dtype == np.int64
        assert 0.0 <= x.min() and x.max() <= 1.0
        ids[key] = np.rint(x[:, 0] * 255).astype(int)  # image k is filled with k
        np.testing.assert_array_equal(y, ids[key] % 10)
    assert sorted(np.concatenate(list(ids.values())).tolist()) == list(range(20))
    again = data.fashion_mnist_splits(tiny, seed=3, sizes=(10, 5, 5))
    other = data.fashion_mnist_splits(tiny, seed=4, sizes=(10, 5, 5))
    np.testing.assert_array_equal(again["train"][0], splits["train"][0])
    assert not np.array_equal(other["train"][0], splits["train"][0])


def test_fashion_splits_default_sizes():
    fake = data.FashionMNIST(
        np.zeros((60000, 1, 1), np.uint8), np.zeros(60000, np.uint8),
        np.zeros((10000, 1, 1), np.uint8), np.zeros(10000, np.uint8), Path("."),
    )  # fmt: skip
    splits = data.fashion_mnist_splits(fake)
    assert [len(splits[k][1]) for k in ("train", "val", "test")] == [42000, 14000, 14000]


def wine_like(n: int = 1599) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, 2.0, (n, 11))
    features[:, 0] = np.arange(n)  # row id, to check disjointness
    return features, rng.integers(3, 9, n).astype(np.float64)


def test_wine_splits():
    features, quality = wine_like()
    splits = data.wine_splits(features, quality, seed=0)
    rows = {}
    for key, size in zip(("train", "val", "test"), (959, 320, 320), strict=True):
        x, y = splits[key]
        assert x.shape == (size, 11) and y.shape == (size,) and y.dtype == np.float64
        rows[key] = np.rint(x[:, 0] * splits["std"][0] + splits["mean"][0]).astype(int)
        np.testing.assert_array_equal(y, quality[rows[key]])
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(1599))
    train = splits["train"][0]
    np.testing.assert_allclose(train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(train.std(axis=0), 1.0, atol=1e-12)
    np.testing.assert_allclose(splits["mean"], features[rows["train"]].mean(axis=0))
    assert not np.allclose(splits["val"][0].mean(axis=0), 0.0, atol=1e-6)
    again = data.wine_splits(features, quality, seed=0)
    np.testing.assert_array_equal(again["val"][0], splits["val"][0])
    other = data.wine_splits(features, quality, seed=1)
    assert not np.array_equal(other["val"][0], again["val"][0])


def test_wine_splits_constant_feature():
    features, quality = wine_like(10)
    features[:, 3] = 7.0
    splits = data.wine_splits(features, quality, sizes=(6, 2, 2))
    assert splits["std"][3] == 1.0 and np.all(splits["train"][0][:, 3] == 0.0)


def test_berg_subset_order_and_dtype(tmp_path):
    tiny = tiny_dataset(tmp_path)  # labels k % 10: class 0 at 0, 10; class 9 at 9
    x, y = data.berg_subset(tiny, n_per_class=1, classes=(9, 0), dtype=np.float32)
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_array_equal(y, [0.0, 1.0])
    np.testing.assert_array_equal(x[:, 0], np.array([9, 0], np.float32) / 255)
    x, _ = data.berg_subset(tiny, n_per_class=2, classes=(0, 1))
    np.testing.assert_array_equal(np.rint(x[:, 0] * 255), [0, 10, 1, 11])


# --------------------------------------------------------------------------- argument checks


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: data.fashion_mnist_splits(t, sizes=(10, 5)), "three positive"),
        (lambda t: data.fashion_mnist_splits(t, sizes=(10, 5, 6)), "add up to the 20"),
        (lambda t: data.fashion_mnist_splits(t, seed=-1, sizes=(10, 5, 5)), "seed"),
        (lambda t: data.berg_subset(t, n_per_class=0), "n_per_class"),
        (lambda t: data.berg_subset(t, n_per_class=3), "only 2 training images of class 0"),
        (lambda t: data.berg_subset(t, classes=(0, 0)), "two different labels"),
        (lambda t: data.berg_subset(t, classes=(0, 10)), "two different labels"),
        (lambda t: data.berg_subset(t, n_per_class=1, dtype=np.int32), "floating dtype"),
        (lambda t: data.wine_splits(np.ones((5, 2)), np.ones(4)), "need features"),
        (lambda t: data.wine_splits(np.full((5, 2), np.nan), np.ones(5)), "finite"),
        (lambda t: data.wine_splits(np.ones((5, 2)), np.ones(5)), "add up to the 5"),
        (lambda t: data.load_fashion_mnist(checksums={"x": "0" * 64}), "lacks an entry"),
        (lambda t: data.load_fashion_mnist(checksums=dict.fromkeys(NAMES, "xyz")), "sha256"),
        (lambda t: data.load_fashion_mnist(timeout=0), "timeout"),
        (lambda t: data.load_wine_quality(expected_counts={5: 0}), "expected_counts"),
    ],
)
def test_argument_errors(tmp_path, call, message):
    with pytest.raises(ValueError, match=message):
        call(tiny_dataset(tmp_path))


def test_wrong_data_type():
    with pytest.raises(TypeError, match="FashionMNIST"):
        data.berg_subset({"train_images": None})
    with pytest.raises(TypeError, match="FashionMNIST"):
        data.fashion_mnist_splits(None)
