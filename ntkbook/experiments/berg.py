"""Berg (2024)'s setting and the numbers his thesis reports, for side-by-side tables.

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

# lambda_min of the two networks his section 4.1 visualises. For the Sigmoid network the thesis
# quotes two values for the same kernel (3.262e-10 under its fig. 3, 3.935e-10 in the text).
REPORTED_LAMBDA_MIN = {
    ("relu", 800, 3): (3.664,),
    ("sigmoid", 300, 8): (3.26240347090608e-10, 3.935e-10),
}
# The greatest lambda_min of his ReLU grid (quoted in his section 4.4 with the Du et al. bound).
REPORTED_BEST_RELU_LAMBDA_MIN = 5.490
# Depths at which his Table 1 found each activation's greatest lambda_min (section 4.2 text):
# ELU and Sigmoid at depth 2; ReLU and LeakyReLU at depths 3 and 4 (which is which is not said).
REPORTED_BEST_DEPTHS = {"elu": 2, "sigmoid": 2}


def berg_mlp(activation: str, width: int, depth: int, parametrization: str = "berg",
             n_inputs: int = 784) -> MLP:
    """A single-output MLP of ``depth`` weight layers and ``depth - 1`` hidden layers of
    ``width``, as in Berg's experiments."""
    if depth < 1 or width < 1:
        raise ValueError(f"depth and width must be positive, got depth={depth}, width={width}")
    return MLP((n_inputs,) + (width,) * (depth - 1) + (1,), activation, parametrization)
