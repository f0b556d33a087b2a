"""The run record: one typed schema shared by the sweep, the store, the summary and the tests.

A record holds raw measurements only. Values derived from them (the ratio to the Bayes floor,
the gap closed, usable or not) are computed in one place, :func:`bench.summary.run_flags`.
Records are stored as strict JSON: a missing or non-finite number is ``null``, never ``NaN``;
reading turns ``null`` back into NaN for numeric fields.

Fields (per layer lists run from the first LSTM layer to the last):

- identity: ``key`` (hash of the resolved config, :meth:`bench.config.RunConfig.key`),
  ``sweep_id`` (the sweep that made it, :attr:`bench.sweep.SweepSpec.sweep_id`), ``arm`` (the
  named group of run options, :data:`bench.config.ARMS`), ``strategy``, ``dataset``,
  ``profile``, ``lr``, ``seed``, ``config`` (the resolved config as a dict);
- the forward pass at init over ``init_sequences`` × ``init_length`` steps:
  ``init_nonfinite_frac`` (fraction of non-finite h), ``init_first_nonfinite`` (first step with a
  non-finite h, -1 if none), ``init_max_h`` and ``init_max_c`` (max |h|, |c| over finite values),
  ``init_h_trace`` (max |h| over blocks of time);
- dynamics of the same pass (:mod:`bench.diagnostics`, per layer): ``init_growth_h`` and
  ``init_growth_c`` (growth of max |h|, |c| per 1 000 steps), ``init_jac_radius`` and
  ``init_jac_sigma`` (mean spectral radius and largest singular value of the step Jacobian),
  ``init_memory_horizon`` and ``init_grad_lag`` (gradient norm against lag), ``init_saturation``
  (gate → saturated fraction), ``init_forget_timescale`` (1 / (1 − mean forget gate)),
  ``init_culprits`` (the fastest-growing units with their biases and self-weights); and the
  same pass on the trained weights: ``trained_nonfinite_frac``, ``trained_first_nonfinite``
  and ``trained_<diagnostic>`` for the diagnostics above;
- training: ``loss_curve`` (block means of the training loss, with dropout when the run has
  it; null after a divergence), ``diverged``, ``diverged_step`` (-1 if not); ``stopped_step``
  (the training steps done when the run stopped costing compute, -1 if it trained to its
  budget) and ``stopped_reason`` (``"diverged"``, or ``"collapsed"``: at the mean predictor for
  ``stop_collapsed`` of its validation points in a row, :func:`bench.sweep.run_chunk`);
- validation (a set disjoint from the training pool and the test set; no dropout):
  ``val_mse_init``, ``val_mse`` (one-step MSE at init and after training), ``val_curve`` (the
  one-step MSE after each of ``val_steps`` training steps; the last is the run's budget);
- test (disjoint from both; every reported number): ``test_mse_init``, ``test_mse``,
  ``test_variance`` (the test sequences' own variance), and the dataset's exact floors (channel
  means) ``variance``, ``bayes_mse``, ``persistence_mse``; ``floor_name`` says what
  ``bayes_mse`` is: the exact "Bayes floor" of a synthetic process, or a real series' fitted
  "AR(p) baseline" (:mod:`bench.series`); per channel (in the dataset's
  channel order): ``test_mse_channels``, ``bayes_channels``, ``persistence_channels``;
- cost: ``chunk_wall_s`` (wall time of the compiled chunk the run was trained in),
  ``chunk_runs`` (runs in that chunk) and ``chunk_phase_s`` (that chunk's seconds per phase,
  :data:`bench.timing.PHASES`; compile time is its own phase). A sweep's time in a phase is
  the sum over its records of ``chunk_phase_s[phase] / chunk_runs``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RunRecord:
    """One finished run (see the module docstring for the meaning of every field)."""

    key: str
    sweep_id: str
    arm: str
    strategy: str
    dataset: str
    profile: str
    lr: float
    seed: int
    config: dict[str, Any]
    diverged: bool
    diverged_step: int
    val_mse_init: float
    val_mse: float
    test_mse_init: float
    test_mse: float
    test_variance: float
    variance: float
    bayes_mse: float
    persistence_mse: float
    init_nonfinite_frac: list[float] = field(default_factory=list)
    init_first_nonfinite: list[int] = field(default_factory=list)
    init_max_h: list[float] = field(default_factory=list)
    init_max_c: list[float] = field(default_factory=list)
    init_h_trace: list[list[float]] = field(default_factory=list)
    init_growth_h: list[float] = field(default_factory=list)
    init_growth_c: list[float] = field(default_factory=list)
    init_jac_radius: list[float] = field(default_factory=list)
    init_jac_sigma: list[float] = field(default_factory=list)
    init_memory_horizon: list[float] = field(default_factory=list)
    init_grad_lag: list[list[float]] = field(default_factory=list)
    init_saturation: list[dict[str, float]] = field(default_factory=list)
    init_forget_timescale: list[float] = field(default_factory=list)
    init_culprits: list[list[dict[str, float]]] = field(default_factory=list)
    trained_nonfinite_frac: list[float] = field(default_factory=list)
    trained_first_nonfinite: list[int] = field(default_factory=list)
    trained_growth_h: list[float] = field(default_factory=list)
    trained_growth_c: list[float] = field(default_factory=list)
    trained_jac_radius: list[float] = field(default_factory=list)
    trained_jac_sigma: list[float] = field(default_factory=list)
    trained_memory_horizon: list[float] = field(default_factory=list)
    trained_saturation: list[dict[str, float]] = field(default_factory=list)
    trained_forget_timescale: list[float] = field(default_factory=list)
    trained_culprits: list[list[dict[str, float]]] = field(default_factory=list)
    loss_curve: list[float] = field(default_factory=list)
    val_curve: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    floor_name: str = "Bayes floor"
    stopped_step: int = -1
    stopped_reason: str = ""
    test_mse_channels: list[float] = field(default_factory=list)
    bayes_channels: list[float] = field(default_factory=list)
    persistence_channels: list[float] = field(default_factory=list)
    chunk_wall_s: float = math.nan
    chunk_runs: int = 0
    chunk_phase_s: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A strict-JSON dict (non-finite numbers as None)."""
        return strict(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: Any) -> RunRecord:
        """Parse and check a stored record; ``ValueError`` names the first bad field."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = [f.name for f in FIELDS if f.name not in data and _required(f)]
        if missing:
            raise ValueError(f"missing field {missing[0]!r}")
        values = {}
        for f in FIELDS:
            if f.name in data:
                values[f.name] = _coerce(f.name, HINTS[f.name], data[f.name])
        lr = values.get("lr")
        if lr is not None and not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"field 'lr': expected a finite learning rate > 0, got {lr!r}")
        return cls(**values)

    def row(self) -> dict[str, Any]:
        """One row of the run table: every field but ``config``, whose entries become
        ``cfg.<name>`` columns (the strategy's settings ``cfg.settings.<name>``), except those
        already columns (arm, strategy, dataset, lr, seed, profile), and ``chunk_phase_s``,
        whose entries become ``chunk_phase_s.<phase>`` columns."""
        row = {f.name: getattr(self, f.name) for f in FIELDS
               if f.name not in ("config", "chunk_phase_s")}
        row.update({f"chunk_phase_s.{k}": v for k, v in self.chunk_phase_s.items()})
        for k, v in self.config.items():
            if k in ("strategy", "dataset", "lr", "seed", "profile", "arm"):
                continue
            if k == "settings" and isinstance(v, dict):
                row.update({f"cfg.settings.{n}": sv for n, sv in v.items()})
            else:
                row[f"cfg.{k}"] = v
        return row


FIELDS = dataclasses.fields(RunRecord)
HINTS = typing.get_type_hints(RunRecord)
COLUMNS = tuple(f.name for f in FIELDS)


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """``value`` as the field's type; null → NaN in float positions."""
    kind = typing.get_origin(hint) or hint  # float, int, bool, str, dict or list
    try:
        if kind is float:
            return math.nan if value is None else float(value)
        if kind is int:
            if isinstance(value, bool) or int(value) != value:
                raise ValueError
            return int(value)
        if not isinstance(value, kind):
            raise ValueError
        if kind is list:
            return [_coerce(name, typing.get_args(hint)[0], v) for v in value]
        if kind is dict and typing.get_args(hint)[1:] == (float,):  # null → NaN in the values
            return {k: _coerce(name, float, v) for k, v in value.items()}
        return value
    except (TypeError, ValueError):
        raise ValueError(f"field {name!r}: {value!r} is not a {hint}") from None


def strict(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None, recursively (tuples become lists),
    numpy scalars as Python numbers: what strict JSON can hold."""
    if isinstance(obj, dict):
        return {str(k): strict(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [strict(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, str):  # numpy arrays and scalars
        return strict(obj.tolist())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    return obj


def dumps(obj: Any) -> bytes:
    """Strict, pretty, sorted JSON (``null`` for non-finite numbers; never ``NaN``)."""
    return json.dumps(strict(obj), indent=1, sort_keys=True, allow_nan=False,
                      default=str).encode()
