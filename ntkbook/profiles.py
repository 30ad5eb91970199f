"""Run profiles, in one place: the parameters each chapter runs with.

* ``smoke``: seconds per chapter, for the tests.
* ``default``: every figure and table of the book; the whole book in under 20 minutes on 2 cores.
* ``thesis``: the theses' full protocol.

The ``default`` values are also the values in each chapter's ``parameters`` cell (a test checks
that), so a chapter opened in Jupyter runs as in the default book.
"""

from __future__ import annotations

PROFILE_NAMES = ("smoke", "default", "thesis")

# Chapter (notebook stem under book/) -> profile -> parameters.
CHAPTER_PARAMETERS: dict[str, dict[str, dict]] = {
    "01_theory": {
        "smoke": {},
        "default": {},
        "thesis": {},
    },
    "02_ntk_visualisation": {
        "smoke": {"seed": 0, "n_per_class": 20, "relu_width": 64, "relu_depth": 3,
                  "sigmoid_width": 48, "sigmoid_depth": 8, "n_seeds": 3, "jacobian_check": True},
        "default": {"seed": 0, "n_per_class": 100, "relu_width": 800, "relu_depth": 3,
                    "sigmoid_width": 300, "sigmoid_depth": 8, "n_seeds": 10,
                    "jacobian_check": True},
        "thesis": {"seed": 0, "n_per_class": 100, "relu_width": 800, "relu_depth": 3,
                   "sigmoid_width": 300, "sigmoid_depth": 8, "n_seeds": 30,
                   "jacobian_check": True},
    },
    "03_eigenvalue_grids": {
        "smoke": {"seed": 0, "n_seeds": 1, "n_per_class": 10, "width_min": 50,
                  "width_max": 150, "width_step": 50, "depth_min": 2, "depth_max": 4,
                  "activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                  "ntk_width_step": 50, "float32_activations": ["relu", "sigmoid"],
                  "limit_depth": 2, "limit_widths": [64, 128, 256], "limit_seeds": 2},
        "default": {"seed": 0, "n_seeds": 2, "n_per_class": 100, "width_min": 50,
                    "width_max": 1000, "width_step": 50, "depth_min": 2, "depth_max": 10,
                    "activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                    "ntk_width_step": 100, "float32_activations": ["relu", "sigmoid"],
                    "limit_depth": 3, "limit_widths": [128, 256, 512, 1024, 2048, 4096],
                    "limit_seeds": 3},
        "thesis": {"seed": 0, "n_seeds": 5, "n_per_class": 100, "width_min": 50,
                   "width_max": 1000, "width_step": 50, "depth_min": 2, "depth_max": 10,
                   "activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                   "ntk_width_step": 50,
                   "float32_activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                   "limit_depth": 3, "limit_widths": [128, 256, 512, 1024, 2048, 4096, 8192],
                   "limit_seeds": 5},
    },
}

CHAPTERS: tuple[str, ...] = tuple(CHAPTER_PARAMETERS)


def chapter_parameters(chapter: str, profile: str) -> dict:
    """The parameters ``chapter`` runs with under ``profile``.

    Raises:
        ValueError: for an unknown chapter or profile, naming the known ones.
    """
    if profile not in PROFILE_NAMES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}")
    if chapter not in CHAPTER_PARAMETERS:
        raise ValueError(f"unknown chapter {chapter!r}; chapters are {', '.join(CHAPTERS)}")
    return dict(CHAPTER_PARAMETERS[chapter][profile])
