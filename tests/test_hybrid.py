"""Hybrid SGD -> NTK training: the NTK updates against explicit-Jacobian formulas, the linearised
flow, the time-scale mapping, the SGD scan, the heuristics, divergence detection and sweeps."""

import dataclasses
import json

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from tiny_tasks import tiny_task

from ntkbook import MLP, dynamics, reported
from ntkbook.core.mlp import flatten_params
from ntkbook.core.reference import jacobian
from ntkbook.dynamics.gains import CODE_NTK3_RIDGE, ReplacedSGD
from ntkbook.dynamics.sgd import epoch_batches, sgd_epoch
from ntkbook.experiments import hybrid
from ntkbook.experiments.hybrid import heuristics
from ntkbook.experiments.hybrid.context import RunContext
from ntkbook.experiments.hybrid.run import _sgd_phase
from ntkbook.report import hybrid_tables as hybrid_report

# ----------------------------------------------------------------------------- fixtures

N, D, OUT, WIDTH = 5, 4, 3, 6
REPLACED = ReplacedSGD(learning_rate=0.05, steps_per_epoch=3, epochs_replaced=2,
                       total_epochs=4, n_train=12, n_kernel=N, loss_scale=0.5)


@pytest.fixture(scope="module")
def tiny():
    net = MLP((D, WIDTH, WIDTH, OUT), "relu", "standard")
    params = net.init(jax.random.PRNGKey(3), jnp.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, D))
    y = np.eye(OUT)[rng.integers(0, OUT, N)]
    jac = np.asarray(jacobian(net, params, jnp.asarray(x))).reshape(N * OUT, -1)
    return net, params, x, y, jac


def _flat(params):
    return flatten_params(params)


def _explicit_kernels(jac):
    full = jac @ jac.T
    blocks = full.reshape(N, OUT, N, OUT)
    mean = np.einsum("iojo->ij", blocks) / OUT
    return {"full": full, "mean": np.kron(mean, np.eye(OUT))}


def _explicit_gain_matrix(method, variant, k, rep):
    """The output-space matrix that multiplies r, from matrix exponentials and powers."""
    eye = np.eye(k.shape[0])
    eta, spe, s = rep.learning_rate, rep.steps_per_epoch, rep.steps
    if variant == "code":  # the published notebooks: one update per epoch, K0 = C Theta
        c, o, n, e = rep.n_outputs, rep.code_epoch_offset, rep.n_kernel, rep.total_epochs
        if method == "NTK3":
            return (eye - scipy.linalg.expm(-2.0 * c * (e - o) / n * k)) @ np.linalg.inv(
                c * k + CODE_NTK3_RIDGE * eye)
        if method == "NTK1":
            step = eye - rep.code_rate * eta * k
            return sum(rep.code_rate * eta * np.linalg.matrix_power(step, j)
                       for j in range(rep.epochs_replaced))
        return sum(eta * scipy.linalg.expm(-2.0 * c * (ep - o) / n * k)
                   for ep in range(rep.switch_epoch + 1, e + 1))
    if method == "NTK3":
        rate = 1 / rep.n_train if variant == "faithful" else rep.consistent_rate
        t = rep.total_epochs if variant == "faithful" else rep.flow_time
        return (eye - scipy.linalg.expm(-rate * t * k)) @ np.linalg.inv(k)
    rate = rep.faithful_rate if variant == "faithful" else rep.consistent_rate
    if method == "NTK1":
        step = eye - rate * eta * k
        return sum(rate * eta * np.linalg.matrix_power(step, j) for j in range(s))
    decays = (np.repeat(2.0 * np.arange(rep.epochs_replaced) / rep.n_kernel, spe)
              if variant == "faithful" else rate * eta * np.arange(s))
    return sum(rate * eta * scipy.linalg.expm(-a * k) for a in decays)


# ----------------------------------------------------------------------------- NTK updates


@pytest.mark.parametrize("kind", ["full", "mean"])
@pytest.mark.parametrize("method", dynamics.METHODS)
@pytest.mark.parametrize("variant", dynamics.VARIANTS)
@pytest.mark.parametrize("residual", dynamics.RESIDUALS)
def test_updates_match_explicit_jacobian(tiny, kind, method, variant, residual):
    net, params, x, y, jac = tiny
    kern = dynamics.subset_kernel(net, params, x, y, kind=kind)
    k = _explicit_kernels(jac)[kind]
    r = kern.residual(residual).reshape(-1)
    rep = REPLACED.for_code("classification", OUT) if variant == "code" else REPLACED
    expected = _flat(params) - jac.T @ (_explicit_gain_matrix(method, variant, k, rep) @ r)
    got = dynamics.ntk_update(net, params, x, kern, method, variant, rep, residual)[-1]
    np.testing.assert_allclose(_flat(got), expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("residual", dynamics.RESIDUALS)
def test_published_ntk1_steps_re_evaluate_the_network_with_a_frozen_jacobian(tiny, residual):
    net, params, x, y, jac = tiny
    step, n = 0.3, 4
    theta0, unravel = jax.flatten_util.ravel_pytree(params)
    theta, expected = np.asarray(theta0), []
    for _ in range(n):
        f = np.asarray(net.apply(unravel(jnp.asarray(theta)), jnp.asarray(x)))
        theta = theta - step * jac.T @ dynamics.output_residual(f, y, residual).reshape(-1)
        expected.append(theta)
    got = dynamics.frozen_jacobian_steps(net, params, x, y, step=step, n_updates=n,
                                         residual=residual)
    assert len(got) == n
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(_flat(g), e, rtol=1e-10, atol=1e-12)
    # on the network, not the linearised model: after one step they already differ
    lin = dynamics.ntk1_descent(net, params, x, y, rate=1.0, step=step, n_steps=n)
    if residual == "squared":
        assert not np.allclose(_flat(lin), _flat(got[-1]), rtol=1e-6)


def test_ntk1_descent_by_jvp_vjp_equals_explicit_iteration(tiny):
    net, params, x, y, jac = tiny
    rate, step, steps = REPLACED.consistent_rate, REPLACED.learning_rate, 7
    r0 = (np.asarray(net.apply(params, jnp.asarray(x))) - y).reshape(-1)
    delta = np.zeros(jac.shape[1])
    for _ in range(steps):
        delta -= rate * step * jac.T @ (r0 + jac @ delta)
    got = dynamics.ntk1_descent(net, params, x, y, rate=rate, step=step, n_steps=steps)
    np.testing.assert_allclose(_flat(got) - _flat(params), delta, rtol=1e-10, atol=1e-13)
    kern = dynamics.subset_kernel(net, params, x, y, kind="full")
    gains = dynamics.ntk1_gains(kern.eigenvalues, rate=rate, step=step, n_updates=steps)
    spectral = dynamics.apply_update(net, params, x, kern.coefficients(gains))
    np.testing.assert_allclose(_flat(spectral), _flat(got), rtol=1e-10, atol=1e-13)
    nonlinear = dynamics.ntk1_descent(net, params, x, y, rate=rate, step=step, n_steps=1,
                                         linearised=False)
    first = _flat(params) - rate * step * jac.T @ r0  # one step: both readings agree
    np.testing.assert_allclose(_flat(nonlinear), first, rtol=1e-10, atol=1e-13)


def test_ntk3_equals_integrated_linearised_flow(tiny):
    net, params, x, y, _ = tiny
    rate, t = REPLACED.consistent_rate, 3.0
    path = dynamics.integrate_linearized_flow(net, params, x, y, [0.0, t], rate=rate)
    kern = dynamics.subset_kernel(net, params, x, y, kind="full")
    gains = dynamics.ntk3_gains(kern.eigenvalues, rate=rate, t=t)
    got = dynamics.apply_update(net, params, x, kern.coefficients(gains))
    np.testing.assert_allclose(_flat(got), _flat(path.params_at(1)), rtol=1e-8, atol=1e-10)


def test_ntk1_with_many_tiny_steps_approaches_ntk3(tiny):
    net, params, x, y, _ = tiny
    rate, t = REPLACED.consistent_rate, 2.0
    kern = dynamics.subset_kernel(net, params, x, y, kind="full")
    target = _flat(dynamics.apply_update(
        net, params, x, kern.coefficients(dynamics.ntk3_gains(kern.eigenvalues, rate=rate,
                                                                 t=t))))
    move = np.linalg.norm(target - _flat(params))
    errors = []
    for steps in (20, 200, 2000):
        got = dynamics.ntk1_descent(net, params, x, y, rate=rate, step=t / steps,
                                       n_steps=steps)
        errors.append(np.linalg.norm(_flat(got) - target) / move)
    assert errors[2] < 1e-3 and errors[2] < errors[1] / 5 < errors[0] / 25


def test_faithful_and_consistent_differ_by_the_time_mapping():
    lam = np.geomspace(1e-3, 40.0, 25)
    rep = REPLACED
    text_variants = ("faithful", "consistent")  # the code's NTK3 has a ridge and a 1/C
    ntk3 = {v: dynamics.cumulative_gains("NTK3", v, lam, rep)[0] for v in text_variants}
    rho = rep.consistent_rate
    for v in text_variants:  # NTK3 = the flow at the consistent rate for a mapped time
        mapped = dynamics.ntk3_gains(lam, rate=rho, t=rep.equivalent_flow_time(v))
        np.testing.assert_allclose(ntk3[v], mapped, rtol=1e-12)
    assert rep.equivalent_flow_time("faithful") == pytest.approx(
        rep.total_epochs / rep.n_train / rho)
    assert rep.equivalent_flow_time("consistent") == pytest.approx(rep.learning_rate * rep.steps)
    eta, spe = rep.learning_rate, rep.steps_per_epoch
    decay_f = np.repeat(2.0 * np.arange(rep.epochs_replaced) / rep.n_kernel, spe)
    ntk2_f = dynamics.cumulative_gains("NTK2", "faithful", lam, rep)[-1]
    np.testing.assert_allclose(
        ntk2_f, dynamics.ntk2_gains(lam, rate=1 / rep.n_kernel, step=eta, decay=decay_f),
        rtol=1e-12)
    ntk2_c = dynamics.cumulative_gains("NTK2", "consistent", lam, rep)[-1]
    np.testing.assert_allclose(
        ntk2_c, dynamics.ntk2_gains(lam, rate=rho, step=eta,
                                       decay=rho * eta * np.arange(rep.steps)), rtol=1e-12)
    # NTK1: the thesis' eta / N is the consistent step for c = 1/2, half of it for c = 1.
    np.testing.assert_array_equal(dynamics.cumulative_gains("NTK1", "faithful", lam, rep),
                                  dynamics.cumulative_gains("NTK1", "consistent", lam, rep))
    mse = dataclasses.replace(rep, loss_scale=1.0)
    np.testing.assert_allclose(
        dynamics.cumulative_gains("NTK1", "faithful", lam, mse)[-1],
        dynamics.ntk1_gains(lam, rate=mse.consistent_rate / 2, step=eta, n_updates=rep.steps),
        rtol=1e-12)


def test_residual_factors_match_chapter_one_transfers():
    lam = np.geomspace(1e-2, 50.0, 30)
    rep = REPLACED
    rho, eta, s = rep.consistent_rate, rep.learning_rate, rep.steps
    factor = {m: dynamics.residual_factors(
        lam, dynamics.cumulative_gains(m, "consistent", lam, rep)[-1]) for m in ("NTK1",
                                                                                  "NTK2", "NTK3")}
    # chapter one's residual factors on the linearised model, in closed form
    np.testing.assert_allclose(factor["NTK1"], (1.0 - rho * eta * lam) ** s, atol=1e-12)
    decay = eta * np.arange(s)
    np.testing.assert_allclose(
        factor["NTK2"],
        1.0 - rho * lam * np.sum(eta * np.exp(-rho * lam[:, None] * decay[None, :]), axis=1),
        atol=1e-12)
    np.testing.assert_allclose(factor["NTK3"], np.exp(-rho * eta * s * lam), atol=1e-12)


def test_time_scale_rows_name_the_ratio():
    rows = {r["quantity"]: r for r in dynamics.time_scale_rows(REPLACED)}
    ntk3 = rows["NTK3 exponent a"]
    assert ntk3["faithful"] == pytest.approx(REPLACED.total_epochs / REPLACED.n_train)
    assert ntk3["faithful / consistent"] == pytest.approx(ntk3["faithful"] / ntk3["consistent"])


def test_unstable_ntk1_step_is_reported_by_its_mode_factor():
    lam = np.array([1.0, 100.0])
    gains = dynamics.ntk1_gains(lam, rate=0.05, step=1.0, n_updates=50)  # 0.05 * 100 = 5 > 2
    factors = dynamics.residual_factors(lam, gains)
    assert abs(factors[0]) < 1 and abs(factors[1]) > 1e20
    with pytest.raises(ValueError, match="unknown residual"):
        dynamics.phase_loss(np.zeros((2, 2)), np.zeros((2, 2)), "hinge")


# ----------------------------------------------------------------------------- SGD


def test_epoch_batches_cover_every_example_once():
    index, mask = epoch_batches(37, 8, np.random.default_rng(1))
    assert index.shape == mask.shape == (5, 8) and mask.sum() == 37
    assert sorted(index[mask > 0].tolist()) == list(range(37))


@pytest.mark.parametrize("kind", [hybrid.CLASSIFICATION, hybrid.REGRESSION])
def test_scan_epoch_equals_python_loop(kind):
    task = tiny_task(kind)
    net = hybrid.network(task, 5)
    params = net.init(jax.random.PRNGKey(0), jnp.float64)
    x, y = jnp.asarray(task.x_train, jnp.float64), jnp.asarray(task.y_train)
    index, mask = epoch_batches(task.n_train, 8, np.random.default_rng(2))
    got = sgd_epoch(net, params, x, y, index, mask, 0.1, kind)

    def loss(p, rows):
        out = net.apply(p, x[rows])
        if kind == hybrid.CLASSIFICATION:
            logp = jax.nn.log_softmax(out)
            return -jnp.mean(logp[jnp.arange(len(rows)), y[rows]])
        return jnp.mean((out[:, 0] - y[rows]) ** 2)

    expected = params
    for rows, m in zip(index, mask, strict=True):
        g = jax.grad(loss)(expected, jnp.asarray(rows[m > 0]))
        expected = jax.tree_util.tree_map(lambda a, b: a - 0.1 * b, expected, g)
    np.testing.assert_allclose(_flat(got), _flat(expected), rtol=1e-12, atol=1e-14)


def test_sgd_to_epoch_retraces_the_runs_sgd_phase():
    task = tiny_task(hybrid.CLASSIFICATION, n=40, d=4)
    spec = hybrid.HybridSpec(task.name, 6, 3, epochs=4, batch_size=16, monitor_samples=10)
    ctx = RunContext(spec, task)
    phase, _ = _sgd_phase(ctx, ctx.net.init(jax.random.PRNGKey(3), jnp.float32))
    at_two = hybrid.sgd_to_epoch(task, 6, 3, 2, batch_size=16)
    np.testing.assert_array_equal(_flat(at_two), _flat(phase[2]))
    at_four = hybrid.sgd_to_epoch(task, 6, 3, 4, params=at_two, from_epoch=2, batch_size=16)
    np.testing.assert_array_equal(_flat(at_four), _flat(phase[4]))
    assert not np.array_equal(_flat(at_four), _flat(phase[3]))
    with pytest.raises(ValueError, match="params exactly"):
        hybrid.sgd_to_epoch(task, 6, 3, 4, from_epoch=2)


def test_ntk_subset_is_the_runs_subset():
    task = tiny_task(hybrid.REGRESSION, n=40)
    spec = hybrid.HybridSpec(task.name, 6, 5, epochs=2, kernel_samples=12, monitor_samples=10)
    subset = hybrid.ntk_subset(task, 5, 12)
    np.testing.assert_array_equal(subset, RunContext(spec, task).subset)
    assert len(set(subset.tolist())) == 12 and np.all(np.diff(subset) > 0)
    np.testing.assert_array_equal(hybrid.ntk_subset(task, 5, None), np.arange(40))
    with pytest.raises(ValueError, match="kernel_samples"):
        hybrid.ntk_subset(task, 5, 41)


def test_sgd_divergence_raises_with_the_fix():
    task = tiny_task(hybrid.REGRESSION)
    task = hybrid.make_task(task.name, task.kind, {
        s: (getattr(task, f"x_{s}") * 100, getattr(task, f"y_{s}") * 1e3)
        for s in ("train", "val", "test")})
    spec = hybrid.HybridSpec(task.name, 8, 0, epochs=3, learning_rate=50.0, batch_size=8,
                             monitor_samples=10)
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        hybrid.run_hybrid(spec, task)


# ----------------------------------------------------------------------------- heuristics


def test_metric_series_on_synthetic_values():
    eps = heuristics.param_change_series([np.array([t**2]) for t in range(6)], 2)
    np.testing.assert_allclose(eps[2:], [4 * t - 4 for t in range(2, 6)])
    assert np.all(np.isnan(eps[:2]))
    delta = heuristics.kernel_stability_series(np.array([0, 1, 3, 6, 10, 15.0]), 4)
    np.testing.assert_allclose(delta[4:], [10, 14])
    spectral = heuristics.spectral_series(np.array([[10, 5], [10, 5], [11, 5], [11, 5.5]]), 2)
    np.testing.assert_allclose(spectral[2:], [1 / 11, 0.5 / 5.5])


def test_elbow_threshold_and_switch_on_synthetic_curves():
    loss = [99.0, 10, 5, 3, 2.5, 2.49, 2.0, 1.99]  # epoch 0 is not used: drop 10 - 1.99
    assert heuristics.elbow_epoch(loss) == 5
    assert heuristics.elbow_epoch([9.0, 4, 3, 2, 1, 0]) == 3  # no small change: middle epoch
    metric = [np.nan, np.nan, 5, 4, 3, 2, 1]
    assert heuristics.plateau_threshold(metric, 3) == pytest.approx(3.25)
    assert heuristics.switch_epoch(metric, 3.5) == 4
    assert heuristics.switch_epoch(metric, 0.5) is None
    scout = heuristics.scouting_thresholds([loss[:7], loss[:7]], {"eps": [metric, metric]})
    assert scout["elbow"] == 5 and scout["thresholds"]["eps"] == pytest.approx(1.75)


def test_heuristics_refuse_bad_curves_with_a_reason():
    with pytest.raises(ValueError, match="never falls below"):
        heuristics.elbow_epoch([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="diverged"):
        heuristics.elbow_epoch([1.0, np.nan, 0.5, 0.4])
    with pytest.raises(ValueError, match="no defined metric"):
        heuristics.plateau_threshold([np.nan, np.nan, np.nan], 1)


# ----------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def tiny_class_task():
    return tiny_task(hybrid.CLASSIFICATION, n=60, d=5)


def _spec(task, seed=0, **kw):
    values = {"epochs": 4, "batch_size": 16, "kernel_samples": 20, "monitor_samples": 12,
              "spectral_top": 4, "thresholds": (("delta", 1e9), ("eps", 1e9), ("spectral", 1e9)),
              "residuals": ("squared", "softmax")}
    values.update(kw)
    return hybrid.HybridSpec(task.name, 8, seed, **values)


@pytest.fixture(scope="module")
def tiny_run(tiny_class_task):
    spec = _spec(tiny_class_task, full_kernel_samples=6, literal_ntk1_steps=2)
    return hybrid.run_hybrid(spec, tiny_class_task)


def test_run_is_json_and_branches_at_the_switch(tiny_run):
    result = tiny_run
    json.dumps(result.to_json(), allow_nan=False)
    full = result.extras.full_kernel
    assert full["samples"] == 6 and 0 <= full["kernel_rel_gap"] < 1
    assert set(full) >= {"update_rel_diff_squared", "test_metric_full_softmax"}
    assert result.extras.literal_ntk1["seconds_per_step"] > 0
    cutoff = result.extras.cutoff
    assert cutoff["dropped_float32"] >= cutoff["dropped_float64"]
    assert result.switch == {"eps": 2, "spectral": 2, "delta": 4}
    assert set(result.branches) == {2}  # delta switches at E = 4: no NTK phase
    assert result.branch("delta") is None and result.branch("eps") is result.branches[2]
    methods = result.branches[2].methods
    assert len(methods) == 3 * len(dynamics.VARIANTS) * 2 and result.branches[2].frontier == ()
    ntk1 = methods[hybrid.MethodKey("NTK1", "consistent", "squared")]
    assert len(ntk1.val_loss) == 2 and ntk1.test_metric is not None or ntk1.diverged
    assert len(result.sgd.val_loss) == 5 and len(result.sgd.epoch_seconds) == 4


def test_divergence_is_flagged_not_averaged(tiny_class_task):
    result = hybrid.run_hybrid(_spec(tiny_class_task, divergence_factor=0.0,
                                     thresholds=(("eps", 1e9),)),
                               tiny_class_task)
    for name, method in result.branches[2].methods.items():
        assert method.diverged, name
        assert "grew" in method.reason or "NaN" in method.reason or "overflow" in method.reason
        assert method.test_metric is None and method.val_loss.size == 0


def test_sweep_caches_results(tmp_path, tiny_class_task):
    specs = [_spec(tiny_class_task, thresholds=(("eps", 1e9),), epochs=3)]
    first = hybrid.run_sweep(specs, tiny_class_task, cache_dir=tmp_path)

    class Refuse:
        def submit(self, *args, **kwargs):
            raise AssertionError("a cached run was executed again")

    second = hybrid.run_sweep(specs, tiny_class_task, cache_dir=tmp_path, executor=Refuse())
    assert second == first and isinstance(second[0], hybrid.HybridRun)
    assert [r.to_json() for r in second] == json.loads(json.dumps([r.to_json() for r in first]))


def _without_seconds(value):
    if isinstance(value, dict):
        return {k: _without_seconds(v) for k, v in value.items() if "seconds" not in k}
    if isinstance(value, list):
        return [_without_seconds(v) for v in value]
    return value


@pytest.mark.slow
def test_dask_executor_gives_the_in_process_results(tiny_class_task):
    distributed = pytest.importorskip("distributed")
    specs = [_spec(tiny_class_task, thresholds=(("eps", 1e9),), epochs=3, seed=s)
             for s in (0, 1)]
    local = hybrid.run_sweep(specs, tiny_class_task)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(lambda: jax.config.update("jax_enable_x64", True))
        remote = hybrid.run_sweep(specs, tiny_class_task, executor=client.get_executor())
    assert _without_seconds([r.to_json() for r in remote]) == \
        _without_seconds([r.to_json() for r in local])


def test_report_tables_from_a_run(tiny_run):
    per_run = hybrid_report.run_rows([tiny_run])
    table = hybrid_report.table_rows(per_run)
    sgd = table[(table["method"] == hybrid_report.SGD) & (table["heuristic"] == "eps")].iloc[0]
    assert sgd["test_metric"] == pytest.approx(100 * tiny_run.sgd.test_metric[-1])
    assert sgd["seconds_from_switch"] == pytest.approx(sum(tiny_run.sgd.epoch_seconds[2:]))
    delta = table[table["heuristic"] == "delta"]
    assert (delta[delta["method"] != hybrid_report.SGD]["no_switch"] == 0).all()  # no NTK rows
    assert set(delta["method"]) == {hybrid_report.SGD}
    one = hybrid_report.thesis_table1(table, "tiny-classification", 8, "softmax")
    assert list(one.index) == ["SGD", "NTK1", "NTK2", "NTK3"]
    two = hybrid_report.thesis_table2(table, "tiny-classification", 8, "softmax")
    assert two.loc["SGD", "ε ×SGD ours"] == pytest.approx(1.0)
    curves = hybrid_report.hybrid_curves([tiny_run], "eps", 8)
    assert curves["SGD"]["n"] == 1 and len(curves["SGD"]["val_loss"]) == 5
    switches = hybrid_report.switch_rows([tiny_run])
    assert set(switches["heuristic"]) == {"eps", "delta", "spectral"}
    assert hybrid_report.text(float("nan")) == "n/a" and hybrid_report.text(1.234) == "1.23"


def test_thesis_nrmse_is_rmse_over_the_mean_test_quality():
    implied = [r["sqrt(MSE) / NRMSE"] for r in reported.implied_nrmse_denominators()]
    assert len(implied) == 8 and 5.6 < min(implied) and max(implied) < 5.8
