"""The core layer: MLPs, the structured empirical NTK, spectra (and λ_min from a streamed QR of
the implicit Jacobian), network products, the infinite-width limit and brute-force references.
Imports nothing of ntkbook outside ``core``."""

from ntkbook.core.activations import ACTIVATIONS, get_activation
from ntkbook.core.jacobian_qr import QRSpectrum, jacobian_qr_spectrum, qr_spectrum
from ntkbook.core.kernel import check_finite, empirical_ntk, flat_ntk, masked_ntk
from ntkbook.core.limit import infinite_width_kernels, infinite_width_nngp, infinite_width_ntk
from ntkbook.core.mlp import MLP, PARAMETRIZATIONS, Params, flatten_params
from ntkbook.core.products import (
    jacobian_product,
    jacobian_transpose_product,
    network_outputs,
    ntk_matvec,
    outputs,
)
from ntkbook.core.reference import jacobian, jacobian_lambda_min, jacobian_ntk
from ntkbook.core.spectrum import (
    eig_tolerance,
    eigvalsh,
    lapack_threads,
    smallest_eigenvalue,
    symmetric_eigh,
    symmetric_part,
)

__all__ = [
    "ACTIVATIONS", "MLP", "PARAMETRIZATIONS", "Params", "QRSpectrum", "check_finite",
    "eig_tolerance", "jacobian_qr_spectrum", "qr_spectrum",
    "eigvalsh", "empirical_ntk", "flat_ntk", "flatten_params", "get_activation",
    "infinite_width_kernels", "infinite_width_nngp", "infinite_width_ntk", "jacobian",
    "jacobian_lambda_min", "jacobian_ntk", "jacobian_product", "jacobian_transpose_product",
    "lapack_threads", "masked_ntk", "network_outputs", "ntk_matvec", "outputs",
    "smallest_eigenvalue", "symmetric_eigh", "symmetric_part",
]
