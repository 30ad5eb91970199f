"""Grid tables: resolution masking, seed summaries, best cells, float32-vs-float64 comparison."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

from ntkbook.experiments.grids import convergence_to_limit, lambda_min_grid
from ntkbook.report.grids import (
    best_cells,
    grid_frame,
    plot_grid,
    plot_grids,
    plot_limit_convergence,
    plot_precision_grids,
    plot_theory_panels,
    precision_comparison,
    seed_summary,
)


def _rows(dtype="float64", lam=None):
    rows = []
    for act in ("relu", "sigmoid"):
        for width in (10, 20):
            for depth in (2, 3):
                for seed in (0, 1):
                    value = lam(act, width, depth, seed) if lam else width / depth + seed
                    rows.append({"activation": act, "width": width, "depth": depth, "seed": seed,
                                 "lambda_min": value, "resolution": 1e-3, "dtype": dtype})
    return rows


def test_unresolved_cells_are_flagged_and_excluded_from_best():
    frame = grid_frame(_rows(lam=lambda a, w, d, s: -1.0 if a == "sigmoid" and d == 3 else w * d))
    summary = seed_summary(frame)
    assert summary["seeds"].eq(2).all()
    assert not summary[(summary.activation == "sigmoid") & (summary.depth == 3)]["resolved"].any()
    best = best_cells(summary).set_index("activation")
    assert (best.loc["relu", "width"], best.loc["relu", "depth"]) == (20, 3)
    assert (best.loc["sigmoid", "width"], best.loc["sigmoid", "depth"]) == (20, 2)


def test_seed_summary_statistics():
    summary = seed_summary(grid_frame(_rows()))
    cell = summary[(summary.activation == "relu") & (summary.width == 20) & (summary.depth == 2)]
    assert cell["mean"].item() == pytest.approx(10.5)
    assert (cell["min"].item(), cell["max"].item()) == (10.0, 11.0)


def test_precision_comparison_counts_negative_float32():
    f64 = grid_frame(_rows())
    f32 = grid_frame(_rows("float32", lam=lambda a, w, d, s: -1e-7 if a == "sigmoid" else w / d))
    compare = precision_comparison(f64, f32)
    assert len(compare) == len(f64)
    assert compare[compare.activation == "sigmoid"]["negative_32"].all()
    relu = compare[compare.activation == "relu"]
    expected = np.abs(relu.lambda_min_32 - relu.lambda_min_64) / relu.lambda_min_64
    np.testing.assert_allclose(relu["rel_error_32"], expected)


def test_plot_grid_hatches_unresolved_cells_visibly():
    frame = grid_frame(_rows(lam=lambda a, w, d, s: -1.0 if d == 3 else w))
    ax = plot_grid(seed_summary(frame), "relu")
    assert ax.get_xlabel() == "width"
    hatched = [p for p in ax.patches if p.get_gid() == "hatched"]
    assert len(hatched) == 2  # depth 3 at both widths
    for patch in hatched:  # a visible hatch: no transparent artist, no face
        assert patch.get_hatch() == "///" and patch.get_alpha() is None
        assert patch.get_facecolor()[3] == 0 and patch.get_edgecolor()[3] == 1
    assert list(ax.get_xticks()) == [10, 20]  # few widths: every width a tick


def test_plot_grids_share_one_colour_scale_and_integer_ticks():
    frame = grid_frame(_rows(lam=lambda a, w, d, s: 0.01 * w if a == "sigmoid" else w * d))
    summary = seed_summary(frame)
    fig = plot_grids(summary, ["relu", "sigmoid"], {"relu": "ReLU"}, ", test")
    meshes = [ax.collections[0] for ax in fig.axes if ax.get_label() != "<colorbar>"]
    assert len(meshes) == 2
    assert {(m.norm.vmin, m.norm.vmax) for m in meshes} == {
        (summary["mean"].min(), summary["mean"].max())}
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1
    assert fig.axes[0].get_title() == "ReLU, test"
    for ax in fig.axes[:2]:
        assert all(float(t).is_integer() for t in ax.get_yticks())


def test_plot_precision_grids_one_colour_bar_and_visible_hatches():
    f64 = grid_frame(_rows())
    f32 = grid_frame(_rows("float32", lam=lambda a, w, d, s: -1e-7 if a == "sigmoid" else w / d))
    compare = precision_comparison(f64, f32)
    compare["within_bound_64"] = compare.width == 10
    fig = plot_precision_grids(compare, ["relu", "sigmoid"], {"sigmoid": "Sigmoid"})
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 1
    hatched = [p for p in fig.axes[0].patches if p.get_gid() == "hatched"]
    assert len(hatched) == 2 and all(p.get_hatch() == "..." for p in hatched)
    assert fig.axes[1].get_title().startswith("Sigmoid")
    assert fig.legends and len(fig.legends[0].get_texts()) == 2


def test_limit_convergence_and_theory_panels():
    import pandas as pd

    conv = pd.DataFrame([{"activation": a, "width": w, "seed": s,
                          "kernel_rel_diff": w**-0.5 * (1 + s), "lambda_min_rel_gap": 0.1}
                         for a in ("relu", "sigmoid") for w in (64, 128) for s in (0, 1)])
    fig = plot_limit_convergence(conv, {"relu": (-0.5, -0.6, -0.4), "sigmoid": (-0.5, -1, 0)},
                                 {"relu": "ReLU"})
    left = fig.axes[0]
    assert "ReLU (slope -0.50 [-0.60, -0.40])" in [t.get_text() for t in left.get_legend().texts]
    assert [line.get_marker() for line in left.lines[:2]] == ["o", "s"]  # told apart
    cells = pd.DataFrame([{"depth": d, "width": w, "lambda_min": 1.0, "low": 0.5, "high": 2.0,
                           "theory": 1.0, "limit": 3.0} for d in (2, 3) for w in (10, 20)])
    fig = plot_theory_panels({"ReLU": cells, "ELU": cells.assign(theory=np.nan)},
                             depths=[2, 3], wide_width=15.0)
    assert [ax.get_title() for ax in fig.axes] == ["ReLU", "ELU"]
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    assert "theory, fitted constant" in [t.get_text() for t in fig.legends[0].texts]


def test_convergence_to_its_own_kernel_is_zero():
    x = np.random.default_rng(0).normal(size=(6, 4))
    rows = lambda_min_grid(x, ["tanh"], [7], [2], parametrization="ntk", progress=False)
    from ntkbook import MLP, empirical_ntk

    theta = empirical_ntk(MLP((4, 7, 1), "tanh", "ntk"), MLP((4, 7, 1), "tanh").init_numpy(0), x)
    conv = convergence_to_limit(x, np.asarray(theta), "tanh", 2, [7], [0])
    assert conv[0]["kernel_rel_diff"] == pytest.approx(0.0, abs=1e-14)
    assert conv[0]["lambda_min"] == pytest.approx(rows[0]["lambda_min"], rel=1e-9)
    assert conv[0]["lambda_min_rel_gap"] == pytest.approx(0.0, abs=1e-9)


def test_qr_cells_are_marked_and_every_resolved_cell_is_drawn():
    rows = _rows(lam=lambda a, w, d, s: 1e-12 * w if a == "sigmoid" else w * d)
    for r in rows:
        qr = r["activation"] == "sigmoid"
        r |= {"lambda_min_error_bound": 1e-20 if qr else 1e-3,
              "lambda_min_method": "jacobian_qr" if qr else "eigvalsh"}
    frame = grid_frame(rows)
    assert frame["resolved"].all() and frame["qr"].sum() == 8
    summary = seed_summary(frame)
    assert {"ci_low", "ci_high", "bound", "qr"} <= set(summary.columns)
    ax = plot_grid(summary, "sigmoid", vmin=1e-12, vmax=100.0, colorbar=False)
    mesh = ax.collections[0]
    assert mesh.norm.vmin == 1e-12 and np.isfinite(mesh.get_array()).all()
    assert any(c.get_label() == "Jacobian QR" for c in ax.collections)
    assert all(float(t).is_integer() for t in ax.get_yticks())


def test_mean_ci_and_bootstrap_ci():
    from scipy import stats

    from ntkbook.stats import bootstrap_ci, mean_ci

    v = np.array([1.0, 2.0, 3.0, 4.0])
    mean, low, high = mean_ci(v)
    half = stats.t.ppf(0.975, 3) * v.std(ddof=1) / 2
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - half, 2.5 + half))
    assert np.isnan(mean_ci([1.0])[1])
    samples = np.random.default_rng(0).normal(size=(40, 3))
    value, lo, hi = bootstrap_ci(lambda s: s.mean(), samples)
    assert lo < value < hi and hi - lo < 1.0
    assert np.isnan(bootstrap_ci(np.mean, samples[:1])[1])
