"""Sweeps of the smallest NTK eigenvalue over width x depth x activation x seed.

A sweep is split into *families* — one (activation, depth, seed) each — and every family runs as one
task on a ``concurrent.futures.Executor``: in-process by default, or e.g. a Dask distributed
client's ``client.get_executor()`` when one machine is not enough. Inside a family, every width
is the same compiled program: the kernel is computed on the widest network with the extra units
masked off (:func:`ntkbook.core.kernel.masked_ntk`). Widths up to half the widest use a
network of half the width (:func:`width_buckets`), so a 720-cell grid compiles 72 small
programs, not 720, and does about 60 % of the work of computing every cell at the widest width;
each seed's parameters are drawn once per family (:func:`nested_params`): seeds are independent
draws, the widths of one seed share their leading units. Where the float64 eigensolver cannot
resolve λ_min, it comes from a streamed QR of the Jacobian with an a-posteriori error bound
(:func:`run_family`, :mod:`ntkbook.core.jacobian_qr`). Each family's rows are cached by a
content hash of its inputs and of the code (:func:`cache_key`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ntkbook.core import jacobian_qr, kernel, spectrum
from ntkbook.core.mlp import MLP
from ntkbook.store import cache
from ntkbook.store.executor import InProcessExecutor
from ntkbook.store.hashing import content_hash

QR_BELOW = 10.0  # use the Jacobian QR where lambda_min <= QR_BELOW * the eigensolver's resolution


@dataclass(frozen=True)
class Family:
    """The cells of a sweep that share one compiled program."""

    activation: str
    depth: int
    widths: tuple[int, ...]
    seeds: tuple[int, ...]
    parametrization: str
    dtype: str
    qr_below: float = QR_BELOW


def nested_params(wide_params, sizes: Sequence[int]):
    """The parameters of the narrower network ``sizes`` inside a wide draw: the leading units.

    A sweep draws each seed's parameters once, at the widest width, and every narrower network
    of the family uses the leading units of that draw. Networks of different widths then share
    their random numbers (common random numbers), which makes width trends less noisy, and no
    new random draw — and no new compilation — is needed per width.
    """
    return [(w[:fan_in, :fan_out], b[:fan_out])
            for (w, b), fan_in, fan_out in zip(wide_params, sizes[:-1], sizes[1:], strict=True)]


def _mlp(n0: int, width: int, family: Family, parametrization: str | None = None) -> MLP:
    return MLP((n0,) + (width,) * (family.depth - 1) + (1,), family.activation,
               parametrization or family.parametrization)


def width_buckets(widths: Sequence[int]) -> dict[int, int]:
    """Each width's bucket: the padded width its kernel is computed at.

    Two buckets — half the widest width (rounded up) and the widest — so the narrower half of
    a family costs about a quarter of the wide network's hidden-layer work, at the price of one
    more compiled program per family.
    """
    widest = max(widths)
    half = -(-widest // 2)
    return {int(w): half if w <= half else widest for w in widths}


def family_cells(x: np.ndarray, family: Family):
    """Yield ``(width, seed, bucket_net, bucket_params, scales, mask)`` for every cell.

    The parameters of cell ``(width, seed)`` are ``nested_params(wide.init_numpy(seed), sizes)``,
    with ``wide`` the family's widest network: different seeds are independent draws, and the
    widths of one seed share their leading units (common random numbers). A cell is computed on
    the leading units of the wide draw up to the cell's bucket width (:func:`width_buckets`),
    with the units beyond the cell's width masked off, so a family is two compiled programs
    whatever its widths.
    """
    n0, width_max = x.shape[1], max(family.widths)
    wide = _mlp(n0, width_max, family)
    buckets = width_buckets(family.widths)
    for seed in family.seeds:
        params = wide.init_numpy(seed, family.dtype)
        # The masked kernel takes every layer factor from ``scales``, so the bucket network's
        # parametrization is irrelevant: one canonical one lets families of different
        # parametrizations share compiled programs.
        padded = {b: (_mlp(n0, b, family, "ntk"), nested_params(params, _mlp(n0, b, family).sizes))
                  for b in sorted(set(buckets.values()))}
        for width in family.widths:
            bucket_net, bucket_params = padded[buckets[width]]
            # NumPy, not jnp: a jnp comparison with each new Python width is a new dispatch
            mask = (np.arange(bucket_net.sizes[1]) < width).astype(family.dtype)
            scales = np.asarray(_mlp(n0, width, family).weight_scales(), family.dtype)
            yield width, seed, bucket_net, bucket_params, scales, mask


def family_kernels(x: np.ndarray, family: Family):
    """Yield ``(width, seed, theta)`` for every cell of ``family``; ``theta`` is ``(n, n)``
    (the cells of :func:`family_cells`)."""
    xj = jnp.asarray(x, family.dtype)
    for width, seed, net, params, scales, mask in family_cells(x, family):
        yield width, seed, kernel.masked_ntk(net, params, xj, scales, mask)


def cell_qr_spectrum(x: np.ndarray, width: int, net, params, scales, mask):
    """:func:`ntkbook.core.jacobian_qr.qr_spectrum` of one cell of :func:`family_cells`: the
    layer quantities come from the same masked program, and the masked units are sliced off."""
    if net.depth == 1:
        return jacobian_qr.qr_spectrum([np.asarray(x, np.float64)], scales, [])
    hidden, grads = jacobian_qr.masked_layer_quantities(net, params, jnp.asarray(x), scales, mask)
    hidden, grads = np.asarray(hidden)[:, :, :width], np.asarray(grads)[:, :, :width]
    return jacobian_qr.qr_spectrum([np.asarray(x, np.float64)] + list(hidden), scales,
                                   list(grads))


def run_family(x: np.ndarray, family: Family) -> list[dict]:
    """λ_min with an error bound for every (width, seed) of ``family``; one row per cell.

    λ_min comes from the float64 eigensolver, whose error bound is its resolution
    ``n eps ||Theta||_2``; where the value is not above ``family.qr_below`` times that (the
    eigensolver cannot resolve λ_min to ``1 / qr_below``, 10 % by default), it comes from the
    streamed QR of the Jacobian (:mod:`ntkbook.core.jacobian_qr`) with that method's
    a-posteriori bound. ``qr_below=0`` uses the QR only for non-positive eigenvalues, ``inf``
    everywhere. Float32 grids use the eigensolver only (they measure what float32 does).
    Each row has ``lambda_min``, ``lambda_min_error_bound``, ``lambda_min_method``
    (``"eigvalsh"`` or ``"jacobian_qr"``), ``lambda_min_eigvalsh``, ``lambda_max`` and
    ``resolution``.

    Each row's ``seconds`` is an equal share of the family's wall time (compilation, kernels and
    eigenvalues), so the rows of a grid, cached or not, sum to the time it took to compute.
    """
    if family.dtype == "float64":
        jax.config.update("jax_enable_x64", True)  # also inside a fresh worker process
    tic = time.perf_counter()
    rows = []
    xj = jnp.asarray(x, family.dtype)
    cells = sorted(family_cells(x, family), key=lambda c: c[:2])
    for width, seed, net, params, scales, mask in cells:
        theta = np.asarray(kernel.masked_ntk(net, params, xj, scales, mask))
        kernel.check_finite(theta, f"NTK of {family.activation} width {width} depth "
                            f"{family.depth} seed {seed}")
        eigs = spectrum.eigvalsh(theta)
        # Below this, an eigenvalue cannot be told from 0 (spectrum.eig_tolerance, with
        # ||theta||_2 from the eigenvalues already computed instead of another SVD).
        resolution = float(theta.shape[0] * np.finfo(np.dtype(family.dtype)).eps
                           * max(abs(eigs[0]), abs(eigs[-1])))
        row = {
            "activation": family.activation, "width": width, "depth": family.depth,
            "seed": seed, "parametrization": family.parametrization, "dtype": family.dtype,
            "lambda_min": float(eigs[0]), "lambda_max": float(eigs[-1]),
            "resolution": resolution, "lambda_min_eigvalsh": float(eigs[0]),
            "lambda_min_error_bound": resolution, "lambda_min_method": "eigvalsh",
        }
        if family.dtype == "float64" and eigs[0] <= family.qr_below * resolution:
            qr = cell_qr_spectrum(x, width, net, params, scales, mask)
            row |= {"lambda_min": qr.lambda_min,
                    "lambda_min_error_bound": qr.lambda_min_error_bound,
                    "lambda_min_method": "jacobian_qr"}
        rows.append(row)
    share = (time.perf_counter() - tic) / max(len(rows), 1)
    return [row | {"seconds": share} for row in rows]


def cache_key(x: np.ndarray, family: Family) -> str:
    """A family's cache key: its inputs, its settings, and the source of this module and of every
    ntkbook module it imports (computed, so editing an activation invalidates the grid)."""
    return content_hash(x, repr(family), code=(__name__,))


def lambda_min_grid(
    x: np.ndarray,
    activations_: Sequence[str],
    widths: Sequence[int],
    depths: Sequence[int],
    seeds: Sequence[int] = (0,),
    *,
    parametrization: str = "ntk",
    dtype: str = "float64",
    executor: Executor | None = None,
    cache_dir: Path | None = None,
    progress: bool = True,
    qr_below: float = QR_BELOW,
) -> list[dict]:
    """λ_min of the empirical NTK on ``x`` for every activation x width x depth x seed.

    Args:
        x: inputs, shape ``(n, n_0)``.
        activations_: activation names. widths, depths, seeds: the grid's axes.
        parametrization: as in :class:`ntkbook.MLP`.
        dtype: ``"float64"`` (default) or ``"float32"`` for the kernel; eigenvalues are always
            computed in float64.
        executor: runs one task per (activation, depth, seed); in-process if None.
        cache_dir: where families are cached by content hash; None disables the cache.
        progress: show a tqdm bar over families.
        qr_below: where λ_min <= qr_below x the eigensolver's resolution, λ_min comes from the
            streamed Jacobian QR (:func:`run_family`).

    Returns:
        One dict per cell: activation, width, depth, seed, parametrization, dtype, lambda_min,
        lambda_min_error_bound, lambda_min_method, lambda_min_eigvalsh, lambda_max,
        resolution, seconds (a share of the family's compute time, see
        :func:`run_family`); ordered by activation, depth, width, seed.
    """
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    x = np.asarray(x)
    executor = executor or InProcessExecutor()
    # One family per seed as well: a seed's rows are cached on their own, so grids that share
    # seeds (chapters 3 and 4) share their cached rows; compiled programs are shared anyway.
    families = [
        Family(a, int(d), tuple(int(w) for w in widths), (int(s),), parametrization, dtype,
               float(qr_below))
        for a in activations_ for d in depths for s in seeds
    ]
    keys = {f: cache_key(x, f)
            for f in families}
    results: dict[Family, list[dict]] = {}
    pending: dict[Future, Family] = {}
    for family in families:
        cached = cache.load_json(cache_dir, "lambda_min", keys[family])
        if cached is not None:
            results[family] = cached
        else:
            pending[executor.submit(run_family, x, family)] = family
    bar = _progress(len(families), len(results), progress)
    for future in as_completed(pending):
        family = pending[future]
        results[family] = future.result()
        cache.save_json(cache_dir, "lambda_min", keys[family], results[family])
        bar.update(1)
    bar.close()
    order = {a: i for i, a in enumerate(activations_)}
    rows = [row for family in families for row in results[family]]
    return sorted(rows, key=lambda r: (order[r["activation"]], r["depth"], r["width"], r["seed"]))


def _progress(total: int, done: int, enabled: bool):
    from tqdm import tqdm  # plain text: tqdm.auto warns without ipywidgets

    return tqdm(total=total, initial=done, desc="families", disable=not enabled, leave=False)


def convergence_to_limit(
    x: np.ndarray,
    theta_limit: np.ndarray,
    activation: str,
    depth: int,
    widths: Sequence[int],
    seeds: Sequence[int] = (0,),
    dtype: str = "float64",
) -> list[dict]:
    """How far the empirical NTK (NTK parametrisation) is from its infinite-width limit.

    Args:
        x: inputs ``(n, n_0)``.
        theta_limit: the limit kernel on ``x``, ``(n, n)``
            (:func:`ntkbook.core.limit.infinite_width_ntk`).
        activation, depth: the architecture; widths, seeds: the draws.

    Returns:
        One row per (width, seed): ``kernel_rel_diff`` =
        ||Theta_w - Theta_inf||_F / ||Theta_inf||_F, ``lambda_min``, ``lambda_min_limit`` and
        ``lambda_min_rel_gap`` = |lambda_w - lambda_inf| / lambda_inf.
    """
    if dtype == "float64":
        jax.config.update("jax_enable_x64", True)
    limit = np.asarray(theta_limit, dtype=np.float64)
    lam_limit = float(spectrum.eigvalsh(limit)[0])
    family = Family(activation, int(depth), tuple(int(w) for w in widths),
                    tuple(int(s) for s in seeds), "ntk", dtype)
    rows = []
    for width, seed, theta in family_kernels(np.asarray(x), family):
        theta = np.asarray(theta, dtype=np.float64)
        lam = float(spectrum.eigvalsh(theta)[0])
        rows.append({
            "activation": activation, "depth": int(depth), "width": width, "seed": seed,
            "kernel_rel_diff": float(np.linalg.norm(theta - limit) / np.linalg.norm(limit)),
            "lambda_min": lam, "lambda_min_limit": lam_limit,
            "lambda_min_rel_gap": abs(lam - lam_limit) / lam_limit,
        })
    return rows
