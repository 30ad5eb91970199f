"""A fully connected network in the two parametrisations the book compares.

Depth is the number of weight layers, so ``sizes=(784, 800, 800, 1)`` has depth 3 and two
hidden layers. There is no activation after the last layer.

* ``"ntk"`` (Jacot et al.): every W and b is drawn from N(0, 1) and layer l computes
  ``a @ W / sqrt(fan_in) + b``.
* ``"standard"``: W is Glorot-normal, b is zero, and layer l computes ``a @ W + b``.
* ``"berg"``: Berg (2024)'s eq. (5) read literally, which is the reading that reproduces his
  numbers: every W and b from N(0, 1); a hidden layer computes ``a @ W / sqrt(n_l) + b`` with
  ``n_l`` the layer's *own* width (its fan-out), and the output layer ``a @ W + b`` unscaled.
  Its kernel is about ``width`` times the ``"ntk"`` one, so its eigenvalues are too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ntkbook.core.activations import Activation, get_activation

Params = list[tuple[jax.Array, jax.Array]]

PARAMETRIZATIONS = ("ntk", "standard", "berg")


@dataclass(frozen=True)
class MLP:
    """A multilayer perceptron.

    Args:
        sizes: layer widths ``(n_0, n_1, ..., n_D)``: input, hidden layers, output.
        activation: name of the activation (see :data:`ntkbook.core.activations.ACTIVATIONS`).
        parametrization: ``"ntk"`` or ``"standard"``.
    """

    sizes: tuple[int, ...]
    activation: str = "relu"
    parametrization: str = "ntk"
    phi: Activation = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = tuple(int(n) for n in self.sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(f"sizes must hold at least two positive widths, got {self.sizes!r}")
        if self.parametrization not in PARAMETRIZATIONS:
            raise ValueError(
                f"unknown parametrization {self.parametrization!r}; "
                f"choose one of {PARAMETRIZATIONS}"
            )
        object.__setattr__(self, "sizes", sizes)
        object.__setattr__(self, "phi", get_activation(self.activation))

    @property
    def depth(self) -> int:
        """Number of weight layers."""
        return len(self.sizes) - 1

    @property
    def n_outputs(self) -> int:
        return self.sizes[-1]

    @property
    def n_params(self) -> int:
        return sum((a + 1) * b for a, b in zip(self.sizes[:-1], self.sizes[1:], strict=True))

    def weight_scales(self) -> tuple[float, ...]:
        """The factor each layer multiplies ``a @ W`` by, first layer first.

        ``"ntk"``: 1/sqrt(fan_in); ``"standard"``: 1; ``"berg"``: 1/sqrt(fan_out) for hidden
        layers and 1 for the output layer.
        """
        if self.parametrization == "ntk":
            return tuple(1.0 / math.sqrt(n) for n in self.sizes[:-1])
        if self.parametrization == "berg":
            return tuple(1.0 / math.sqrt(n) for n in self.sizes[1:-1]) + (1.0,)
        return tuple(1.0 for _ in self.sizes[:-1])

    def init_stds(self) -> list[tuple[float, float]]:
        """Standard deviations ``(of W, of b)`` per layer: 1 and 1 (ntk, berg) or Glorot's
        ``sqrt(2 / (fan_in + fan_out))`` and 0 (standard)."""
        if self.parametrization in ("ntk", "berg"):
            return [(1.0, 1.0)] * self.depth
        return [(math.sqrt(2.0 / (a + b)), 0.0) for a, b in
                zip(self.sizes[:-1], self.sizes[1:], strict=True)]

    def init(self, key: jax.Array, dtype: jnp.dtype | None = None) -> Params:
        """Draw parameters: a list of ``(W, b)`` with ``W`` of shape ``(fan_in, fan_out)``."""
        dtype = dtype or jnp.zeros(()).dtype  # float64 when jax_enable_x64 is on
        params = []
        for key_l, fan_in, fan_out, (w_std, b_std) in zip(
            jax.random.split(key, self.depth), self.sizes[:-1], self.sizes[1:], self.init_stds(),
            strict=True,
        ):
            key_w, key_b = jax.random.split(key_l)
            w = w_std * jax.random.normal(key_w, (fan_in, fan_out), dtype)
            b = b_std * jax.random.normal(key_b, (fan_out,), dtype)
            params.append((w, b))
        return params

    def init_numpy(self, seed: int, dtype: str = "float64") -> Params:
        """The same distribution as :meth:`init`, drawn by NumPy (``default_rng(seed)``).

        No compilation, whatever the shapes: for sweeps over many architectures, where JAX's
        random draws would compile once per shape. The draw differs from ``init``'s.
        """
        rng = np.random.default_rng(seed)
        params = []
        for fan_in, fan_out, (w_std, b_std) in zip(
            self.sizes[:-1], self.sizes[1:], self.init_stds(), strict=True
        ):
            w = w_std * rng.standard_normal((fan_in, fan_out))
            b = b_std * rng.standard_normal(fan_out)
            params.append((jnp.asarray(w, dtype), jnp.asarray(b, dtype)))
        return params

    def apply(self, params: Params, x: jax.Array) -> jax.Array:
        """Network output, shape ``(n, n_outputs)`` for ``x`` of shape ``(n, n_0)``."""
        a = x
        scales = self.weight_scales()
        for layer, ((w, b), s) in enumerate(zip(params, scales, strict=True)):
            a = (a @ w) * s + b
            if layer < self.depth - 1:
                a = self.phi(a)
        return a


def flatten_params(params: Params) -> np.ndarray:
    """All parameters as one float64 vector ``(P,)``, in ``jax.flatten_util.ravel_pytree``
    order."""
    return np.asarray(ravel_pytree(params)[0], dtype=np.float64)
