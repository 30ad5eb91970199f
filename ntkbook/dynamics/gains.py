"""The gains of Sarvanau's (2025) NTK updates NTK1/NTK2/NTK3, faithful and consistent.

From the switch point ``theta_s`` every update is ``theta = theta_s - J_s^T V diag(G(lam)) V^T R``
with ``Theta = J_s J_s^T = V diag(lam) V^T`` the kernel on the NTK subset and ``R`` the residual
there (:mod:`ntkbook.dynamics.updates`). This module holds the *gain* ``G(lam)`` of every update,
as a function of the eigenvalue: on the linearised model the residual along each eigenvector is
multiplied by ``1 - lam G(lam)`` (:func:`residual_factors`). With rate ``rho``
(``df/dt = -rho Theta r``) and flow time ``t`` (``eta`` per SGD step):

* **NTK1**, ``K`` steps of gradient descent with the Jacobian frozen (thesis eq. 15) on the
  linearised model: ``r <- (1 - rho h lam) r`` per step of flow time ``h``, so
  ``1 - lam G = (1 - rho h lam)^K``, ``G = (1 - (1 - rho h lam)^K) / lam`` (:func:`ntk1_gains`).
* **NTK2**, steps along the residual the flow predicts (eq. 16): update ``u`` moves by
  ``rho h_u J^T exp(-a_u Theta) R``, so ``G = rho sum_u h_u exp(-a_u lam)`` (:func:`ntk2_gains`).
* **NTK3**, the one-shot integrated flow (eq. 17): ``(I - e^{-rho t Theta}) Theta^+``, i.e.
  ``G = (1 - exp(-rho t lam)) / lam`` (:func:`ntk3_gains`), so that ``1 - lam G = exp(-rho t lam)``.

Each gain is a smooth bounded function of ``lam >= 0`` with a finite limit at 0 (``K rho h``,
``rho sum h_u``, ``rho t``), evaluated accurately there; negative eigenvalues (rounding of a
positive semi-definite kernel) are clipped to 0. No pseudoinverse cutoff is applied here: the
caller zeroes the gains at or below :func:`ntkbook.dynamics.conventions.pinv_cutoff` in one place
(:meth:`ntkbook.dynamics.updates.SubsetKernel.coefficients`).

**Variants** (:class:`ReplacedSGD`). *Faithful* = the thesis' printed time scales: NTK1 and NTK2
step ``eta / N`` with ``N = n_kernel`` (one update per replaced SGD step); NTK2's exponent is
``2 Theta k / N`` with ``k`` the epoch counted from the switch; NTK3 uses ``t = E`` (the total
number of epochs) and ``N = n_train`` (the full training set) while ``Theta`` is built on the
subset. *Consistent* = every update covers the gradient-flow time of the SGD it replaces,
``t = eta S`` for ``S`` replaced steps, at the rate ``rho = 2c / n_kernel`` of the kernel's own
samples, where ``c`` is the loss scale of the SGD loss (``c = 1`` for the MSE of the regression
task, ``c = 1/2`` for classification, matching the cross-entropy's gradient ``softmax - y`` with the
NTK phase's ``(f - y)``). NTK2 consistent then uses ``a_u = rho eta u``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ntkbook.dynamics.conventions import flow_rate

METHODS = ("NTK1", "NTK2", "NTK3")
VARIANTS = ("faithful", "consistent")

#: Below this ``x = rho t lam`` the gains use their Taylor series: ``1 - exp(-x) = x (1 - x/2)``
#: to double precision, where ``x / lam`` would lose digits for subnormal ``lam``.
_SERIES_BELOW = 1e-8


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; choose one of {allowed}")


@dataclass(frozen=True)
class ReplacedSGD:
    """The SGD an NTK update replaces, and the sizes its time scales depend on.

    Attributes:
        learning_rate: ``eta``.
        steps_per_epoch: SGD steps per epoch (``ceil(n_train / batch)``).
        epochs_replaced: epochs after the switch, ``E - s``.
        total_epochs: ``E``.
        n_train: training-set size (the faithful NTK3's ``N``).
        n_kernel: samples of the kernel subset.
        loss_scale: ``c`` of the SGD loss ``(c/N) sum ||f - y||^2`` (consistent variant).
    """

    learning_rate: float
    steps_per_epoch: int
    epochs_replaced: int
    total_epochs: int
    n_train: int
    n_kernel: int
    loss_scale: float = 0.5

    @property
    def steps(self) -> int:
        """``S``, the SGD steps replaced."""
        return self.steps_per_epoch * self.epochs_replaced

    @property
    def flow_time(self) -> float:
        """``eta S``, the gradient-flow time of the replaced SGD."""
        return self.learning_rate * self.steps

    @property
    def consistent_rate(self) -> float:
        """``2c / n_kernel``."""
        return flow_rate(self.n_kernel, self.loss_scale)

    @property
    def faithful_rate(self) -> float:
        """``1 / n_kernel``: the thesis' ``eta / N`` step (NTK1, NTK2)."""
        return 1.0 / self.n_kernel

    def ntk2_exponent_per_epoch(self, variant: str) -> float:
        """Growth per epoch of ``a`` in NTK2's ``exp(-a Theta)``: ``2 / n_kernel`` (faithful,
        eq. 16 with ``k`` the epoch) or ``rho eta steps_per_epoch`` (consistent)."""
        _check(variant, VARIANTS, "variant")
        if variant == "faithful":
            return 2.0 / self.n_kernel
        return self.consistent_rate * self.learning_rate * self.steps_per_epoch

    def ntk3_exponent(self, variant: str) -> float:
        """``a`` in NTK3's ``exp(-a Theta)``: ``E / n_train`` (faithful) or ``rho eta S``."""
        _check(variant, VARIANTS, "variant")
        if variant == "faithful":
            return self.total_epochs / self.n_train
        return self.consistent_rate * self.flow_time

    def equivalent_flow_time(self, variant: str) -> float:
        """The flow time of the replaced SGD (at the consistent rate) that NTK3 of ``variant``
        integrates: ``eta S`` for consistent, ``(E / n_train) / rho`` for faithful."""
        return self.ntk3_exponent(variant) / self.consistent_rate


def _nonnegative(lam) -> np.ndarray:
    return np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)


def ntk1_gains(lam: np.ndarray, *, rate: float, step: float, n_updates: int) -> np.ndarray:
    """NTK1's gain ``(1 - (1 - x)^K) / lam`` with ``x = rate step lam``, ``K = n_updates``.

    For ``x < 1/2`` the power is ``exp(K log1p(-x))`` (accurate for tiny ``x``); the limit at
    ``lam = 0`` is ``K rate step``. Steps with ``x > 2`` grow the residual: the gain is then huge
    or infinite, which :func:`residual_factors` reports.

    Args:
        lam: ``(M,)`` eigenvalues. rate: ``rho``. step: flow time per update ``h``.
        n_updates: ``K``.

    Returns:
        ``(M,)`` float64.
    """
    lam = _nonnegative(lam)
    x = rate * step * lam
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        small = -np.expm1(n_updates * np.log1p(-np.minimum(x, 0.5)))
        large = 1.0 - np.power(1.0 - x, n_updates)
        num = np.where(x < 0.5, small, large)
        safe = np.where(lam > 0, lam, 1.0)
        return np.where(lam > 0, num / safe, n_updates * rate * step)


def ntk2_gains(lam: np.ndarray, *, rate: float, step: float, decay: np.ndarray) -> np.ndarray:
    """NTK2's gain ``rate step sum_u exp(-a_u lam)``, one update per entry ``a_u`` of ``decay``.

    Args:
        lam: ``(M,)`` eigenvalues. rate: ``rho``. step: flow time per update.
        decay: ``(U,)`` coefficients ``a_u`` of ``exp(-a_u Theta)``.

    Returns:
        ``(M,)`` float64.
    """
    lam = _nonnegative(lam)
    decay = np.asarray(decay, dtype=np.float64)
    return rate * step * np.exp(-np.outer(lam, decay)).sum(axis=1)


def _geometric_gains(lam: np.ndarray, rate: float, step: float, n_updates: int) -> np.ndarray:
    """``rate step sum_{u < K} exp(-rate step u lam)`` in closed form (NTK2 consistent)."""
    x = rate * step * _nonnegative(lam)
    safe = np.where(x > 0, x, 1.0)
    ratio = np.where(x > 0, np.expm1(-n_updates * safe) / np.expm1(-safe), n_updates)
    return rate * step * ratio


def ntk3_gains(lam: np.ndarray, *, rate: float, t: float) -> np.ndarray:
    """NTK3's gain ``(1 - exp(-rate t lam)) / lam``, the spectral form of
    ``(I - exp(-rate t Theta)) Theta^+``, and the only implementation of it.

    ``1 - exp(-x)`` is ``-expm1(-x)`` (no cancellation); below ``x = 1e-8`` the Taylor series
    ``rate t (1 - x/2)`` is used, exact to double precision, which gives the limit ``rate t`` at
    ``lam = 0`` and stays accurate for subnormal ``lam``. Negative ``lam`` is clipped to 0. The
    pseudoinverse cutoff is the caller's.

    Args:
        lam: eigenvalues, any shape (``(M,)``, or Ritz values).
        rate: ``rho``. t: gradient-flow time.

    Returns:
        Gains of ``lam``'s shape, float64, in ``(0, rate t]``.
    """
    lam = _nonnegative(lam)
    x = rate * t * lam
    small = x < _SERIES_BELOW
    safe = np.where(small, 1.0, lam)
    return np.where(small, rate * t * (1.0 - 0.5 * x), -np.expm1(-x) / safe)


def cumulative_gains(
    method: str, variant: str, lam: np.ndarray, replaced: ReplacedSGD
) -> np.ndarray:
    """Gains of ``method``/``variant`` after each replaced epoch (NTK1, NTK2) or at the end
    (NTK3, one shot).

    Args:
        method: ``"NTK1"``, ``"NTK2"`` or ``"NTK3"``.
        variant: ``"faithful"`` or ``"consistent"`` (see the module docstring).
        lam: ``(M,)`` eigenvalues of the kernel on the subset.
        replaced: the SGD being replaced.

    Returns:
        ``(epochs_replaced, M)`` for NTK1/NTK2 (row ``j``: after ``j + 1`` epochs), ``(1, M)`` for
        NTK3; float64.
    """
    _check(method, METHODS, "NTK method")
    _check(variant, VARIANTS, "variant")
    if replaced.steps < 1:
        raise ValueError(f"{replaced} replaces no SGD steps: no epochs after the switch")
    eta, spe = replaced.learning_rate, replaced.steps_per_epoch
    epochs = np.arange(1, replaced.epochs_replaced + 1)
    if method == "NTK3":
        rate = 1.0 / replaced.n_train if variant == "faithful" else replaced.consistent_rate
        t = replaced.total_epochs if variant == "faithful" else replaced.flow_time
        return ntk3_gains(lam, rate=rate, t=float(t))[None, :]
    rate = replaced.faithful_rate if variant == "faithful" else replaced.consistent_rate
    if method == "NTK1":
        return np.stack([ntk1_gains(lam, rate=rate, step=eta, n_updates=int(j * spe))
                         for j in epochs])
    if variant == "consistent":
        return np.stack([_geometric_gains(lam, rate, eta, int(j * spe)) for j in epochs])
    # Faithful NTK2: spe updates per epoch, exponent 2 k / n_kernel in epoch k = 0, 1, ...
    per_epoch = [spe * ntk2_gains(lam, rate=rate, step=eta, decay=[2.0 * k / replaced.n_kernel])
                 for k in range(replaced.epochs_replaced)]
    return np.cumsum(np.stack(per_epoch), axis=0)


def residual_factors(lam: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``1 - lam G``: what an update does to each mode of the linearised model's residual.

    Args:
        lam: ``(M,)`` eigenvalues (negative ones clipped to 0). gains: ``(..., M)``.

    Returns:
        ``(..., M)`` float64.
    """
    return 1.0 - _nonnegative(lam) * gains


def time_scale_rows(replaced: ReplacedSGD) -> list[dict]:
    """What each variant's time scale means, in rows for a table: the rate, the flow time and the
    exponent coefficient ``a`` of ``exp(-a Theta)``, faithful beside consistent."""
    eta, rho = replaced.learning_rate, replaced.consistent_rate
    rows = [
        {"quantity": "NTK1/NTK2 step (rate x flow time)",
         "faithful": replaced.faithful_rate * eta, "consistent": rho * eta},
        {"quantity": "NTK2 exponent per epoch",
         "faithful": replaced.ntk2_exponent_per_epoch("faithful"),
         "consistent": replaced.ntk2_exponent_per_epoch("consistent")},
        {"quantity": "NTK3 exponent a", "faithful": replaced.ntk3_exponent("faithful"),
         "consistent": replaced.ntk3_exponent("consistent")},
        {"quantity": "NTK3 flow time (at the consistent rate)",
         "faithful": replaced.equivalent_flow_time("faithful"),
         "consistent": replaced.equivalent_flow_time("consistent")},
        {"quantity": "NTK3 flow time in SGD steps",
         "faithful": replaced.equivalent_flow_time("faithful") / eta,
         "consistent": float(replaced.steps)},
    ]
    for row in rows:
        row["faithful / consistent"] = (row["faithful"] / row["consistent"]
                                        if row["consistent"] else float("nan"))
    return rows
