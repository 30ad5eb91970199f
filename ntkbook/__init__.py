"""ntkbook: the empirical Neural Tangent Kernel of MLPs, exact and fast, for an executable book."""

from ntkbook.core.activations import ACTIVATIONS, get_activation
from ntkbook.core.kernel import check_finite, empirical_ntk
from ntkbook.core.mlp import MLP, Params
from ntkbook.core.spectrum import eig_tolerance, eigvalsh, smallest_eigenvalue

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "Params",
    "check_finite",
    "eig_tolerance",
    "eigvalsh",
    "empirical_ntk",
    "get_activation",
    "smallest_eigenvalue",
    "__version__",
]
