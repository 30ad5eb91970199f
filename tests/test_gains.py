"""The gains of NTK1/NTK2/NTK3 against independent references: the linearised residual recursion
iterated step by step, matrix exponentials, and the flow integrated numerically."""

import dataclasses

import numpy as np
import pytest
import scipy.integrate
import scipy.linalg

from ntkbook.dynamics import gains
from ntkbook.dynamics.conventions import steps_per_epoch
from ntkbook.dynamics.gains import ReplacedSGD
from ntkbook.reported import SARVANAU_FMNIST

REPLACED = ReplacedSGD(learning_rate=0.05, steps_per_epoch=3, epochs_replaced=2,
                       total_epochs=4, n_train=12, n_kernel=5, loss_scale=0.5)
#: The variants that read the thesis' text (the "code" variant has tests of its own below).
TEXT_VARIANTS = ("faithful", "consistent")


def _kernel(m=7, seed=0, scale=30.0):
    """A random positive semi-definite kernel with eigenvalues spread over decades, rank m - 1."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(m, m)))
    lam = np.concatenate([[0.0], np.geomspace(1e-3, scale, m - 1)])
    return (q * lam) @ q.T, rng.normal(size=m)


def _spectral(theta, g_of_lam, r0):
    """``(I - Theta G(Theta)) r0`` from the eigendecomposition and a gain function."""
    lam, v = np.linalg.eigh(theta)
    return v @ (gains.residual_factors(lam, g_of_lam(lam)) * (v.T @ r0))


@pytest.mark.parametrize("variant", TEXT_VARIANTS)
def test_ntk1_and_ntk2_gains_equal_the_residual_recursion_step_by_step(variant):
    """Iterate the linearised residual update by update, as SGD's replacement would run it."""
    theta, r0 = _kernel()
    rep = REPLACED
    rate = rep.faithful_rate if variant == "faithful" else rep.consistent_rate
    eta, spe = rep.learning_rate, rep.steps_per_epoch
    r, per_epoch = r0.copy(), []
    for _ in range(rep.steps):  # NTK1: r <- r - rate eta Theta r with the Jacobian frozen
        r = r - rate * eta * theta @ r
        per_epoch.append(r)
    g = gains.cumulative_gains("NTK1", variant, np.linalg.eigvalsh(theta), rep)
    for j in range(rep.epochs_replaced):
        got = _spectral(theta, lambda lam, j=j: g[j], r0)
        np.testing.assert_allclose(got, per_epoch[(j + 1) * spe - 1], rtol=1e-11, atol=1e-13)
    # NTK2: update u moves the residual by rate eta Theta exp(-a_u Theta) r0 (linearised model)
    r = r0.copy()
    for u in range(rep.steps):
        a = 2.0 * (u // spe) / rep.n_kernel if variant == "faithful" else rate * eta * u
        r = r - rate * eta * theta @ scipy.linalg.expm(-a * theta) @ r0
    g = gains.cumulative_gains("NTK2", variant, np.linalg.eigvalsh(theta), rep)[-1]
    np.testing.assert_allclose(_spectral(theta, lambda lam: g, r0), r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("variant", TEXT_VARIANTS)
def test_ntk3_gain_equals_the_numerically_integrated_flow(variant):
    theta, r0 = _kernel()
    rep = REPLACED
    rate = 1.0 / rep.n_train if variant == "faithful" else rep.consistent_rate
    t = rep.total_epochs if variant == "faithful" else rep.flow_time
    sol = scipy.integrate.solve_ivp(lambda _, r: -rate * theta @ r, (0.0, t), r0,
                                    method="DOP853", rtol=1e-13, atol=1e-15)
    g = gains.cumulative_gains("NTK3", variant, np.linalg.eigvalsh(theta), rep)[0]
    np.testing.assert_allclose(_spectral(theta, lambda lam: g, r0), sol.y[:, -1], rtol=1e-9,
                               atol=1e-12)
    # and the update itself, (I - e^{-rate t Theta}) Theta^+ r0 on the range of Theta
    lam, v = np.linalg.eigh(theta)
    keep = lam > 1e-12
    pinv = (v[:, keep] / lam[keep]) @ v[:, keep].T
    explicit = (np.eye(len(r0)) - scipy.linalg.expm(-rate * t * theta)) @ pinv @ r0
    coef = v[:, keep] @ (g[keep] * (v[:, keep].T @ r0))
    np.testing.assert_allclose(coef, explicit, rtol=1e-9, atol=1e-12)


def test_gains_are_accurate_near_zero():
    rate, t = 0.5, 4.0
    tiny = np.array([0.0, 5e-324, 1e-300, 1e-12, 1e-9, -1e-14])
    got = gains.ntk3_gains(tiny, rate=rate, t=t)
    x = rate * t * np.clip(tiny, 0.0, None)
    np.testing.assert_allclose(got, rate * t * (1 - x / 2 + x**2 / 6), rtol=1e-15)
    assert gains.ntk3_gains(np.array([3.0]), rate=rate, t=t)[0] == pytest.approx(
        (1 - np.exp(-6.0)) / 3.0, rel=1e-15)
    # continuous across the switch to the series
    lam = np.geomspace(1e-10, 1e-8, 101) / (rate * t)
    np.testing.assert_allclose(gains.ntk3_gains(lam, rate=rate, t=t),
                               -np.expm1(-rate * t * lam) / lam, rtol=1e-15)
    assert gains.ntk1_gains(np.array([0.0]), rate=rate, step=0.1, n_updates=7)[0] == \
        pytest.approx(7 * rate * 0.1)
    np.testing.assert_allclose(gains._geometric_gains(np.array([0.0, 1e-300]), rate, 0.1, 7),
                               7 * rate * 0.1)
    assert np.all(gains.residual_factors(tiny, got) <= 1.0)


def test_ntk1_and_ntk2_converge_to_ntk3_as_the_steps_shrink():
    lam = np.geomspace(1e-3, 1e2, 30)
    rate, t = 0.01, 100.0
    exact = gains.residual_factors(lam, gains.ntk3_gains(lam, rate=rate, t=t))
    np.testing.assert_allclose(exact, np.exp(-rate * t * lam), rtol=1e-12, atol=1e-15)
    errors = {}
    for updates in (100, 10000):
        dt = t / updates
        ntk1 = gains.residual_factors(lam, gains.ntk1_gains(lam, rate=rate, step=dt,
                                                            n_updates=updates))
        ntk2 = gains.residual_factors(lam, gains.ntk2_gains(lam, rate=rate, step=dt,
                                                            decay=rate * dt * np.arange(updates)))
        errors[updates] = (np.max(np.abs(ntk1 - exact)), np.max(np.abs(ntk2 - exact)))
    # first order in the step: 100 times smaller steps, about 100 times smaller errors
    assert errors[10000][0] < 1e-2 and errors[10000][0] < errors[100][0] / 30
    assert errors[10000][1] < 1e-2 and errors[10000][1] < errors[100][1] / 30


def test_sarvanau_time_scales_mode_by_mode():
    """Chapter 1's comparison: which update reproduces the replaced SGD steps (NTK1)."""
    lam = np.geomspace(1e-2, 1e3, 40)
    s = SARVANAU_FMNIST
    spe = steps_per_epoch(s["n_train"], s["batch_size"])
    rep = ReplacedSGD(s["learning_rate"], spe, s["total_epochs"] - s["switch_epoch"],
                      s["total_epochs"], s["n_train"], n_kernel=500, loss_scale=0.5)
    factors = {(m, v): gains.residual_factors(lam, gains.cumulative_gains(m, v, lam, rep)[-1])
               for m in gains.METHODS for v in gains.VARIANTS}
    steps = (s["total_epochs"] - s["switch_epoch"]) * 329
    reference = factors["NTK1", "consistent"]
    np.testing.assert_allclose(reference, (1 - 0.007 * lam / 500) ** steps, rtol=1e-7,
                               atol=1e-12)
    # the consistent NTK3 is the flow over eta * S: it matches the replaced steps
    assert np.max(np.abs(factors["NTK3", "consistent"] - reference)) < 1e-3
    np.testing.assert_allclose(factors["NTK3", "faithful"], np.exp(-15 * lam / 42000))
    assert np.max(factors["NTK3", "faithful"] - reference) > 0.5  # far too little flow time
    assert np.max(np.abs(factors["NTK2", "consistent"] - reference)) < 1e-2
    with pytest.raises(ValueError, match="no epochs"):
        gains.cumulative_gains("NTK1", "consistent", lam,
                               ReplacedSGD(0.007, spe, 0, 15, 42000, 500))


# --------------------------------------------------------------------------- the published code


def _linear_model(n=6, n_out=3, n_params=40, seed=1):
    """Explicit float64 Jacobian ``(n n_out, P)`` (rows ``i n_out + c``), residual ``(n, C)``."""
    rng = np.random.default_rng(seed)
    jac = rng.normal(size=(n * n_out, n_params)) * np.geomspace(0.05, 3.0, n_params)
    return jac, rng.normal(size=(n, n_out))


def _code_replaced(n_out, offset, n_kernel=6):
    # switch after epoch 5 of 9: the published NTK2 runs k = 6, ..., 9 with exponents k - o
    rep = ReplacedSGD(learning_rate=0.3, steps_per_epoch=4, epochs_replaced=4, total_epochs=9,
                      n_train=20, n_kernel=n_kernel, loss_scale=0.5)
    return dataclasses.replace(rep, n_outputs=n_out, code_epoch_offset=offset)


def _apply_mean_gains(jac, k0_mean, g, r):
    """``J^T vec(V diag(g) V^T R)``: the book's mean-kernel update with gains ``g``."""
    lam, v = np.linalg.eigh(k0_mean)
    return jac.T @ (v @ (g(lam)[:, None] * (v.T @ r))).reshape(-1)


@pytest.mark.parametrize(("n_out", "offset"), [(3, 3), (1, 0), (2, 0)])
def test_code_gains_equal_the_published_updates_step_by_step(n_out, offset):
    """The notebooks' loops on an explicit linear model: NTK1 re-evaluates the (here linear)
    model once per epoch with step 2 eta / N; NTK2 steps eta J^T expm(-(2/N) K0 (k - o)) R_s;
    NTK3 solves (K0 + mu I) c = (I - expm(-(2/N) K0 (E - o))) R_s. K0 = sum_c J_c J_c^T."""
    jac, r0 = _linear_model(n_out=n_out)
    n = r0.shape[0]
    rep = _code_replaced(n_out, offset, n_kernel=n)
    eta, s, e = rep.learning_rate, rep.switch_epoch, rep.total_epochs
    assert s == 5
    k0 = sum(jac[c::n_out] @ jac[c::n_out].T for c in range(n_out))
    # NTK1 (literal): theta <- theta - (2 eta / N) J^T r(theta), r = r0 + J (theta - theta0)
    delta, per_epoch = np.zeros(jac.shape[1]), []
    for _ in range(rep.epochs_replaced):
        delta -= (2.0 * eta / n) * jac.T @ (r0.reshape(-1) + jac @ delta)
        per_epoch.append(delta.copy())
    lam_full, v_full = np.linalg.eigh(jac @ jac.T)
    g1 = gains.cumulative_gains("NTK1", "code", lam_full, rep)
    assert g1.shape == (rep.epochs_replaced, n * n_out)
    for j, want in enumerate(per_epoch):
        got = -jac.T @ (v_full @ (g1[j] * (v_full.T @ r0.reshape(-1))))
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # NTK2 (literal), the residual frozen at the switch
    delta, per_epoch = np.zeros(jac.shape[1]), []
    for k in range(s + 1, e + 1):
        damped = scipy.linalg.expm(-(2.0 / n) * k0 * (k - offset)) @ r0
        delta -= eta * jac.T @ damped.reshape(-1)
        per_epoch.append(delta.copy())
    g2 = gains.cumulative_gains("NTK2", "code", np.linalg.eigvalsh(k0 / n_out), rep)
    assert g2.shape == (rep.epochs_replaced, n)
    for j, want in enumerate(per_epoch):
        got = -_apply_mean_gains(jac, k0 / n_out, lambda lam, j=j: gains.cumulative_gains(
            "NTK2", "code", lam, rep)[j], r0)
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    # NTK3 (literal): the ridge solve, T = E
    target = (np.eye(n) - scipy.linalg.expm(-(2.0 / n) * k0 * (e - offset))) @ r0
    want = -jac.T @ np.linalg.solve(k0 + gains.CODE_NTK3_RIDGE * np.eye(n), target).reshape(-1)
    g3 = gains.cumulative_gains("NTK3", "code", np.linalg.eigvalsh(k0 / n_out), rep)
    assert g3.shape == (1, n)
    got = -_apply_mean_gains(jac, k0 / n_out, lambda lam: gains.cumulative_gains(
        "NTK3", "code", lam, rep)[0], r0)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_code_gains_on_the_linearised_residual_of_the_mean_kernel():
    """With per-output Jacobians on disjoint parameters (full kernel = mean kernel (x) I, exact)
    the residual factors 1 - lam G are what the code's loops do to the linearised residual."""
    n, n_out, p = 5, 3, 12
    rng = np.random.default_rng(3)
    a = rng.normal(size=(n, p)) * np.geomspace(0.1, 4.0, p)
    jac = np.zeros((n * n_out, p * n_out))
    for c in range(n_out):
        jac[c::n_out, c * p:(c + 1) * p] = a
    theta_mean = a @ a.T
    np.testing.assert_allclose(jac @ jac.T, np.kron(theta_mean, np.eye(n_out)), atol=1e-12)
    r0 = rng.normal(size=(n, n_out))
    rep = _code_replaced(n_out, 3, n_kernel=n)
    lam, v = np.linalg.eigh(theta_mean)
    k0 = n_out * theta_mean
    r = r0.copy()  # NTK2 on the linearised model: r <- r - eta Theta_full c_k
    for k in range(rep.switch_epoch + 1, rep.total_epochs + 1):
        r = r - rep.learning_rate * theta_mean @ scipy.linalg.expm(
            -(2.0 / n) * k0 * (k - 3)) @ r0
    factors = gains.residual_factors(lam, gains.cumulative_gains("NTK2", "code", lam, rep)[-1])
    np.testing.assert_allclose(v @ (factors[:, None] * (v.T @ r0)), r, rtol=1e-10, atol=1e-12)
    r = r0.copy()  # NTK1: r <- (I - (2 eta / N) Theta_full) r, once per epoch
    for _ in range(rep.epochs_replaced):
        r = r - (2.0 * rep.learning_rate / n) * theta_mean @ r
    factors = gains.residual_factors(lam, gains.cumulative_gains("NTK1", "code", lam, rep)[-1])
    np.testing.assert_allclose(v @ (factors[:, None] * (v.T @ r0)), r, rtol=1e-10, atol=1e-12)
    # NTK3: the C in the ridge solve's K0 but not in J^T leaves at least 1 - 1/C of the residual
    ntk3 = gains.residual_factors(lam, gains.cumulative_gains("NTK3", "code", lam, rep)[0])
    assert np.all(ntk3 >= 1.0 - 1.0 / n_out)


def test_code_gains_limits_and_shapes():
    rep = _code_replaced(10, 3, n_kernel=50)
    eta, k = rep.learning_rate, rep.epochs_replaced
    tiny = np.array([0.0, 5e-324, 1e-300, 1e-14, -1e-14])
    g1 = gains.cumulative_gains("NTK1", "code", tiny, rep)
    np.testing.assert_allclose(g1, np.arange(1, k + 1)[:, None] * 2.0 * eta / 50 * np.ones(5),
                               rtol=1e-12)
    g2 = gains.cumulative_gains("NTK2", "code", tiny, rep)
    np.testing.assert_allclose(g2, np.arange(1, k + 1)[:, None] * eta * np.ones(5), rtol=1e-12)
    g3 = gains.cumulative_gains("NTK3", "code", tiny, rep)
    assert g3.shape == (1, 5) and np.all(g3 >= 0) and g3[0, 0] == 0.0
    # small lam: (1 - e^{-a C lam}) / (C lam + mu) -> a C lam / mu; large lam: lam G -> 1 / C
    a = 2.0 * (rep.total_epochs - 3) / 50
    lam = np.array([1e-12, 1e-10])
    np.testing.assert_allclose(gains.cumulative_gains("NTK3", "code", lam, rep)[0],
                               a * 10 * lam * (1 - a * 5 * lam) / (10 * lam + 0.01),
                               rtol=1e-13)
    assert gains.CODE_NTK3_RIDGE == 0.01
    big = np.array([1e6])
    assert big * gains.cumulative_gains("NTK3", "code", big, rep)[0] == pytest.approx(0.1, rel=1e-7)
    # without the ridge, the code's NTK3 is the flow's gain at C lam
    lam = np.geomspace(1e-8, 1e3, 30)
    np.testing.assert_allclose(gains.code_ntk3_gains(lam, exponent=a, n_outputs=10, ridge=0.0),
                               gains.ntk3_gains(10 * lam, rate=1.0, t=a), rtol=1e-14)
    assert gains.code_ntk3_gains(np.array([0.0]), exponent=a, ridge=0.0)[0] == pytest.approx(a)
    with pytest.raises(ValueError):
        gains.code_ntk3_gains(lam, exponent=a, ridge=-1.0)
    # shapes and the settings per task kind
    for method, rows in (("NTK1", k), ("NTK2", k), ("NTK3", 1)):
        assert gains.cumulative_gains(method, "code", lam, rep).shape == (rows, lam.size)
    reg = REPLACED.for_code("regression", 1)
    assert (reg.n_outputs, reg.code_epoch_offset) == (1, 0)
    cls = REPLACED.for_code("classification", 10)
    assert (cls.n_outputs, cls.code_epoch_offset, cls.switch_epoch) == (10, 3, 2)
    assert dataclasses.replace(cls, n_outputs=1, code_epoch_offset=0) == REPLACED
    with pytest.raises(ValueError, match="task kind"):
        REPLACED.for_code("ranking", 1)
    # the regression notebook's last version stops NTK1/NTK2 3 epochs early: with the switch
    # fixed, row j does not depend on E (so the first E - s - 3 rows are that reading)
    longer = dataclasses.replace(rep, epochs_replaced=7, total_epochs=12)
    assert longer.switch_epoch == rep.switch_epoch
    for method in ("NTK1", "NTK2"):
        np.testing.assert_array_equal(gains.cumulative_gains(method, "code", lam, rep),
                                      gains.cumulative_gains(method, "code", lam, longer)[:4])


def test_code_time_scales_in_the_rows():
    rep = REPLACED.for_code("classification", 10)
    rows = {r["quantity"]: r for r in gains.time_scale_rows(rep)}
    assert rows["NTK1 step (rate x flow time)"]["code"] == pytest.approx(2 * 0.05 / 5)
    assert rows["NTK2 step (gain per update at lam = 0)"]["code"] == pytest.approx(0.05)
    assert rows["NTK1/NTK2 updates per epoch"]["code"] == 1.0
    assert rows["NTK2 exponent per epoch"]["code"] == pytest.approx(2 * 10 / 5)
    ntk3 = rows["NTK3 exponent a"]
    assert ntk3["code"] == pytest.approx(2 * 10 * (4 - 3) / 5)
    assert ntk3["code / consistent"] == pytest.approx(ntk3["code"] / ntk3["consistent"])
    decays = rep.code_ntk2_decays()
    np.testing.assert_allclose(decays, 2 * 10 * (np.arange(3, 5) - 3) / 5)
