"""The gains of NTK1/NTK2/NTK3 against independent references: the linearised residual recursion
iterated step by step, matrix exponentials, and the flow integrated numerically."""

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


@pytest.mark.parametrize("variant", gains.VARIANTS)
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


@pytest.mark.parametrize("variant", gains.VARIANTS)
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
