"""Activation functions by name.

The names are the ones the theses use. Leaky ReLU has slope 0.01 on the negative side (Berg 2024).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import erf

Activation = Callable[[jax.Array], jax.Array]

LEAKY_RELU_SLOPE = 0.01


def _relu(z: jax.Array) -> jax.Array:
    return jnp.maximum(z, 0)


def _leaky_relu(z: jax.Array) -> jax.Array:
    return jnp.where(z >= 0, z, LEAKY_RELU_SLOPE * z)


def _elu(z: jax.Array) -> jax.Array:
    # expm1 of the clipped argument: exact near 0 and no overflow in the unused branch.
    return jnp.where(z >= 0, z, jnp.expm1(jnp.minimum(z, 0)))


ACTIVATIONS: dict[str, Activation] = {
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "erf": erf,
}


def get_activation(name: str) -> Activation:
    """Return the activation function called ``name``.

    Raises:
        ValueError: if ``name`` is unknown; the message lists the known names.
    """
    try:
        return ACTIVATIONS[name]
    except KeyError:
        known = ", ".join(sorted(ACTIVATIONS))
        raise ValueError(f"unknown activation {name!r}; choose one of: {known}") from None
