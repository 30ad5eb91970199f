"""References on the linearised model, integrated or iterated step by step (no kernel formed).

The linearised model at ``theta0`` is ``f_lin(theta) = f(theta0) + J0 (theta - theta0)``. Its
gradient flow and its frozen-Jacobian gradient descent (NTK1) are computed here with JVPs and VJPs
of the network at ``theta0`` (``jax.linearize`` and its transpose, compiled once), so they check
the spectral closed forms of :mod:`ntkbook.dynamics.closed_form` and
:mod:`ntkbook.dynamics.gains` independently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.integrate
from jax.flatten_util import ravel_pytree

from ntkbook.core.kernel import check_finite
from ntkbook.core.mlp import MLP, Params
from ntkbook.core.products import as_outputs
from ntkbook.dynamics.conventions import ArrayLike


def as_targets(net: MLP, y: ArrayLike, n: int) -> np.ndarray:
    """Targets ``(n,)`` or ``(n, n_out)`` as float64 ``(n, n_out)``.

    Raises:
        ValueError: ``y`` does not have ``n_out`` columns.
    """
    y = np.asarray(y, dtype=np.float64).reshape(n, -1)
    if y.shape[1] != net.n_outputs:
        raise ValueError(
            f"NTK targets must have {net.n_outputs} columns (one-hot for classification), got "
            f"shape {y.shape}"
        )
    return y


@dataclass(frozen=True)
class LinearizedPath:
    """A numerically integrated trajectory of the linearised model under gradient flow.

    Attributes:
        times: ``(T,)`` gradient-flow times.
        displacements: ``(T, P)`` flat ``theta(t) - theta0`` (``ravel_pytree`` order), float64.
        outputs: ``(T, n, n_out)`` outputs ``f_lin(theta(t))``, float64.
        n_rhs: number of right-hand-side evaluations the integrator used.
        unravel: flat vector -> parameter pytree.
        params0: ``theta0``.
    """

    times: np.ndarray
    displacements: np.ndarray
    outputs: np.ndarray
    n_rhs: int
    unravel: Callable[[jax.Array], Params]
    params0: Params

    def params_at(self, i: int) -> Params:
        """``theta(times[i])`` as a parameter pytree."""
        delta = self.unravel(jnp.asarray(self.displacements[i]))
        return jax.tree_util.tree_map(lambda p, d: p + d, self.params0, delta)


def integrate_linearized_flow(
    net: MLP,
    params0: Params,
    x: jax.Array,
    y: ArrayLike,
    times: ArrayLike,
    *,
    rate: float,
    rtol: float = 1e-13,
    atol: float = 1e-15,
    method: str = "DOP853",
) -> LinearizedPath:
    """Integrate ``d theta/dt = -rate J0^T (f_lin(theta) - y)`` numerically, in parameter space.

    The linearised model's gradient flow, integrated by :func:`scipy.integrate.solve_ivp` for the
    displacement ``theta - theta0`` (so ``rtol`` applies to what moves). The right-hand side is
    one JVP and one VJP at ``theta0`` (``jax.linearize`` and its transpose), compiled once; no
    kernel or Jacobian is formed, so this checks the closed forms independently.

    Args:
        net: the network.
        params0: ``theta0``; the integration runs in its dtype (use float64).
        x: inputs ``(n, n_0)``.
        y: targets, ``n * n_out`` entries.
        times: ``(T,)`` increasing times ``>= 0`` at which to report the state.
        rate: ``2c/N`` (:func:`ntkbook.dynamics.conventions.flow_rate`).
        rtol, atol: tolerances of the integrator.
        method: a ``solve_ivp`` method; an explicit high-order one (``DOP853``) is exact enough
            and needs no ``P x P`` Jacobian.

    Returns:
        The :class:`LinearizedPath` at ``times``.

    Raises:
        RuntimeError: the integrator failed.
        FloatingPointError: the solution holds NaN/Inf.
    """
    dtype = params0[0][0].dtype
    x = jnp.asarray(x, dtype)
    flat0, unravel = ravel_pytree(params0)
    f0, jvp_fn = jax.linearize(lambda flat: net.apply(unravel(flat), x), flat0)
    vjp_fn = jax.linear_transpose(jvp_fn, flat0)
    r0 = f0 - as_outputs(net, y, x.shape[0], dtype)

    @jax.jit
    def rhs(delta):
        (g,) = vjp_fn(r0 + jvp_fn(delta))
        return -rate * g

    outputs_at = jax.jit(jax.vmap(lambda delta: f0 + jvp_fn(delta)))
    times = np.asarray(times, dtype=np.float64)
    if times.ndim != 1 or np.any(np.diff(times) < 0) or times[0] < 0:
        raise ValueError("times must be a 1-D increasing array of non-negative numbers")
    fun = lambda _, d: np.asarray(rhs(jnp.asarray(d, dtype)), dtype=np.float64)  # noqa: E731
    # One solve per interval, so that every reported time is a step of the integrator: dense
    # output between steps is several orders less accurate than the steps themselves.
    disp = np.zeros((times.shape[0], flat0.shape[0]))
    n_rhs = 0
    for i in range(1, times.shape[0]):
        if times[i] == times[i - 1]:
            disp[i] = disp[i - 1]
            continue
        sol = scipy.integrate.solve_ivp(
            fun, (times[i - 1], times[i]), disp[i - 1], method=method, rtol=rtol, atol=atol
        )
        if not sol.success:
            raise RuntimeError(f"integration of the linearised flow failed: {sol.message}")
        disp[i] = sol.y[:, -1]
        n_rhs += int(sol.nfev)
    check_finite(disp, "linearised flow")
    outputs = np.asarray(outputs_at(jnp.asarray(disp, dtype)), dtype=np.float64)
    return LinearizedPath(times, disp, outputs, n_rhs, unravel, params0)


@partial(jax.jit, static_argnames=("net", "n_steps", "linearised"))
def _ntk1_scan(net, params0, x, y, step_size, n_steps, linearised):
    f0, jvp_fn = jax.linearize(lambda p: net.apply(p, x), params0)
    vjp_fn = jax.linear_transpose(jvp_fn, params0)

    def one(p, _):
        if linearised:
            delta = jax.tree_util.tree_map(jnp.subtract, p, params0)
            out = f0 + jvp_fn(delta)
        else:
            out = net.apply(p, x)
        (g,) = vjp_fn(out - y)
        return jax.tree_util.tree_map(lambda a, b: a - step_size * b, p, g), None

    return jax.lax.scan(one, params0, None, length=n_steps)[0]


def ntk1_descent(
    net: MLP,
    params0: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    rate: float,
    step: float,
    n_steps: int,
    linearised: bool = True,
) -> Params:
    """NTK1 literally: ``theta <- theta - rate step J_s^T (f(theta) - Y)``, ``n_steps`` times.

    ``J_s^T`` is the VJP at ``theta_s = params0`` (``jax.linearize`` and its transpose, compiled
    once, in one ``lax.scan``). With ``linearised`` (default) ``f`` is the linearised model
    ``f(theta_s) + J_s (theta - theta_s)`` (one JVP per step) and the result equals the spectral
    form :func:`ntkbook.dynamics.gains.ntk1_gains`; otherwise ``f`` is the network itself (the
    thesis' eq. 15 read literally).

    Args:
        net: the network. params0: ``theta_s``; their dtype is the computation's.
        x: ``(n, n_0)`` inputs. y: targets ``(n,)`` or ``(n, n_out)``.
        rate: ``rho``. step: flow time per step (``eta``). n_steps: ``K``.
        linearised: descend the linearised model (default) or the network.

    Returns:
        The parameters after ``n_steps`` steps, a pytree like ``params0``.
    """
    dtype = params0[0][0].dtype
    xj = jnp.asarray(x, dtype)
    yj = jnp.asarray(as_targets(net, y, xj.shape[0]), dtype)
    return _ntk1_scan(net, params0, xj, yj, rate * step, int(n_steps), bool(linearised))
