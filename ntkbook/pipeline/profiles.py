"""Run profiles, in one place: the parameters each chapter runs with.

* ``smoke``: seconds per chapter, for the tests.
* ``default``: every figure and table of the book, with the seeds its intervals need.
* ``thesis``: the theses' full protocol.

The ``default`` values are also the values in each chapter's ``parameters`` cell (a test checks
that), so a chapter opened in Jupyter runs as in the default book.
"""

from __future__ import annotations

PROFILE_NAMES = ("smoke", "default", "thesis")

#: The two hybrid chapters (the thesis reproduced; the frontier) read the same runs, so they run
#: with the same parameters. ``table_seeds``: seeds at ``table_width`` (tables, frontier, every
#: interval the prose quotes); ``fmnist_seeds`` / ``wine_seeds``: at the other widths (figures).
_HYBRID: dict[str, dict] = {
    "smoke": {"seed": 0, "fmnist_widths": [32], "wine_widths": [32], "fmnist_seeds": 1,
              "wine_seeds": 1, "table_seeds": 2, "scout_seeds": 2, "scout_width": 32,
              "fmnist_epochs": 6, "wine_epochs": 8, "fmnist_train_samples": 3000,
              "kernel_samples": 200, "monitor_samples": 50, "table_width": 32,
              "full_kernel_samples": 20, "literal_ntk1_steps": 2},
    "default": {"seed": 0, "fmnist_widths": [100, 500, 1000], "wine_widths": [100, 500, 1000],
                "fmnist_seeds": 2, "wine_seeds": 3, "table_seeds": 5, "scout_seeds": 2,
                "scout_width": 500, "fmnist_epochs": 15, "wine_epochs": 20,
                "fmnist_train_samples": 42000, "kernel_samples": 2000, "monitor_samples": 200,
                "table_width": 1000, "full_kernel_samples": 300, "literal_ntk1_steps": 10},
    "thesis": {"seed": 0, "fmnist_widths": [100, 500, 1000], "wine_widths": [100, 500, 1000],
               "fmnist_seeds": 10, "wine_seeds": 10, "table_seeds": 10, "scout_seeds": 10,
               "scout_width": 500, "fmnist_epochs": 15, "wine_epochs": 20,
               "fmnist_train_samples": 42000, "kernel_samples": 2000, "monitor_samples": 200,
               "table_width": 1000, "full_kernel_samples": 500, "literal_ntk1_steps": 20},
}

# Chapter (notebook stem under book/) -> profile -> parameters.
CHAPTER_PARAMETERS: dict[str, dict[str, dict]] = {
    "01_theory": {
        "smoke": {"seed": 0, "n_per_class": 20, "flow_samples": 10, "flow_width": 8,
                  "flow_depth": 3, "flow_n_times": 5, "bound_width": 64, "bound_depth": 3,
                  "gd_learning_rate": 0.25, "gd_steps": 20, "sgd_learning_rate": 0.001,
                  "sgd_epochs": 2, "drift_widths": [32, 128], "drift_seeds": 2,
                  "scale_widths": [32, 128], "hybrid_kernel_samples": 100, "hybrid_width": 64},
        "default": {"seed": 0, "n_per_class": 100, "flow_samples": 20, "flow_width": 32,
                    "flow_depth": 3, "flow_n_times": 25, "bound_width": 800, "bound_depth": 3,
                    "gd_learning_rate": 0.25, "gd_steps": 200, "sgd_learning_rate": 0.001,
                    "sgd_epochs": 100, "drift_widths": [100, 200, 400, 800], "drift_seeds": 5,
                    "scale_widths": [64, 256, 1024], "hybrid_kernel_samples": 500,
                    "hybrid_width": 500},
        "thesis": {"seed": 0, "n_per_class": 100, "flow_samples": 40, "flow_width": 64,
                   "flow_depth": 3, "flow_n_times": 41, "bound_width": 800, "bound_depth": 3,
                   "gd_learning_rate": 0.25, "gd_steps": 400, "sgd_learning_rate": 0.001,
                   "sgd_epochs": 100, "drift_widths": [100, 200, 400, 800, 1600],
                   "drift_seeds": 4, "scale_widths": [64, 256, 1024, 4096],
                   "hybrid_kernel_samples": 2000, "hybrid_width": 1000},
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
        "smoke": {"seed": 0, "n_seeds": 2, "n_per_class": 10, "width_min": 50,
                  "width_max": 150, "width_step": 50, "depth_min": 2, "depth_max": 4,
                  "activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                  "ntk_width_step": 50, "float32_activations": ["relu", "sigmoid"],
                  "limit_depth": 2, "limit_widths": [64, 128, 256], "limit_seeds": 2},
        "default": {"seed": 0, "n_seeds": 3, "n_per_class": 100, "width_min": 50,
                    "width_max": 1000, "width_step": 50, "depth_min": 2, "depth_max": 10,
                    "activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                    "ntk_width_step": 150, "float32_activations": ["relu", "sigmoid"],
                    "limit_depth": 3, "limit_widths": [128, 256, 512, 1024, 2048, 4096],
                    "limit_seeds": 10},
        "thesis": {"seed": 0, "n_seeds": 5, "n_per_class": 100, "width_min": 50,
                   "width_max": 1000, "width_step": 50, "depth_min": 2, "depth_max": 10,
                   "activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                   "ntk_width_step": 50,
                   "float32_activations": ["relu", "elu", "leaky_relu", "sigmoid"],
                   "limit_depth": 3, "limit_widths": [128, 256, 512, 1024, 2048, 4096, 8192],
                   "limit_seeds": 20},
    },
    "04_training_and_bounds": {
        "smoke": {"seed": 0, "n_seeds": 2, "n_per_class": 10, "epochs": 3,
                  "learning_rate": 0.001, "batch_size": 1, "grid_width_min": 50,
                  "grid_width_max": 150, "grid_width_step": 50, "grid_depth_min": 2,
                  "grid_depth_max": 4, "grid_seeds": 1,
                  "visualised": [["relu", 64, 3], ["sigmoid", 48, 8]],
                  "drift_widths": [32, 64], "drift_epochs": 2},
        "default": {"seed": 0, "n_seeds": 5, "n_per_class": 100, "epochs": 100,
                    "learning_rate": 0.001, "batch_size": 1, "grid_width_min": 50,
                    "grid_width_max": 1000, "grid_width_step": 50, "grid_depth_min": 2,
                    "grid_depth_max": 10, "grid_seeds": 2,
                    "visualised": [["relu", 800, 3], ["sigmoid", 300, 8]],
                    "drift_widths": [100, 400, 800], "drift_epochs": 10},
        "thesis": {"seed": 0, "n_seeds": 5, "n_per_class": 100, "epochs": 100,
                   "learning_rate": 0.001, "batch_size": 1, "grid_width_min": 50,
                   "grid_width_max": 1000, "grid_width_step": 50, "grid_depth_min": 2,
                   "grid_depth_max": 10, "grid_seeds": 5,
                   "visualised": [["relu", 800, 3], ["sigmoid", 300, 8]],
                   "drift_widths": [100, 200, 400, 800, 1600], "drift_epochs": 100},
    },
    "05_hybrid_training": _HYBRID,
    "06_hybrid_frontier": _HYBRID,
    "07_performance": {
        "smoke": {"seed": 0, "kernel_width": 64, "kernel_n": [32], "jacobian_max_n": 32,
                  "vector_products_max_n": 32, "jacfwd_width": 8, "jacfwd_n": 8,
                  "scaling_n": 64, "scaling_widths": [32, 64], "scaling_depths": [2, 3],
                  "train_size": 3000, "ntk3_width": 64, "switch_epoch": 1, "total_epochs": 2,
                  "dense_subsets": [200], "lanczos_max_iter": 5, "lanczos_tol": 0.001},
        "default": {"seed": 0, "kernel_width": 1000,
                    "kernel_n": [16, 32, 64, 256, 1024, 4096],
                    "jacobian_max_n": 32, "vector_products_max_n": 64, "jacfwd_width": 32,
                    "jacfwd_n": 16, "scaling_n": 500, "scaling_widths": [250, 500, 1000],
                    "scaling_depths": [2, 3, 5, 9], "train_size": 42000, "ntk3_width": 1000,
                    "switch_epoch": 10, "total_epochs": 15, "dense_subsets": [2000, 4000],
                    "lanczos_max_iter": 20, "lanczos_tol": 0.001},
        "thesis": {"seed": 0, "kernel_width": 1000,
                   "kernel_n": [16, 64, 256, 1024, 4096, 12000],
                   "jacobian_max_n": 64, "vector_products_max_n": 256, "jacfwd_width": 32,
                   "jacfwd_n": 16, "scaling_n": 2000, "scaling_widths": [250, 500, 1000, 2000],
                   "scaling_depths": [2, 3, 5, 9], "train_size": 42000, "ntk3_width": 1000,
                   "switch_epoch": 10, "total_epochs": 15,
                   "dense_subsets": [2000, 4000, 8000], "lanczos_max_iter": 60,
                   "lanczos_tol": 0.0001},
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
