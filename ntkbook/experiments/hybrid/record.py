"""The record of one hybrid run (:func:`ntkbook.experiments.hybrid.run_hybrid`): typed, frozen,
and written to / read from JSON by the package's one codec (:mod:`ntkbook.store.codec`).

A run trains with SGD for ``E`` epochs (:class:`SGDHistory`, the switch metrics), and at every
distinct switch epoch ``s`` branches into every NTK method (:class:`Branch`): one
:class:`MethodResult` per :class:`MethodKey` ``(method, variant, residual)``, and optionally
the points of the time-quality frontier (:class:`FrontierPoint`). The optional measurements at
the first switch are an :class:`Extras`.

Conventions: curves are float64 arrays with NaN where a value is undefined or not measured;
scalars that were not measured are None. In JSON both NaN and missing values are ``null``
(:func:`~ntkbook.store.codec.to_builtin`), read back as NaN for arrays
(:func:`~ntkbook.store.codec.floats`) and as None for scalars. Two records are equal when their
JSON is.

This module imports only NumPy, the standard library and :mod:`ntkbook.store`, so that the report
layer can read records without importing the protocol that made them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from ntkbook.store.codec import finite_or_none, floats, to_builtin

#: The switch heuristics (:mod:`ntkbook.experiments.hybrid.heuristics`), in table order.
HEURISTICS = ("eps", "delta", "spectral")


class _Record:
    """Equality by JSON (arrays hold NaN, which is never equal to itself)."""

    def to_json(self) -> dict:  # pragma: no cover - every record defines it
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]


def _array(values: Any) -> np.ndarray:
    """A float64 array from numbers or JSON (None as NaN), any shape."""
    if values is None:
        return np.array([], dtype=np.float64)
    arr = np.asarray(values, dtype=object)
    if arr.dtype == object:
        arr = np.where(arr == None, np.nan, arr)  # noqa: E711 - elementwise
    return np.asarray(arr, dtype=np.float64)


def _optional(value: Any) -> float | None:
    return finite_or_none(value)


# --------------------------------------------------------------------------- one NTK method


@dataclass(frozen=True, order=True)
class MethodKey:
    """Which NTK update: ``method`` (``"NTK1"``, ``"NTK2"``, ``"NTK3"``), ``variant``
    (``"faithful"``: the thesis' printed time scales, or ``"consistent"``) and ``residual``
    (``"squared"``: ``f - Y``, or ``"softmax"``: ``softmax(f) - Y``)."""

    method: str
    variant: str
    residual: str

    @property
    def label(self) -> str:
        """``"NTK3 consistent, softmax residual"``: for legends and tables."""
        return f"{self.method} {self.variant}, {self.residual} residual"


@dataclass(frozen=True, eq=False)
class MethodResult(_Record):
    """One NTK update from one switch point.

    Attributes:
        seconds: wall seconds from the switch: the subset kernel and its eigendecomposition,
            the gains and the update (not the evaluations).
        diverged: the gains overflowed, the parameters or outputs are NaN/Inf, or the subset loss
            grew more than the run's ``divergence_factor``; then ``reason`` says which, and the
            test and validation numbers are missing.
        reason: empty unless diverged.
        max_mode_factor: the largest ``|residual factor|`` over the kept eigenmodes (None if the
            gains overflowed).
        subset_loss_at_switch, subset_loss: the loss matching the residual on the NTK subset,
            before and after the update (None where undefined).
        test_loss, test_metric: on the test split after the update (None if not measured).
        val_loss, val_metric: ``(k,)`` validation curve over the last ``k`` epochs up to ``E``
            (NTK1, NTK2: one point per replaced epoch; NTK3: only ``E``); empty if diverged.
    """

    seconds: float
    diverged: bool
    reason: str = ""
    max_mode_factor: float | None = None
    subset_loss_at_switch: float | None = None
    subset_loss: float | None = None
    test_loss: float | None = None
    test_metric: float | None = None
    val_loss: np.ndarray = field(default_factory=lambda: _array([]))
    val_metric: np.ndarray = field(default_factory=lambda: _array([]))

    def to_json(self) -> dict:
        return to_builtin({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, data: Mapping) -> MethodResult:
        return cls(seconds=float(data["seconds"]), diverged=bool(data["diverged"]),
                   reason=data.get("reason", ""),
                   max_mode_factor=_optional(data.get("max_mode_factor")),
                   subset_loss_at_switch=_optional(data.get("subset_loss_at_switch")),
                   subset_loss=_optional(data.get("subset_loss")),
                   test_loss=_optional(data.get("test_loss")),
                   test_metric=_optional(data.get("test_metric")),
                   val_loss=floats(data.get("val_loss") or []),
                   val_metric=floats(data.get("val_metric") or []))


#: The kinds of :class:`FrontierPoint`, in legend order.
FRONTIER_METHODS = ("stop", "SGD", "SGD continued", "NTK3", "CE flow")


@dataclass(frozen=True, eq=False)
class FrontierPoint(_Record):
    """One point of the time-quality frontier from one switch point: what a method reaches on
    the test split, and the wall seconds it takes from the switch.

    Attributes:
        method: ``"stop"`` (the switch point itself, 0 s), ``"SGD"`` (the run's own SGD after
            each remaining epoch), ``"SGD continued"`` (SGD from the switch on fresh batches for
            a given flow time, past ``E`` too), ``"NTK3"`` (the closed-form squared-loss flow)
            or ``"CE flow"`` (the linearised model's cross-entropy flow, integrated).
        variant: the time scale (``"consistent"``, ``"faithful"``, ``"code"``) of an NTK point,
            or whose flow time an SGD-continued point matches; ``""`` else.
        residual: ``"squared"``, ``"softmax"`` or ``"crossentropy"``; ``""`` for SGD.
        kernel: ``"mean"`` or ``"full"``; ``""`` for SGD.
        samples: rows of the NTK subset the update used (0 for SGD).
        flow_multiple: the flow time covered, in units of the replaced SGD's ``eta S`` (at the
            consistent rate); 0 at the switch, 1 for SGD to ``E``.
        seconds: wall seconds from the switch (kernel, solve and update; training steps for
            SGD; never the evaluations).
        diverged: NaN/Inf in the parameters or outputs; then ``reason`` says where and the test
            numbers are None.
        test_loss, test_metric: on the test split.
    """

    method: str
    variant: str
    residual: str
    kernel: str
    samples: int
    flow_multiple: float
    seconds: float
    diverged: bool = False
    reason: str = ""
    test_loss: float | None = None
    test_metric: float | None = None

    @property
    def label(self) -> str:
        """A legend label: ``"NTK3 consistent (softmax, mean kernel)"``, ``"SGD"``."""
        if self.method in ("stop", "SGD"):
            return self.method
        if self.method == "SGD continued":
            return "SGD continued" + (" (faithful NTK3's flow time)"
                                      if self.variant == "faithful" else "")
        parts = [p for p in (self.residual, f"{self.kernel} kernel" if self.kernel else "",
                             f"n={self.samples}") if p]
        head = f"{self.method} {self.variant}".strip()
        return f"{head} ({', '.join(parts)})"

    def to_json(self) -> dict:
        return to_builtin({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, data: Mapping) -> FrontierPoint:
        return cls(method=str(data["method"]), variant=str(data["variant"]),
                   residual=str(data["residual"]), kernel=str(data["kernel"]),
                   samples=int(data["samples"]), flow_multiple=float(data["flow_multiple"]),
                   seconds=float(data["seconds"]), diverged=bool(data["diverged"]),
                   reason=data.get("reason", ""), test_loss=_optional(data.get("test_loss")),
                   test_metric=_optional(data.get("test_metric")))


# --------------------------------------------------------------------------- one switch point


@dataclass(frozen=True, eq=False)
class Branch(_Record):
    """Every NTK method from one switch epoch.

    Attributes:
        switch_epoch: ``s``: the NTK update starts from SGD's parameters after ``s`` epochs.
        kernel_seconds: seconds of the subset kernel's parts: ``"kernel"``, ``"outputs"``,
            ``"eigh"``.
        lambda_max: the subset kernel's largest eigenvalue; ``cutoff`` its pseudoinverse cutoff
            and ``n_below_cutoff`` the eigenvalues at or below it.
        steps_replaced: SGD steps from ``s`` to ``E``; ``flow_time`` their flow time.
        step_stability: ``eta rho lambda_max`` of the NTK1 step per variant (> 2: unstable).
        methods: every :class:`MethodKey` -> its result, in the order computed.
        frontier: the time-quality frontier from this switch, if the run measured it
            (:class:`FrontierPoint`, in the order measured).
    """

    switch_epoch: int
    kernel_seconds: Mapping[str, float]
    lambda_max: float
    cutoff: float
    n_below_cutoff: int
    steps_replaced: int
    flow_time: float
    step_stability: Mapping[str, float]
    methods: Mapping[MethodKey, MethodResult]
    frontier: tuple[FrontierPoint, ...] = ()

    def to_json(self) -> dict:
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("methods", "frontier")}
        out = to_builtin(out)
        out["methods"] = [{"method": k.method, "variant": k.variant, "residual": k.residual}
                          | m.to_json() for k, m in self.methods.items()]
        out["frontier"] = [p.to_json() for p in self.frontier]
        return out

    @classmethod
    def from_json(cls, data: Mapping) -> Branch:
        methods = {MethodKey(m["method"], m["variant"], m["residual"]): MethodResult.from_json(m)
                   for m in data["methods"]}
        return cls(switch_epoch=int(data["switch_epoch"]),
                   kernel_seconds={k: float(v) for k, v in data["kernel_seconds"].items()},
                   lambda_max=float(data["lambda_max"]), cutoff=float(data["cutoff"]),
                   n_below_cutoff=int(data["n_below_cutoff"]),
                   steps_replaced=int(data["steps_replaced"]),
                   flow_time=float(data["flow_time"]),
                   step_stability={k: float(v) for k, v in data["step_stability"].items()},
                   methods=methods,
                   frontier=tuple(FrontierPoint.from_json(p)
                                  for p in data.get("frontier") or ()))


@dataclass(frozen=True, eq=False)
class Extras(_Record):
    """The optional measurements at a run's first switch (see
    :class:`~ntkbook.experiments.hybrid.spec.HybridSpec`), each a flat mapping of named numbers
    as :mod:`ntkbook.experiments.hybrid.extras` documents them, or None if not made.

    Attributes:
        switch_epoch: the first switch epoch, where they were made.
        full_kernel: mean-over-outputs kernel against the full kernel (``samples``,
            ``kernel_rel_gap``, ``off_diagonal_share``, ``seconds_kernel_eigh_<kind>``,
            ``test_loss_<kind>_<residual>``, ``test_metric_<kind>_<residual>``,
            ``update_rel_diff_<residual>``).
        cutoff: default float64 cutoff against the worst-case float32 one (``eigenvalues``,
            ``lambda_max``, ``cutoff_<name>``, ``dropped_<name>``,
            ``test_metric_<name>_<residual>``, ``update_rel_diff_<residual>``).
        eigh_seconds_by_threads: LAPACK threads (as a string) -> seconds of the eigh.
        literal_ntk1: NTK1 step by step (``steps``, ``seconds_per_step``,
            ``extrapolated_seconds``, ``subset_loss_at_switch``, ``subset_loss_after``).
    """

    switch_epoch: int
    full_kernel: Mapping[str, Any] | None = None
    cutoff: Mapping[str, Any] | None = None
    eigh_seconds_by_threads: Mapping[str, float] | None = None
    literal_ntk1: Mapping[str, Any] | None = None

    def to_json(self) -> dict:
        return to_builtin({f.name: getattr(self, f.name) for f in fields(self)
                           if getattr(self, f.name) is not None})

    @classmethod
    def from_json(cls, data: Mapping) -> Extras:
        return cls(**{f.name: data.get(f.name) for f in fields(cls)})


# --------------------------------------------------------------------------- one run


@dataclass(frozen=True, eq=False)
class SGDHistory(_Record):
    """The SGD phase, recorded after every epoch ``t = 0..E`` (``t = 0``: initialisation).

    Attributes:
        val_loss, val_metric, test_loss, test_metric: ``(E + 1,)`` loss and metric (accuracy or
            NRMSE, fractions) per split; the test split is NaN where not evaluated (scouting).
        epoch_seconds: ``(E,)`` wall seconds of epochs ``1..E`` (training only).
    """

    val_loss: np.ndarray
    val_metric: np.ndarray
    test_loss: np.ndarray
    test_metric: np.ndarray
    epoch_seconds: np.ndarray

    def to_json(self) -> dict:
        return to_builtin({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, data: Mapping) -> SGDHistory:
        return cls(**{f.name: floats(data[f.name]) for f in fields(cls)})


@dataclass(frozen=True, eq=False)
class HybridRun(_Record):
    """One run: its spec, the SGD phase, the switch metrics, and every branch.

    Attributes:
        spec: the run's :class:`~ntkbook.experiments.hybrid.spec.HybridSpec` as plain JSON
            values (``thresholds`` a list of ``[heuristic, threshold]`` pairs).
        sgd: the SGD phase.
        metrics: heuristic (``"eps"``, ``"delta"``, ``"spectral"``) -> ``(E + 1,)`` series.
        kernel_distance: ``(E + 1,)`` ``||Theta_t - Theta_0||_F`` of the monitoring kernel.
        top_eigenvalues: ``(E + 1, k)`` its ``k`` largest eigenvalues, descending.
        switch: heuristic -> switch epoch (None: the metric never fell below the threshold).
        branches: switch epoch ``s < E`` -> :class:`Branch`, ascending.
        extras: the optional measurements, or None.
        steps_per_epoch: SGD steps per epoch; ``n_kernel``: rows of the NTK subset.
    """

    spec: Mapping[str, Any]
    sgd: SGDHistory
    metrics: Mapping[str, np.ndarray]
    kernel_distance: np.ndarray
    top_eigenvalues: np.ndarray
    switch: Mapping[str, int | None]
    branches: Mapping[int, Branch]
    extras: Extras | None
    steps_per_epoch: int
    n_kernel: int

    # ------------------------------------------------------------- the spec's fields

    @property
    def dataset(self) -> str:
        return str(self.spec["dataset"])

    @property
    def width(self) -> int:
        return int(self.spec["width"])

    @property
    def seed(self) -> int:
        return int(self.spec["seed"])

    @property
    def epochs(self) -> int:
        return int(self.spec["epochs"])

    @property
    def thresholds(self) -> tuple[tuple[str, float], ...]:
        """``((heuristic, threshold), ...)`` as in the spec (empty for scouting runs)."""
        return tuple((str(h), float(t)) for h, t in self.spec["thresholds"])

    def switch_epoch(self, heuristic: str) -> int | None:
        """The epoch this run branched at for ``heuristic``: None if it never switched or
        switched only at ``E`` (no NTK phase)."""
        s = self.switch.get(heuristic)
        return None if s is None or s >= self.epochs else int(s)

    def branch(self, heuristic: str) -> Branch | None:
        """The branch of ``heuristic``'s switch, or None (see :meth:`switch_epoch`)."""
        s = self.switch_epoch(heuristic)
        return None if s is None else self.branches[s]

    # ------------------------------------------------------------- JSON

    def to_json(self) -> dict:
        """Plain JSON values (NaN as None): what the run cache stores."""
        return {
            "spec": to_builtin(dict(self.spec)),
            "sgd": self.sgd.to_json(),
            "metrics": to_builtin(dict(self.metrics)),
            "kernel_distance": to_builtin(self.kernel_distance),
            "top_eigenvalues": to_builtin(self.top_eigenvalues),
            "switch": to_builtin(dict(self.switch)),
            "branches": {str(s): b.to_json() for s, b in self.branches.items()},
            "extras": None if self.extras is None else self.extras.to_json(),
            "steps_per_epoch": int(self.steps_per_epoch),
            "n_kernel": int(self.n_kernel),
        }

    @classmethod
    def from_json(cls, data: Mapping) -> HybridRun:
        extras = data.get("extras")
        return cls(
            spec=to_builtin(dict(data["spec"])),
            sgd=SGDHistory.from_json(data["sgd"]),
            metrics={k: floats(v) for k, v in data["metrics"].items()},
            kernel_distance=floats(data["kernel_distance"]),
            top_eigenvalues=_array(data["top_eigenvalues"]),
            switch={k: None if v is None else int(v) for k, v in data["switch"].items()},
            branches={int(s): Branch.from_json(b) for s, b in data["branches"].items()},
            extras=Extras.from_json(extras) if extras else None,
            steps_per_epoch=int(data["steps_per_epoch"]),
            n_kernel=int(data["n_kernel"]),
        )


@dataclass(frozen=True, eq=False)
class ScoutingSummary(_Record):
    """Thresholds from pure-SGD scouting runs (thesis sec. 4.3.2), with the curves they come from.

    Attributes:
        runs: scouting runs averaged.
        elbow: elbow epoch of the seed-mean validation loss.
        mean_val_loss, mean_val_metric: ``(E + 1,)`` seed means.
        mean_metrics: heuristic -> ``(E + 1,)`` seed-mean metric.
        thresholds: heuristic -> threshold (the percentile of its mean over the plateau).
        suggested_switch: heuristic -> the switch epoch its threshold gives on the seed-mean
            metric (None if none).
    """

    runs: int
    elbow: int
    mean_val_loss: np.ndarray
    mean_val_metric: np.ndarray
    mean_metrics: Mapping[str, np.ndarray]
    thresholds: Mapping[str, float]
    suggested_switch: Mapping[str, int | None]

    def to_json(self) -> dict:
        return to_builtin({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, data: Mapping) -> ScoutingSummary:
        return cls(runs=int(data["runs"]), elbow=int(data["elbow"]),
                   mean_val_loss=floats(data["mean_val_loss"]),
                   mean_val_metric=floats(data["mean_val_metric"]),
                   mean_metrics={k: floats(v) for k, v in data["mean_metrics"].items()},
                   thresholds={k: float(v) for k, v in data["thresholds"].items()},
                   suggested_switch={k: None if v is None else int(v)
                                     for k, v in data["suggested_switch"].items()})
