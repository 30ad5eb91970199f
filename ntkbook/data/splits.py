"""The splits the book trains on: Fashion-MNIST 42k/14k/14k, Wine 959/320/320, Berg's subset.

The train/validation/test splits cut a seeded ``np.random.default_rng(seed).permutation`` (the
theses' splits, kept so that the book's numbers stay those of the theses' protocol); Wine's
features are standardised by scikit-learn's ``StandardScaler`` fitted on the training split.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import DTypeLike
from sklearn.preprocessing import StandardScaler

from ntkbook.data.fashion_mnist import FashionMNIST

__all__ = ["berg_subset", "fashion_mnist_splits", "wine_splits"]


def _check_sizes(sizes: Sequence[int], n: int) -> tuple[int, int, int]:
    if len(sizes) != 3 or not all(isinstance(s, (int, np.integer)) and s > 0 for s in sizes):
        raise ValueError(f"sizes must be three positive integers, got {sizes!r}")
    if sum(sizes) != n:
        raise ValueError(f"sizes {tuple(sizes)} must add up to the {n} examples")
    return int(sizes[0]), int(sizes[1]), int(sizes[2])


def _check_seed(seed: int) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _split_indices(n: int, sizes: tuple[int, int, int], seed: int) -> dict[str, np.ndarray]:
    """Disjoint ``train``/``val``/``test`` index arrays of a seeded permutation of ``range(n)``."""
    perm = np.random.default_rng(seed).permutation(n)
    ends = np.cumsum(sizes)
    return {"train": perm[: ends[0]], "val": perm[ends[0] : ends[1]], "test": perm[ends[1] :]}


def _check_fashion(data: FashionMNIST) -> None:
    if not isinstance(data, FashionMNIST):
        raise TypeError(f"data must be a FashionMNIST (from load_fashion_mnist), got {data!r}")


def fashion_mnist_splits(
    data: FashionMNIST, seed: int = 0, *, sizes: Sequence[int] = (42000, 14000, 14000)
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Pooled, shuffled train/validation/test splits of Fashion-MNIST (Sarvanau, 2025).

    As in Sarvanau's thesis: all 70,000 images (train then test file) are pooled, flattened to
    784 pixels, scaled to [0, 1] by dividing by 255 (float32), shuffled with
    ``np.random.default_rng(seed).permutation`` and cut into 42,000 / 14,000 / 14,000 examples.

    Args:
        data: The data set from :func:`~ntkbook.data.load_fashion_mnist`.
        seed: Seed of the shuffle.
        sizes: Sizes of train, validation and test; they must add up to all pooled images.

    Returns:
        ``{"train": (x, y), "val": (x, y), "test": (x, y)}`` with ``x`` of shape ``(n, 784)``
        float32 and ``y`` of shape ``(n,)`` int64 labels.

    Raises:
        TypeError: ``data`` is not a :class:`~ntkbook.data.FashionMNIST`.
        ValueError: Bad seed or sizes.
    """
    _check_fashion(data)
    _check_seed(seed)
    images = np.concatenate([data.train_images, data.test_images])
    labels = np.concatenate([data.train_labels, data.test_labels]).astype(np.int64)
    index = _split_indices(len(images), _check_sizes(sizes, len(images)), seed)
    x = images.reshape(len(images), -1)
    return {k: (_scaled_pixels(x[i], np.float32), labels[i]) for k, i in index.items()}


def _scaled_pixels(pixels: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """``pixels / 255`` as a new array of ``dtype`` (divided in that dtype, in place)."""
    out = pixels.astype(dtype)
    out /= np.asarray(255, dtype=dtype)
    return out


def _check_wine_arrays(features: np.ndarray, quality: np.ndarray) -> None:
    if features.ndim != 2 or quality.ndim != 1 or len(features) != len(quality):
        raise ValueError(
            f"need features (n, d) and quality (n,), got {features.shape} and {quality.shape}"
        )
    if not (np.all(np.isfinite(features)) and np.all(np.isfinite(quality))):
        raise ValueError("features and quality must be finite")


def wine_splits(
    features: np.ndarray,
    quality: np.ndarray,
    seed: int = 0,
    *,
    sizes: Sequence[int] = (959, 320, 320),
) -> dict[str, object]:
    """Shuffled, standardised train/validation/test splits of Wine Quality (red).

    The 1599 wines are shuffled with ``np.random.default_rng(seed).permutation`` and cut into
    959 / 320 / 320 (60 / 20 / 20 %). A scikit-learn ``StandardScaler`` fitted on the training
    split only centres every feature by the train mean and divides it by the train standard
    deviation (``ddof=0``; a constant feature is divided by 1). Targets are the raw quality
    scores as float64.

    Args:
        features: ``(n, d)`` features, e.g. ``WineQuality.features``.
        quality: ``(n,)`` quality scores.
        seed: Seed of the shuffle.
        sizes: Sizes of train, validation and test; they must add up to ``n``.

    Returns:
        ``{"train": (x, y), "val": (x, y), "test": (x, y), "mean": (d,), "std": (d,)}`` with
        ``x`` of shape ``(n_split, d)`` and ``y`` of shape ``(n_split,)``, all float64;
        ``mean`` and ``std`` are the scaler's ``mean_`` and ``scale_``.

    Raises:
        ValueError: Bad shapes, non-finite values, seed or sizes.
    """
    features = np.asarray(features, dtype=np.float64)
    quality = np.asarray(quality, dtype=np.float64)
    _check_wine_arrays(features, quality)
    _check_seed(seed)
    index = _split_indices(len(features), _check_sizes(sizes, len(features)), seed)
    scaler = StandardScaler().fit(features[index["train"]])
    result: dict[str, object] = {
        k: (scaler.transform(features[i]), quality[i].copy()) for k, i in index.items()
    }
    return result | {"mean": scaler.mean_, "std": scaler.scale_}


def berg_subset(
    data: FashionMNIST,
    n_per_class: int = 100,
    classes: Sequence[int] = (0, 9),
    dtype: DTypeLike = np.float64,
) -> tuple[np.ndarray, np.ndarray]:
    """The small binary Fashion-MNIST problem of Berg (2024).

    The first ``n_per_class`` training images (in file order) of ``classes[0]`` (default
    0, T-shirt/top) followed by the first ``n_per_class`` of ``classes[1]`` (default 9, ankle
    boot), flattened and divided by 255, with targets 0.0 and 1.0.

    Args:
        data: The data set from :func:`~ntkbook.data.load_fashion_mnist`.
        n_per_class: Images taken per class.
        classes: The two labels, mapped to targets 0.0 and 1.0.
        dtype: Floating dtype of the returned arrays.

    Returns:
        ``(x, y)``: ``x`` of shape ``(2 * n_per_class, 784)`` in [0, 1], ``y`` of shape
        ``(2 * n_per_class,)``, sorted by class.

    Raises:
        TypeError: ``data`` is not a :class:`~ntkbook.data.FashionMNIST`.
        ValueError: Bad ``n_per_class``, ``classes`` or ``dtype``, or too few images of a class.
    """
    _check_fashion(data)
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if len(classes) != 2 or classes[0] == classes[1] or not set(classes) <= set(range(10)):
        raise ValueError(f"classes must be two different labels in 0..9, got {classes!r}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype must be a floating dtype, got {dtype!r}")
    index = [_first_of_class(data.train_labels, c, n_per_class) for c in classes]
    x = data.train_images[np.concatenate(index)].reshape(2 * n_per_class, -1)
    y = np.repeat(np.array([0, 1], dtype=dtype), n_per_class)
    return _scaled_pixels(x, dtype), y


def _first_of_class(labels: np.ndarray, label: int, n: int) -> np.ndarray:
    found = np.flatnonzero(labels == label)[:n]
    if len(found) < n:
        raise ValueError(f"only {len(found)} training images of class {label}, need {n}")
    return found
