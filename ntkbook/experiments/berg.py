"""Berg (2024)'s setting: his networks and activations (his numbers: :mod:`ntkbook.reported`).

Setting: 100 T-shirt/top + 100 ankle-boot images of Fashion-MNIST (``ntkbook.data.berg_subset``),
single-output MLPs of equal hidden widths, depth = number of weight layers, every parameter
N(0, 1). His eq. (5) read literally (``parametrization="berg"``) reproduces his numbers; the
standard NTK parametrisation (``"ntk"``) gives a kernel about ``width`` times smaller.
"""

from __future__ import annotations

from ntkbook.core.mlp import MLP

ACTIVATIONS = ("relu", "elu", "leaky_relu", "sigmoid")
ACTIVATION_LABELS = {"relu": "ReLU", "elu": "ELU", "leaky_relu": "LeakyReLU(0.01)",
                     "sigmoid": "Sigmoid", "tanh": "tanh", "erf": "erf"}

def berg_mlp(activation: str, width: int, depth: int, parametrization: str = "berg",
             n_inputs: int = 784) -> MLP:
    """A single-output MLP of ``depth`` weight layers and ``depth - 1`` hidden layers of
    ``width``, as in Berg's experiments."""
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be positive, got depth={depth}, width={width}")
    return MLP((n_inputs,) + (width,) * (depth - 1) + (1,), activation, parametrization)
