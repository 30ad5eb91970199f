"""Every number the two theses print that the book compares with, in one place.

Each constant names the table, figure or section it comes from. Nothing here is computed: these
are the theses' own values, typed once, so that a chapter's "thesis" column has one source.

* Berg (2024), *The Neural Tangent Kernel of MLPs*: smallest eigenvalues of the empirical NTK.
* Sarvanau (2025), *Hybrid SGD -> NTK training*: thresholds, switch epochs, Tables 1 and 2, and
  the Fashion-MNIST setting.
"""

from __future__ import annotations

import math

# --------------------------------------------------------------------------- Berg (2024)

#: lambda_min of the two networks his section 4.1 visualises, keyed ``(activation, width,
#: depth)``. For the Sigmoid network the thesis quotes two values for the same kernel
#: (3.262e-10 under its fig. 3, 3.935e-10 in the text).
BERG_LAMBDA_MIN = {
    ("relu", 800, 3): (3.664,),
    ("sigmoid", 300, 8): (3.26240347090608e-10, 3.935e-10),
}
#: The greatest lambda_min of his ReLU grid (section 4.4, with the Du et al. bound).
BERG_BEST_RELU_LAMBDA_MIN = 5.490
#: Depths at which his Table 1 found each activation's greatest lambda_min (section 4.2 text):
#: ELU and Sigmoid at depth 2; ReLU and LeakyReLU at depths 3 and 4 (which is which is not said).
BERG_BEST_DEPTHS = {"elu": 2, "sigmoid": 2}

# --------------------------------------------------------------------------- Sarvanau (2025)

#: The Fashion-MNIST setting (sec. 4.1, 4.5, 5.1.2): SGD step, batch size, training set, NTK
#: subset, total epochs and the (rounded) mean switch epoch of the parameter-norm heuristic.
SARVANAU_FMNIST = {
    "learning_rate": 0.007,
    "batch_size": 128,
    "n_train": 42000,
    "n_kernel": 2000,
    "total_epochs": 15,
    "switch_epoch": 10,
}
#: Thresholds of the two heuristics (sec. 5.1.1, 5.2.1).
SARVANAU_THRESHOLDS = {
    "fmnist": {"eps": 0.3253, "delta": 253892.0},
    "wine": {"eps": 0.0864, "delta": 615.4190},
}
#: Mean switch epochs (sec. 5.1.2-5.2.3).
SARVANAU_SWITCH_EPOCHS = {
    "fmnist": {"eps": 10.3, "delta": 12.0},
    "wine": {"eps": 15.3, "delta": 7.5},
}
#: Table 1 (width 1000): (test loss, test accuracy or NRMSE in %), per (data set, heuristic).
SARVANAU_TABLE1 = {
    ("fmnist", "eps"): {"SGD": (0.47, 83.29), "NTK1": (0.47, 83.99), "NTK2": (0.50, 82.67),
                        "NTK3": (0.49, 83.02)},
    ("fmnist", "delta"): {"SGD": (0.47, 83.40), "NTK1": (0.45, 84.47), "NTK2": (0.47, 83.64),
                          "NTK3": (0.47, 83.83)},
    ("wine", "eps"): {"SGD": (0.66, 14.32), "NTK1": (0.76, 15.29), "NTK2": (0.82, 15.93),
                      "NTK3": (0.46, 11.93)},
    ("wine", "delta"): {"SGD": (0.66, 14.33), "NTK1": (1.07, 17.90), "NTK2": (1.97, 24.57),
                        "NTK3": (0.46, 11.95)},
}
#: Table 2: wall seconds from the switch point (width 1000).
SARVANAU_TABLE2 = {
    ("fmnist", "eps"): {"SGD": 13.99, "NTK1": 153.58, "NTK2": 441.86, "NTK3": 235.27},
    ("fmnist", "delta"): {"SGD": 8.52, "NTK1": 89.59, "NTK2": 332.44, "NTK3": 239.83},
    ("wine", "eps"): {"SGD": 0.25, "NTK1": 6.26, "NTK2": 4.91, "NTK3": 3.95},
    ("wine", "delta"): {"SGD": 0.68, "NTK1": 16.72, "NTK2": 7.38, "NTK3": 3.94},
}


def implied_nrmse_denominators() -> list[dict]:
    """``sqrt(MSE) / NRMSE`` of every Wine row of Sarvanau's Table 1: if NRMSE is RMSE divided
    by the mean target of the test set, all of them are that mean (about 5.6).

    ``low`` and ``high`` bound the ratio over the table's rounding (MSE to 0.005, NRMSE to
    0.005 %): a denominator common to every row must lie in every row's ``[low, high]``."""
    rows = []
    for (dataset, heuristic), methods in SARVANAU_TABLE1.items():
        if dataset != "wine":
            continue
        for method, (mse, nrmse) in methods.items():
            rows.append({"heuristic": heuristic, "method": method, "MSE": mse, "NRMSE %": nrmse,
                         "sqrt(MSE) / NRMSE": math.sqrt(mse) / (nrmse / 100),
                         "low": math.sqrt(mse - 0.005) / ((nrmse + 0.005) / 100),
                         "high": math.sqrt(mse + 0.005) / ((nrmse - 0.005) / 100)})
    return rows
