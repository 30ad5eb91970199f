"""The optional measurements of a run (:class:`~ntkbook.experiments.hybrid.spec.HybridSpec`'s
``full_kernel_samples`` and ``literal_ntk1_steps``): the mean-over-outputs kernel against the
full one, the default pseudoinverse cutoff against the worst-case float32 one, one LAPACK thread
against several, and NTK1 done step by step.
"""

from __future__ import annotations

import dataclasses
import os
import time
from functools import partial

import jax
import numpy as np
import scipy.linalg

from ntkbook import dynamics
from ntkbook.core.kernel import empirical_ntk, flat_ntk
from ntkbook.core.mlp import Params, flatten_params
from ntkbook.core.products import outputs
from ntkbook.core.spectrum import lapack_threads
from ntkbook.dynamics.gains import ReplacedSGD
from ntkbook.experiments.hybrid.context import RunContext
from ntkbook.experiments.hybrid.record import Extras
from ntkbook.store.codec import finite_or_none


def full_kernel_comparison(ctx: RunContext, params_s: Params, replaced: ReplacedSGD) -> dict:
    """Mean-over-outputs kernel (x) I against the exact full kernel on the first
    ``full_kernel_samples`` subset rows: the kernels' gap and NTK3 (consistent) with each."""
    spec, net = ctx.spec, ctx.net
    n = min(spec.full_kernel_samples, int(ctx.x_sub.shape[0]))
    x, y = ctx.x_sub[:n], ctx.t_sub[:n]
    small = dataclasses.replace(replaced, n_kernel=n)
    full_k = flat_ntk(net, params_s, x)
    kron = np.kron(np.asarray(empirical_ntk(net, params_s, x), np.float64), np.eye(net.n_outputs))
    blocks = full_k.reshape(n, net.n_outputs, n, net.n_outputs)
    out = {"samples": n,
           "kernel_rel_gap": float(np.linalg.norm(full_k - kron) / np.linalg.norm(full_k)),
           "off_diagonal_share": float(np.sqrt(max(0.0, 1.0 - np.sum(
               np.einsum("iojo->ijo", blocks) ** 2) / np.sum(full_k**2))))}
    flat0 = flatten_params(params_s)
    moves: dict = {}
    for kind in ("mean", "full"):
        kern = dynamics.subset_kernel(net, params_s, x, y, kind=kind)
        out[f"seconds_kernel_eigh_{kind}"] = sum(kern.seconds.values())
        gains = dynamics.cumulative_gains("NTK3", "consistent", kern.eigenvalues, small)[-1]
        for residual in spec.residuals:
            new = dynamics.apply_update(net, params_s, x, kern.coefficients(gains, residual))
            moves[kind, residual] = flatten_params(new) - flat0
            loss, metric = ctx.evaluate(new, "test")
            out[f"test_loss_{kind}_{residual}"] = loss
            out[f"test_metric_{kind}_{residual}"] = metric
    for residual in spec.residuals:
        diff = moves["mean", residual] - moves["full", residual]
        out[f"update_rel_diff_{residual}"] = float(
            np.linalg.norm(diff) / np.linalg.norm(moves["full", residual]))
    return out


def cutoff_comparison(ctx: RunContext, params_s: Params, replaced: ReplacedSGD) -> dict:
    """NTK3 (consistent) with the default cutoff ``M eps(float64)`` against the worst-case
    float32 cutoff ``M eps(float32)``: eigen-directions dropped, update difference, test metric."""
    net, spec = ctx.net, ctx.spec
    kern = dynamics.subset_kernel(net, params_s, ctx.x_sub, ctx.t_sub, kind=spec.kernel)
    m = kern.eigenvalues.shape[0]
    worst = dataclasses.replace(kern, cutoff=dynamics.pinv_cutoff(
        kern.eigenvalues, m * float(np.finfo(np.float32).eps)))
    gains = dynamics.cumulative_gains("NTK3", "consistent", kern.eigenvalues, replaced)[-1]
    flat0 = flatten_params(params_s)
    out = {"eigenvalues": m, "lambda_max": float(kern.eigenvalues[-1])}
    for name, k in (("float64", kern), ("float32", worst)):
        out[f"cutoff_{name}"] = k.cutoff
        out[f"dropped_{name}"] = int(np.sum(k.eigenvalues <= k.cutoff))
    for residual in spec.residuals:
        moves = {}
        for name, k in (("float64", kern), ("float32", worst)):
            new = dynamics.apply_update(net, params_s, ctx.x_sub,
                                           k.coefficients(gains, residual))
            moves[name] = flatten_params(new) - flat0
            out[f"test_metric_{name}_{residual}"] = ctx.evaluate(new, "test")[1]
        out[f"update_rel_diff_{residual}"] = float(
            np.linalg.norm(moves["float32"] - moves["float64"]) / np.linalg.norm(moves["float64"]))
    return out


def eigh_threads(ctx: RunContext, params_s: Params) -> dict:
    """Seconds of the subset kernel's float64 eigendecomposition with one LAPACK thread (what
    the NTK phase uses) and with one per core, on the same matrix, back to back."""
    theta = np.asarray(empirical_ntk(ctx.net, params_s, ctx.x_sub), np.float64)
    out = {}
    for threads in sorted({1, os.cpu_count() or 1}):
        with lapack_threads(threads):
            tic = time.perf_counter()
            scipy.linalg.eigh(theta, driver="evd", check_finite=False)
            out[str(threads)] = time.perf_counter() - tic
    return out


def literal_ntk1(ctx: RunContext, params_s: Params, replaced: ReplacedSGD, loss_s: float) -> dict:
    """Seconds per step of NTK1 done literally (one JVP and one VJP per step) on the subset,
    and the subset loss after those steps (with the SGD's step, as the consistent NTK1)."""
    steps = int(ctx.spec.literal_ntk1_steps)
    run = partial(dynamics.ntk1_descent, ctx.net, params_s, ctx.x_sub, ctx.t_sub,
                  rate=replaced.consistent_rate, step=replaced.learning_rate)
    jax.block_until_ready(run(n_steps=steps))  # compile
    tic = time.perf_counter()
    new = jax.block_until_ready(run(n_steps=steps))
    seconds = time.perf_counter() - tic
    out = outputs(ctx.net, new, ctx.x_sub)
    loss = dynamics.phase_loss(out, ctx.t_sub, "squared") if np.all(np.isfinite(out)) \
        else float("nan")
    return {"steps": steps, "seconds_per_step": seconds / steps,
            "extrapolated_seconds": seconds / steps * replaced.steps,
            "subset_loss_at_switch": loss_s, "subset_loss_after": finite_or_none(loss)}


def measure_extras(ctx: RunContext, params_s: Params, switch_epoch: int) -> Extras:
    """The optional measurements at the first switch point ``switch_epoch`` (parameters
    ``params_s``), as the spec asks for them."""
    spec = ctx.spec
    replaced = ctx.replaced(switch_epoch)
    found: dict = {}
    if spec.full_kernel_samples > 0:
        found["full_kernel"] = full_kernel_comparison(ctx, params_s, replaced)
        found["cutoff"] = cutoff_comparison(ctx, params_s, replaced)
        found["eigh_seconds_by_threads"] = eigh_threads(ctx, params_s)
    if spec.literal_ntk1_steps > 0:
        loss_s = dynamics.phase_loss(outputs(ctx.net, params_s, ctx.x_sub),
                                        ctx.t_sub, "squared")
        found["literal_ntk1"] = literal_ntk1(ctx, params_s, replaced, loss_s)
    return Extras(switch_epoch=switch_epoch, **found)
