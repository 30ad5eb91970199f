"""The analytic infinite-width NTK (and NNGP kernel) of the MLPs of :class:`ntkbook.MLP`.

For the NTK parametrisation — every W and b from N(0, 1), layer ``a @ W / sqrt(fan_in) + b`` —
the empirical kernel of a network of depth ``D`` converges, as every hidden width grows, to the
deterministic kernel of the recursion (Jacot et al., 2018)

    Sigma^1(x, x') = x . x' / n_0 + 1,                 Theta^1 = Sigma^1,
    Sigma^{l+1}   = E[phi(u) phi(v)] + 1,              Sigma_dot^{l+1} = E[phi'(u) phi'(v)],
    Theta^{l+1}   = Theta^l Sigma_dot^{l+1} + Sigma^{l+1},

with ``(u, v)`` centred Gaussian of covariance ``[[Sigma^l(x, x), Sigma^l(x, x')],
[Sigma^l(x, x'), Sigma^l(x', x')]]``, for ``l = 1 .. D - 1``. The expectations have closed forms
for ReLU and leaky ReLU (the arc-cosine kernels) and erf; ELU's inner expectation is closed-form
and its outer one a 1-D quadrature split at the kink; Sigmoid and tanh use Gauss-Hermite
quadrature in two dimensions.

Only the NTK parametrisation has a limit: in the standard parametrisation the kernel grows with
the width, and in Berg's literal reading (``parametrization="berg"``) it grows like the width.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ntkbook.core.activations import LEAKY_RELU_SLOPE

CLOSED_FORMS = ("relu", "leaky_relu", "erf")
SEMI_ANALYTIC = ("elu",)  # inner expectation closed, outer 1-D quadrature
QUADRATURE_NODES = 48
_PAIR_BLOCK = 4096


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _elu(z):
    return np.where(z >= 0, z, np.expm1(np.minimum(z, 0.0)))


def _erf(z):
    from scipy.special import erf

    return erf(z)


# Activation and its derivative, elementwise on NumPy arrays.
_FUNCTIONS: dict[str, tuple[Callable, Callable]] = {
    "relu": (lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float)),
    "leaky_relu": (lambda z: np.where(z >= 0, z, LEAKY_RELU_SLOPE * z),
                   lambda z: np.where(z >= 0, 1.0, LEAKY_RELU_SLOPE)),
    "elu": (_elu, lambda z: np.where(z >= 0, 1.0, np.exp(np.minimum(z, 0.0)))),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    "erf": (_erf, lambda z: 2.0 / np.sqrt(np.pi) * np.exp(-z * z)),
}


def _angle(q1, q2, c):
    norm = np.sqrt(q1 * q2)
    return np.arccos(np.clip(c / norm, -1.0, 1.0)), norm


def _leaky_relu_expectations(q1, q2, c, slope):
    """Closed forms for ``phi(z) = max(z, 0) + slope * min(z, 0)`` (ReLU: slope 0)."""
    theta, norm = _angle(q1, q2, c)

    def relu_product(angle):  # E[relu(u) relu(v)] for correlation angle `angle`
        return norm / (2 * np.pi) * (np.sin(angle) + (np.pi - angle) * np.cos(angle))

    e_phi = (1 + slope**2) * relu_product(theta) - 2 * slope * relu_product(np.pi - theta)
    e_dphi = ((1 + slope**2) * (np.pi - theta) + 2 * slope * theta) / (2 * np.pi)
    return e_phi, e_dphi


def _erf_expectations(q1, q2, c):
    a, b = 1 + 2 * q1, 1 + 2 * q2
    e_phi = 2 / np.pi * np.arcsin(np.clip(2 * c / np.sqrt(a * b), -1.0, 1.0))
    e_dphi = 4 / np.pi / np.sqrt(a * b - 4 * c * c)
    return e_phi, e_dphi


def _elu_conditional(m, s):
    """``E[phi(v) | u]``, ``E[phi'(v) | u]`` for ELU, ``v | u ~ N(m, s^2)``, in closed form."""
    from scipy.special import log_ndtr, ndtr

    a = m / s
    # E[e^v 1{v < 0}] = exp(m + s^2/2) Phi(-(m + s^2)/s), in logs against overflow.
    tail = np.exp(m + 0.5 * s * s + log_ndtr(-(m + s * s) / s))
    e_phi = m * ndtr(a) + s * np.exp(-0.5 * a * a) / np.sqrt(2 * np.pi) + tail - ndtr(-a)
    return e_phi, ndtr(a) + tail


def _elu_expectations(q1, q2, c, nodes=96, reach=12.0):
    """ELU: the inner expectation over ``v | u`` in closed form, the outer one over ``u`` by
    Gauss-Legendre on each side of the kink at ``u = 0`` (Gauss-Hermite converges slowly there)."""
    z, w = np.polynomial.legendre.leggauss(nodes)
    z = np.concatenate([(z - 1) * reach / 2, (z + 1) * reach / 2])  # [-reach, 0] and [0, reach]
    w = np.concatenate([w, w]) * reach / 2 * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
    phi, dphi = _FUNCTIONS["elu"]
    u = np.sqrt(q1)[:, None] * z[None, :]
    m = (c / q1)[:, None] * u
    s = np.sqrt(np.maximum(q2 - c * c / q1, 1e-24 * q2))[:, None]
    cond_phi, cond_dphi = _elu_conditional(m, s)
    return (phi(u) * cond_phi) @ w, (dphi(u) * cond_dphi) @ w


def _hermite(nodes: int):
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / np.sqrt(2 * np.pi)  # weights of the standard normal


def _quadrature_expectations(activation, q1, q2, c, nodes=QUADRATURE_NODES):
    """E[phi(u)phi(v)] and E[phi'(u)phi'(v)] by tensor Gauss-Hermite, in blocks of pairs."""
    phi, dphi = _FUNCTIONS[activation]
    z, w = _hermite(nodes)
    s1, s2 = np.sqrt(q1), np.sqrt(q2)
    rho = np.clip(c / (s1 * s2), -1.0, 1.0)
    e_phi, e_dphi = np.empty_like(c), np.empty_like(c)
    weights = np.outer(w, w)  # (a, b)
    for start in range(0, c.size, _PAIR_BLOCK):
        sl = slice(start, start + _PAIR_BLOCK)
        u = s1[sl, None, None] * z[None, :, None]
        v = s2[sl, None, None] * (rho[sl, None, None] * z[None, :, None]
                                  + np.sqrt(1 - rho[sl, None, None] ** 2) * z[None, None, :])
        e_phi[sl] = np.einsum("pab,ab->p", phi(u) * phi(v), weights)
        e_dphi[sl] = np.einsum("pab,ab->p", dphi(u) * dphi(v), weights)
    return e_phi, e_dphi


def gaussian_expectations(activation: str, q1, q2, c, method: str = "auto"):
    """``E[phi(u) phi(v)]`` and ``E[phi'(u) phi'(v)]`` for centred Gaussian ``(u, v)`` with
    variances ``q1``, ``q2`` and covariance ``c`` (arrays of one shape).

    Args:
        method: ``"auto"`` (closed form where there is one), ``"closed"`` or ``"quadrature"``.
    """
    if activation not in _FUNCTIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of "
                         f"{', '.join(sorted(_FUNCTIONS))}")
    if method not in ("auto", "closed", "quadrature"):
        raise ValueError(f"method must be 'auto', 'closed' or 'quadrature', got {method!r}")
    q1, q2, c = (np.asarray(a, dtype=np.float64) for a in np.broadcast_arrays(q1, q2, c))
    shape = c.shape
    q1, q2, c = q1.ravel(), q2.ravel(), c.ravel()
    if method == "closed" and activation not in CLOSED_FORMS + SEMI_ANALYTIC:
        raise ValueError(f"{activation} has no closed form; use method='quadrature'")
    if method == "quadrature" or activation not in CLOSED_FORMS + SEMI_ANALYTIC:
        out = _quadrature_expectations(activation, q1, q2, c)
    elif activation == "erf":
        out = _erf_expectations(q1, q2, c)
    elif activation == "elu":
        out = _elu_expectations(q1, q2, c)
    else:
        slope = LEAKY_RELU_SLOPE if activation == "leaky_relu" else 0.0
        out = _leaky_relu_expectations(q1, q2, c, slope)
    return tuple(o.reshape(shape) for o in out)


def _inputs(x1, x2):
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = x1 if x2 is None else np.asarray(x2, dtype=np.float64)
    if x1.ndim != 2 or x2.ndim != 2 or x1.shape[1] != x2.shape[1]:
        raise ValueError(f"inputs must be (n1, d) and (n2, d); got {x1.shape} and {x2.shape}")
    return x1, x2


def infinite_width_kernels(
    x1, x2=None, *, activation: str, depths: Sequence[int], method: str = "auto"
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """The limit kernels at several depths from one recursion.

    Args:
        x1: inputs ``(n1, d)``; x2: inputs ``(n2, d)`` or None (= x1).
        activation: one of relu, leaky_relu, elu, sigmoid, tanh, erf.
        depths: network depths (numbers of weight layers, >= 1).
        method: see :func:`gaussian_expectations`.

    Returns:
        depth -> ``(ntk, nngp)``, each ``(n1, n2)`` float64; ``nngp`` is the covariance of the
        output at initialisation.
    """
    depths = sorted({int(d) for d in depths})
    if not depths or depths[0] < 1:
        raise ValueError(f"depths must be >= 1, got {depths}")
    symmetric = x2 is None
    x1, x2 = _inputs(x1, x2)
    d = x1.shape[1]
    sigma = x1 @ x2.T / d + 1.0
    q1 = np.einsum("ij,ij->i", x1, x1) / d + 1.0
    q2 = np.einsum("ij,ij->i", x2, x2) / d + 1.0
    theta = sigma.copy()
    out = {}
    for depth in range(1, depths[-1] + 1):
        if depth in depths:
            out[depth] = (theta.copy(), sigma.copy())
        if depth == depths[-1]:
            break
        e_phi, e_dphi = _pair_expectations(activation, q1, q2, sigma, method, symmetric)
        theta = theta * e_dphi + e_phi + 1.0
        sigma = e_phi + 1.0
        q1 = gaussian_expectations(activation, q1, q1, q1, method)[0] + 1.0
        q2 = gaussian_expectations(activation, q2, q2, q2, method)[0] + 1.0
    return out


def _pair_expectations(activation, q1, q2, sigma, method, symmetric):
    """The expectations for every pair; for a symmetric kernel only the upper triangle."""
    if not symmetric:
        qq1 = np.broadcast_to(q1[:, None], sigma.shape)
        qq2 = np.broadcast_to(q2[None], sigma.shape)
        return gaussian_expectations(activation, qq1, qq2, sigma, method)
    rows, cols = np.triu_indices(sigma.shape[0])
    upper = gaussian_expectations(activation, q1[rows], q2[cols], sigma[rows, cols], method)
    out = []
    for values in upper:
        full = np.empty_like(sigma)
        full[rows, cols] = values
        full[cols, rows] = values
        out.append(full)
    return out


def _check_parametrization(parametrization: str) -> None:
    if parametrization != "ntk":
        raise ValueError(
            f"no infinite-width limit for parametrization {parametrization!r}: its kernel grows "
            "with the width; use parametrization='ntk'"
        )


def infinite_width_ntk(x1, x2=None, *, activation: str, depth: int,
                       parametrization: str = "ntk", method: str = "auto") -> np.ndarray:
    """The infinite-width NTK of a single-output MLP of ``depth`` weight layers, ``(n1, n2)``.

    The mean-over-outputs kernel of a multi-output network has the same limit.
    """
    _check_parametrization(parametrization)
    return infinite_width_kernels(x1, x2, activation=activation, depths=[depth],
                                  method=method)[depth][0]


def infinite_width_nngp(x1, x2=None, *, activation: str, depth: int,
                        parametrization: str = "ntk", method: str = "auto") -> np.ndarray:
    """The infinite-width covariance (NNGP kernel) of the network's output, ``(n1, n2)``."""
    _check_parametrization(parametrization)
    return infinite_width_kernels(x1, x2, activation=activation, depths=[depth],
                                  method=method)[depth][1]
