"""The gains of Sarvanau's (2025) NTK updates NTK1/NTK2/NTK3: faithful, consistent and code.

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

*Code* = what the thesis' published notebooks do (``class_final (2).ipynb`` for Fashion-MNIST,
``wine_final (1).ipynb`` for Wine, in github.com/Kiril2206/BachelorAssignment_SGD-to-NTK), with
``N = n_kernel``, ``C`` outputs, the switch after epoch ``s`` and ``E - s`` epochs replaced. The
code builds ``K0 = sum_c J_c J_c^T = C Theta`` (``Theta`` the mean-over-outputs kernel of
:func:`ntkbook.dynamics.updates.subset_kernel`) but applies the full ``J^T`` to every output
column, and makes **one update per replaced epoch**:

* NTK1: ``theta <- theta - (2 eta / N) J_s^T R(theta)``, the residual re-evaluated on the
  *network* at every update. On the linearised model this is NTK1 with rate ``2 / N`` and step
  ``eta``, ``K`` updates: ``G = (1 - (1 - 2 eta lam / N)^j) / lam`` after ``j`` epochs. The
  network's own steps are not a gain (see :func:`ntkbook.dynamics.linearised.ntk1_descent`).
  (The regression notebook's last version runs ``E - s - 3`` updates of NTK1 and NTK2: rows
  ``j <= E - s - 3`` of the same gains.)
* NTK2: in epoch ``k = s + 1, ..., E`` (counted from the start of training)
  ``theta <- theta - eta J_s^T exp(-(2/N) K0 (k - o)) R_s``, without a ``1/N``, so
  ``G = eta sum_k exp(-(2 C / N)(k - o) lam)``; ``o`` (:data:`CODE_EXPONENT_OFFSET`) is 3 in the
  classification notebook and 0 in the regression one.
* NTK3: ``theta_s - J_s^T (K0 + mu I)^{-1} (I - exp(-(2/N) K0 (E - o))) R_s`` with the ridge
  ``mu`` = :data:`CODE_NTK3_RIDGE`: ``G = (1 - exp(-(2 C / N)(E - o) lam)) / (C lam + mu)``
  (:func:`code_ntk3_gains`), so ``1 - lam G >= 1 - 1/C``: for ``C = 10`` the residual loses at
  most a tenth along any eigenvector.

NTK2 and NTK3 of the code are exactly these gains on the network's update ``J_s^T c`` (they
never re-evaluate the network); only their reading as residual factors ``1 - lam G`` is the
linearised model's. ``C`` and ``o`` are :class:`ReplacedSGD`'s ``n_outputs`` and
``code_epoch_offset`` (:meth:`ReplacedSGD.for_code` sets both for a task kind).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ntkbook.dynamics.conventions import flow_rate

METHODS = ("NTK1", "NTK2", "NTK3")
VARIANTS = ("faithful", "consistent", "code")
#: The published code's shift ``o`` of the epoch in NTK2's and NTK3's exponents, per task kind:
#: ``(k - 3)`` and ``(T - 3)`` in the classification notebook, ``k`` and ``T`` in the regression
#: one.
CODE_EXPONENT_OFFSET = {"classification": 3, "regression": 0}
#: The ridge ``mu`` of the published NTK3's ``solve(K0 + mu I, ...)`` (both notebooks).
CODE_NTK3_RIDGE = 0.01

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
        n_outputs: ``C``, the network's outputs (code variant: ``K0 = C Theta``).
        code_epoch_offset: ``o`` of the code variant's exponents (:data:`CODE_EXPONENT_OFFSET`).
    """

    learning_rate: float
    steps_per_epoch: int
    epochs_replaced: int
    total_epochs: int
    n_train: int
    n_kernel: int
    loss_scale: float = 0.5
    n_outputs: int = 1
    code_epoch_offset: int = 0

    def for_code(self, kind: str, n_outputs: int) -> ReplacedSGD:
        """This SGD with the published code's ``C`` and ``o`` for a task ``kind``
        (``"classification"`` or ``"regression"``)."""
        _check(kind, tuple(CODE_EXPONENT_OFFSET), "task kind")
        return dataclasses.replace(self, n_outputs=int(n_outputs),
                                   code_epoch_offset=CODE_EXPONENT_OFFSET[kind])

    @property
    def switch_epoch(self) -> int:
        """``s = E - (E - s)``, the epoch after which the NTK phase starts."""
        return self.total_epochs - self.epochs_replaced

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

    @property
    def code_rate(self) -> float:
        """``2 / n_kernel``: the published NTK1's step ``2 eta / N`` over ``eta``."""
        return 2.0 / self.n_kernel

    def code_ntk2_decays(self) -> np.ndarray:
        """``(2 C / N)(k - o)`` for the epochs ``k = s + 1, ..., E``: the code's NTK2 exponents,
        ``(epochs_replaced,)``."""
        k = np.arange(self.switch_epoch + 1, self.total_epochs + 1, dtype=np.float64)
        return 2.0 * self.n_outputs * (k - self.code_epoch_offset) / self.n_kernel

    def ntk2_exponent_per_epoch(self, variant: str) -> float:
        """Growth per epoch of ``a`` in NTK2's ``exp(-a Theta)``: ``2 / n_kernel`` (faithful,
        eq. 16 with ``k`` the epoch), ``rho eta steps_per_epoch`` (consistent) or
        ``2 C / n_kernel`` (code)."""
        _check(variant, VARIANTS, "variant")
        if variant == "faithful":
            return 2.0 / self.n_kernel
        if variant == "code":
            return 2.0 * self.n_outputs / self.n_kernel
        return self.consistent_rate * self.learning_rate * self.steps_per_epoch

    def ntk3_exponent(self, variant: str) -> float:
        """``a`` in NTK3's ``exp(-a Theta)``: ``E / n_train`` (faithful), ``rho eta S``
        (consistent) or ``2 C (E - o) / n_kernel`` (code)."""
        _check(variant, VARIANTS, "variant")
        if variant == "faithful":
            return self.total_epochs / self.n_train
        if variant == "code":
            return 2.0 * self.n_outputs * (self.total_epochs - self.code_epoch_offset) \
                / self.n_kernel
        return self.consistent_rate * self.flow_time

    def equivalent_flow_time(self, variant: str) -> float:
        """The flow time of the replaced SGD (at the consistent rate) that NTK3 of ``variant``
        integrates: ``eta S`` for consistent, ``(E / n_train) / rho`` for faithful; for code the
        flow time of its exponent (its ridge and ``1 / C`` aside)."""
        return self.ntk3_exponent(variant) / self.consistent_rate


def _nonnegative(lam) -> np.ndarray:
    return np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)


def ntk1_gains(lam: np.ndarray, *, rate: float, step: float, n_updates: int) -> np.ndarray:
    """NTK1's gain ``(1 - (1 - x)^K) / lam`` with ``x = rate step lam``, ``K = n_updates``.

    For ``x < 1/2`` the power is ``exp(K log1p(-x))`` (accurate for tiny ``x``); below
    ``K x = 1e-8`` the series ``K rate step (1 - (K - 1) x / 2)``, exact to double precision,
    gives the limit ``K rate step`` at ``lam = 0`` and stays accurate for subnormal ``lam``.
    Steps with ``x > 2`` grow the residual: the gain is then huge or infinite, which
    :func:`residual_factors` reports.

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
        series = n_updates * x < _SERIES_BELOW
        safe = np.where(series, 1.0, lam)
        return np.where(series, n_updates * rate * step * (1.0 - 0.5 * (n_updates - 1) * x),
                        num / safe)


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


def code_ntk3_gains(lam: np.ndarray, *, exponent: float, n_outputs: int = 1,
                    ridge: float = CODE_NTK3_RIDGE) -> np.ndarray:
    """The published NTK3's gain ``(1 - exp(-a C lam)) / (C lam + mu)``: the spectral form of
    ``(K0 + mu I)^{-1} (I - exp(-a K0))`` with ``K0 = C Theta``.

    ``1 - exp(-x)`` is ``-expm1(-x)``. The limit at ``lam = 0`` is 0 for ``mu > 0`` (and ``a``,
    the limit of NTK3's gain at ``rate t = a`` and ``C = 1``, for ``mu = 0``).

    Args:
        lam: eigenvalues of ``Theta``, any shape; negative ones clipped to 0.
        exponent: ``a`` of ``exp(-a K0)``, ``2 (E - o) / N`` in the code (its exponent on
            ``Theta`` is ``a C``, :meth:`ReplacedSGD.ntk3_exponent`). n_outputs: ``C``.
        ridge: ``mu >= 0``.

    Returns:
        Gains of ``lam``'s shape, float64.
    """
    if ridge < 0 or n_outputs < 1:
        raise ValueError(f"need ridge >= 0 and n_outputs >= 1, got {ridge}, {n_outputs}")
    lam = _nonnegative(lam)
    if ridge == 0:
        return ntk3_gains(n_outputs * lam, rate=1.0, t=exponent)
    return -np.expm1(-exponent * n_outputs * lam) / (n_outputs * lam + ridge)


def _code_gains(method: str, lam: np.ndarray, replaced: ReplacedSGD) -> np.ndarray:
    """The published code's gains (module docstring), shaped as :func:`cumulative_gains`."""
    eta = replaced.learning_rate
    if method == "NTK3":
        a = 2.0 * (replaced.total_epochs - replaced.code_epoch_offset) / replaced.n_kernel
        return code_ntk3_gains(lam, exponent=a, n_outputs=replaced.n_outputs)[None, :]
    if method == "NTK1":  # one update of 2 eta / N per replaced epoch
        return np.stack([ntk1_gains(lam, rate=replaced.code_rate, step=eta, n_updates=j)
                         for j in range(1, replaced.epochs_replaced + 1)])
    # NTK2: one update per epoch k, step eta (no 1/N), exponent (2C/N)(k - o)
    per_epoch = [ntk2_gains(lam, rate=1.0, step=eta, decay=[d])
                 for d in replaced.code_ntk2_decays()]
    return np.cumsum(np.stack(per_epoch), axis=0)


def cumulative_gains(
    method: str, variant: str, lam: np.ndarray, replaced: ReplacedSGD
) -> np.ndarray:
    """Gains of ``method``/``variant`` after each replaced epoch (NTK1, NTK2) or at the end
    (NTK3, one shot).

    Args:
        method: ``"NTK1"``, ``"NTK2"`` or ``"NTK3"``.
        variant: ``"faithful"``, ``"consistent"`` or ``"code"`` (see the module docstring).
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
    if variant == "code":
        return _code_gains(method, lam, replaced)
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
    """What each variant's time scale means, in rows for a table: the step and number of updates
    of NTK1 and NTK2, NTK2's exponent per epoch, NTK3's exponent coefficient ``a`` of
    ``exp(-a Theta)`` and its flow time; faithful, consistent and code (the published notebooks),
    and each one's ratio to consistent."""
    eta, rho, spe = replaced.learning_rate, replaced.consistent_rate, replaced.steps_per_epoch
    rows = [
        {"quantity": "NTK1 step (rate x flow time)",
         "faithful": replaced.faithful_rate * eta, "consistent": rho * eta,
         "code": replaced.code_rate * eta},
        {"quantity": "NTK2 step (gain per update at lam = 0)",
         "faithful": replaced.faithful_rate * eta, "consistent": rho * eta, "code": eta},
        {"quantity": "NTK1/NTK2 updates per epoch",
         "faithful": float(spe), "consistent": float(spe), "code": 1.0},
        {"quantity": "NTK2 exponent per epoch",
         **{v: replaced.ntk2_exponent_per_epoch(v) for v in VARIANTS}},
        {"quantity": "NTK3 exponent a", **{v: replaced.ntk3_exponent(v) for v in VARIANTS}},
        {"quantity": "NTK3 flow time (at the consistent rate)",
         **{v: replaced.equivalent_flow_time(v) for v in VARIANTS}},
        {"quantity": "NTK3 flow time in SGD steps",
         **{v: replaced.equivalent_flow_time(v) / eta for v in VARIANTS}},
    ]
    for row in rows:
        for v in ("faithful", "code"):
            row[f"{v} / consistent"] = (row[v] / row["consistent"] if row["consistent"]
                                        else float("nan"))
    return rows
