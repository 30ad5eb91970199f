"""Data sets of the book: Fashion-MNIST and UCI Wine Quality (red), found, verified and split.

* :mod:`~ntkbook.data.fashion_mnist`: :func:`load_fashion_mnist` (Debian's package,
  ``$NTKBOOK_DATA``, the user cache or a download; sha256-verified IDX files).
* :mod:`~ntkbook.data.wine`: :func:`load_wine_quality` (shipped with the package, verified by
  sha256; ``$NTKBOOK_DATA`` or an explicit folder still win).
* :mod:`~ntkbook.data.splits`: :func:`fashion_mnist_splits`, :func:`wine_splits`,
  :func:`berg_subset`.
* :mod:`~ntkbook.data.formats` (IDX and CSV parsers) and :mod:`~ntkbook.data.fetch` (search
  order, :class:`DataNotFoundError`, verified downloads).

NumPy, scikit-learn and the standard library only: no JAX, no model code.
"""

from ntkbook.data.fashion_mnist import (
    DEBIAN_FASHION_MNIST_DIR,
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_FILES,
    FASHION_MNIST_SHA256,
    FASHION_MNIST_URL,
    FashionMNIST,
    load_fashion_mnist,
)
from ntkbook.data.fetch import DataNotFoundError, user_cache_dir
from ntkbook.data.formats import parse_idx, parse_wine_csv, read_idx
from ntkbook.data.splits import berg_subset, fashion_mnist_splits, wine_splits
from ntkbook.data.wine import (
    PACKAGED_WINE_DIR,
    WINE_QUALITY_COUNTS,
    WINE_QUALITY_FILE,
    WINE_QUALITY_SHA256,
    WINE_QUALITY_URL,
    WineQuality,
    load_wine_quality,
)

__all__ = [
    "DEBIAN_FASHION_MNIST_DIR",
    "DataNotFoundError",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_SHA256",
    "FASHION_MNIST_URL",
    "FashionMNIST",
    "PACKAGED_WINE_DIR",
    "WINE_QUALITY_COUNTS",
    "WINE_QUALITY_FILE",
    "WINE_QUALITY_SHA256",
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
