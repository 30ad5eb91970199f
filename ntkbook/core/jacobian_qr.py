"""λ_min of the empirical NTK from a streamed QR of the implicit Jacobian, with an error bound.

Why. ``Theta = J J^T``, so ``lambda_min(Theta) = sigma_min(J)^2``. An eigensolver applied to a
kernel formed in floating point resolves eigenvalues only to about ``n eps ||Theta||_2``
(:func:`ntkbook.core.spectrum.eig_tolerance`); an orthogonal factorisation of ``J`` resolves
``sigma_min(J)`` to about ``eps ||J||``, i.e. ``lambda_min`` to about ``2 eps sigma_min ||J||``,
which is far smaller when ``lambda_min << ||Theta||`` (deep Sigmoid networks, whose kernels are
nearly ``c 1 1^T``). This module computes ``sigma_min(J)`` without forming ``Theta`` and without
ever holding ``J`` (``N x P`` with ``P`` up to ~10^7 parameters).

How. For a dense layer ``h_l = s_l a_{l-1} W_l + b_l`` of a single-output network the Jacobian row
of sample ``i`` with respect to ``(W_l, b_l)`` is ``[s_l a_{l-1}(x_i), 1] ⊗ g_l(x_i)`` with
``g_l = df/dh_l`` (``g = 1`` for the output layer): ``J_l^T = Ã_l^T ⊙ G_l^T``, the column-wise
Kronecker (Khatri–Rao) product of ``Ã_l = [s_l A_{l-1}, 1]`` (``N x (n_{l-1}+1)``) and ``G_l``
(``N x n_l``). With thin QR factorisations ``Ã^T = Q_1 R_1`` and ``G^T = Q_2 R_2``,
``J_l^T = (Q_1 ⊗ Q_2)(R_1 ⊙ R_2)`` and ``Q_1 ⊗ Q_2`` has orthonormal columns, so ``J_l^T`` and
the ``k_1 k_2 x N`` matrix ``R_1 ⊙ R_2`` (``k <= N``) have the same R factor: an exact
orthogonal reduction of ``(n_{l-1}+1) n_l`` rows to at most ``N^2``. Row ``(a, b)`` of
``R_1 ⊙ R_2`` is zero in the columns before ``max(a, b)`` (both factors are triangular), so its
rows are reduced in chunks of ``t = max(a, b)`` — chunks of the layer's (rotated) input units —
each stacked under the trailing part of the running ``N x N`` factor,
``R[t:, t:] <- R of [R[t:, t:]; block]``: a streamed tall-skinny QR over all layers that never
holds more than one block. The singular values of the final ``R`` are those of ``J``.
Everything runs in float64.

Error bound (a posteriori, per call). The computed ``sigma`` are exact for a perturbed
Jacobian ``J + E``, so by Weyl's inequality ``|sigma_hat - sigma| <= ||E||_2 <= ||E||_F``. In
the probabilistic model of rounding (Higham & Mary 2019: an inner product of length ``n`` has
a relative error of about ``sqrt(n) u`` rather than the worst case ``n u``), ``E`` has two parts:

* *the layer quantities*: ``a_l`` and ``g_l`` are sums of ``n_{l-1}`` rounded products, so
  the rows of ``J`` carry a relative error of about ``u sqrt(sum_l (n_{l-1}+1))``;
* *the factorisations*: each Householder reduction of an ``N``-column block is backward stable
  with a column-wise error of about ``sqrt(N) u`` of the columns' norm; the ``n_red``
  reductions (the per-layer QRs of ``Ã`` and ``G`` included in the count's order) accumulate in
  quadrature, and the final SVD of ``R`` adds one more.

Hence ``delta_sigma = u ||J||_F (sqrt(sum_l (n_{l-1}+1)) + sqrt(N (n_red + 1)))`` with
``u = eps/2`` of float64 and ``||J||_F^2 = trace(Theta) = sum_{i,l} ||ã_{l,i}||^2 ||g_{l,i}||^2``
computed from the layer quantities, and ``delta_lambda = (2 sigma_hat + delta_sigma)
delta_sigma``. It is a first-order model bound, not a worst-case one (the worst-case constants,
``m N u`` per QR of ``m`` rows, are about 10^4 times larger and never attained); the tests check
it against 50-digit references, where the actual error is 10^3–10^5 times below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from ntkbook.core.kernel import _forward_backward
from ntkbook.core.mlp import MLP, Params
from ntkbook.core.spectrum import lapack_threads

UNIT_ROUNDOFF = float(np.finfo(np.float64).eps) / 2
CHUNK_UNITS = 16  # rotated units t = max(a, b) per reduction block


@dataclass(frozen=True)
class QRSpectrum:
    """Singular values of ``J`` from the streamed QR, and what bounds their error.

    ``sigma``: descending, length ``N`` (zeros appended if ``J`` has fewer than ``N`` columns
    left after compression). ``sigma_error_bound``: ``delta_sigma`` of the module docstring;
    ``truncation``: its measured truncation part; ``frobenius``: ``||J||_F``; ``reductions``:
    the number of QR reductions.
    """

    sigma: np.ndarray
    sigma_error_bound: float
    frobenius: float
    reductions: int

    @property
    def lambda_min(self) -> float:
        return float(self.sigma[-1] ** 2)

    @property
    def lambda_max(self) -> float:
        return float(self.sigma[0] ** 2)

    @property
    def lambda_min_error_bound(self) -> float:
        d = self.sigma_error_bound
        return float((2.0 * self.sigma[-1] + d) * d)


def _r_factor(m: np.ndarray) -> np.ndarray:
    """R factor (``min(k, N) x N``, upper trapezoidal) of ``m^T`` for ``m`` of shape (N, k)."""
    return scipy.linalg.qr(m.T, mode="r", check_finite=False)[0][: min(m.shape)]


def _reduce(r: np.ndarray, block: np.ndarray, start: int) -> None:
    """TSQR step in place: ``r[start:, start:] <- R of [r[start:, start:]; block]``.

    ``block`` holds rows of ``J^T`` whose first ``start`` columns are zero, so the reflectors
    of those columns are the identity and only the trailing part of ``r`` changes.
    """
    stacked = np.concatenate([r[start:, start:], block])
    new = scipy.linalg.qr(stacked, mode="r", overwrite_a=True, check_finite=False)[0]
    r[start:, start:] = 0.0
    r[start:start + new.shape[0], start:] = new[: r.shape[0] - start]


def qr_spectrum(inputs, scales, grads, *, chunk: int = CHUNK_UNITS) -> QRSpectrum:
    """Singular values of the Jacobian of a single-output MLP from its layer quantities.

    Args:
        inputs: ``D`` arrays, ``inputs[l]`` the input of weight layer ``l``, ``(N, n_l)``
            (``inputs[0]`` = the data).
        scales: ``D`` factors, ``s_l`` of ``h = s_l a W + b``.
        grads: ``D - 1`` arrays ``df/dh`` of the hidden layers, ``grads[l]`` ``(N, n_{l+1})``;
            the output layer's is 1.
        chunk: (rotated) units per reduction block.

    Returns:
        :class:`QRSpectrum`.
    """
    n = inputs[0].shape[0]
    r = np.zeros((n, n))
    frob2, fan_sum, reductions = 0.0, 0.0, 0
    with lapack_threads(1):
        for layer, (a, s) in enumerate(zip(inputs, scales, strict=True)):
            a = np.asarray(a, dtype=np.float64)
            a_t = np.concatenate([float(s) * a, np.ones((n, 1))], axis=1)
            fan_sum += a_t.shape[1]
            a_norm2 = np.sum(a_t * a_t, axis=1)
            r1 = _r_factor(a_t)
            if layer == len(grads):  # output layer: df/dh = 1, J_D^T = Ã^T
                frob2 += float(np.sum(a_norm2))
                _reduce(r, r1, 0)
                reductions += 1
                continue
            g = np.asarray(grads[layer], dtype=np.float64)
            frob2 += float(np.sum(a_norm2 * np.sum(g * g, axis=1)))
            r2 = _r_factor(g)
            # Row (a, b) of C1 ⊙ C2 is zero in the columns before max(a, b): reduce the rows
            # in chunks of t = max(a, b), each against the trailing part of R only.
            for t0 in range(0, max(r1.shape[0], r2.shape[0]), chunk):
                t1 = t0 + chunk
                block = [(r1[t0:t1, None, t0:] * r2[None, :t1, t0:]).reshape(-1, n - t0),
                         (r1[:t0, None, t0:] * r2[None, t0:t1, t0:]).reshape(-1, n - t0)]
                block = np.concatenate(block)
                if block.shape[0]:
                    _reduce(r, block, t0)
                    reductions += 1
        sigma = scipy.linalg.svdvals(r, check_finite=False)
    frobenius = math.sqrt(frob2)
    rounding = UNIT_ROUNDOFF * frobenius * (math.sqrt(fan_sum) + math.sqrt(n * (reductions + 1)))
    return QRSpectrum(sigma=sigma, sigma_error_bound=rounding, frobenius=frobenius,
                      reductions=reductions)


@partial(jax.jit, static_argnames=("net",))
def _layer_quantities(net: MLP, params: Params, x: jax.Array):
    inputs, _, grads = _forward_backward(net, params, x, net.weight_scales())
    return inputs, [g[:, 0, :] for g in grads]


def jacobian_qr_spectrum(net: MLP, params: Params, x: jax.Array) -> QRSpectrum:
    """:func:`qr_spectrum` of ``net`` at ``params`` on ``x`` (single output; float64 params)."""
    if net.n_outputs != 1:
        raise ValueError("the Jacobian QR needs a single-output network")
    dtype = params[0][0].dtype
    inputs, grads = _layer_quantities(net, params, jnp.asarray(x, dtype))
    return qr_spectrum([np.asarray(a) for a in inputs], net.weight_scales(),
                       [np.asarray(g) for g in grads])


@partial(jax.jit, static_argnames=("net",))
def masked_layer_quantities(net: MLP, params: Params, x: jax.Array, scales: jax.Array,
                            mask: jax.Array):
    """Layer inputs and gradients of a narrower network embedded in a wide one.

    The same embedding as :func:`ntkbook.core.kernel.masked_ntk` (``mask`` zeroes the hidden
    units that do not exist; one compiled program per depth and bucket width). Returns
    ``(hidden_inputs, grads)``, both ``(D - 1, N, m)``: the inputs of weight layers ``1..D-1``
    and ``df/dh`` of hidden layers ``1..D-1``; masked units are 0 in both.
    """
    if net.n_outputs != 1 or len(set(net.sizes[1:-1])) > 1 or net.depth < 2:
        raise ValueError("masked_layer_quantities needs one output, equal hidden widths, depth>1")

    def activate(h):
        a, slope = jax.jvp(net.phi, (h,), (jnp.ones_like(h),))
        return a * mask, slope * mask

    (w0, b0), (w_out, _) = params[0], params[-1]
    a, slope = activate((x @ w0) * scales[0] + b0)
    hidden = params[1:-1]
    a_all, slope_all = [a[None]], [slope[None]]
    if hidden:
        stacked = (jnp.stack([w for w, _ in hidden]), jnp.stack([b for _, b in hidden]),
                   scales[1:-1])

        def forward(carry, layer):
            w, b, s = layer
            out = activate((carry @ w) * s + b)
            return out[0], out

        _, (a_rest, slope_rest) = jax.lax.scan(forward, a, stacked)
        a_all.append(a_rest)
        slope_all.append(slope_rest)
    a_all = jnp.concatenate(a_all)  # (D-1, N, m): outputs of hidden layers 1..D-1
    slope_all = jnp.concatenate(slope_all)
    g_last = scales[-1] * w_out[:, 0] * slope_all[-1]
    if hidden:

        def backward(g, layer):
            w, s, slope_in = layer
            g_in = (g @ w.T) * s * slope_in
            return g_in, g_in

        _, g_rest = jax.lax.scan(backward, g_last, (stacked[0], stacked[2], slope_all[:-1]),
                                 reverse=True)
        grads = jnp.concatenate([g_rest, g_last[None]])
    else:
        grads = g_last[None]
    return a_all, grads
