"""The sweep: strategies × datasets × learning rates × seeds, resumable, one program per chunk.

Follow one sweep: :func:`run_sweep` validates the spec, :func:`plan` cuts each strategy ×
dataset grid into a fixed partition of chunks of at most ``max_runs`` runs and keeps the chunks
with a missing record, an executor (:func:`local_executor`, or :mod:`bench.ray_executor`) runs
each chunk with :func:`execute` → :func:`run_chunk` (one compiled program, :mod:`bench.train`),
and every record (:class:`bench.record.RunRecord`, tagged with the spec's ``sweep_id``) is written
to the store (:mod:`bench.store`) as its chunk finishes; :mod:`bench.report` then reads the
records of that sweep id. Several sweeps on one results directory split the work: each chunk is
claimed (:mod:`bench.claims`) by the process that trains it. The data are drawn once per dataset
with fixed seeds (they are part of the benchmark); the run seed varies initialisation, batch
order and dropout. A broken strategy is recorded in ``failures.json`` and the sweep goes on.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import platform
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from tqdm import tqdm

from bench import data as datasets
from bench import diagnostics, faults, model, timing, train
from bench.claims import Claims, chunk_id
from bench.config import (
    COLLAPSE_GAP,
    DEFAULT_LRS,
    ENGINE_VERSION,
    EXTENSION_LRS,
    PER_RUN,
    RunConfig,
    canonical_profile,
    resolve,
)
from bench.errors import ConfigError, PluginError, one_line
from bench.record import RunRecord
from bench.registry import Strategy, controls, get_strategy, select
from bench.store import Store, write_json

# Fixed data seeds: every run of a dataset sees the same training pool, validation, test and
# init sequences; the four are independent draws of the process (disjoint sets of sequences).
TRAIN_DATA_SEED, TEST_DATA_SEED, INIT_DATA_SEED, VAL_DATA_SEED = 10_000, 20_000, 30_000, 40_000
# the diagnostics of bench.diagnostics a record keeps after training too (all of them at init)
TRAINED_DIAGNOSTICS = ("growth_h", "growth_c", "jac_radius", "jac_sigma", "memory_horizon",
                       "saturation", "forget_timescale", "culprits")
READOUT_KEY = 2  # the readout head's key: fold_in(PRNGKey(seed), READOUT_KEY), any strategy
# runs.parquet is rewritten at most this often while a sweep runs (and always at its end): the
# records are the truth, the table a convenience, and rewriting it after every chunk of a long
# sweep costs more than the chunk's own store
TABLE_EVERY_S = 20.0


@dataclass(frozen=True)
class SweepSpec:
    """What to run.

    ``overrides`` are :class:`RunConfig` fields applied to every run; ``arms`` maps an arm's
    name to the options that make it (every strategy runs in every arm; see
    :data:`bench.config.ARMS`); ``settings`` maps a strategy name to overrides of that
    strategy's own settings (``{"chrono": {"t_max": 64}}``); ``extend``: a strategy usable at
    every LR run so far is run at the next of :data:`bench.config.EXTENSION_LRS`, until it is
    not (or none is left); ``controls``: add ``glorot`` on every other architecture a strategy
    uses (:func:`bench.registry.controls`); ``runs_axis`` is how a chunk's runs are mapped
    (``auto``, ``map`` or ``vmap``, see :mod:`bench.train`): it changes speed, not the numbers
    beyond float rounding; ``share``: strategies of one architecture train in shared chunks
    (:func:`program_groups`), which under ``map`` leaves every number unchanged, bit for bit,
    and under ``vmap`` changes it within float rounding (the width of the batched program).
    """

    profile: str = "quick"
    strategies: str = "all"
    datasets: tuple[str, ...] = ("ar1",)
    lrs: tuple[float, ...] = DEFAULT_LRS
    seeds: int = 3
    overrides: dict[str, Any] = field(default_factory=dict)
    arms: dict[str, dict[str, Any]] = field(default_factory=lambda: {"default": {}})
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    extend: bool = True
    controls: bool = True
    max_runs: int = 64
    runs_axis: str = "auto"
    share: bool = True

    @property
    def sweep_id(self) -> str:
        """Identity of the protocol every run of this sweep shares (profile, overrides, arms,
        strategy settings, engine version). Records carry it, so a report selects a sweep's
        records by it; sweeps that differ only in strategies, datasets, LRs or seeds share it,
        and their common runs are computed once."""
        blob = json.dumps({"profile": canonical_profile(self.profile),
                           "overrides": self.overrides, "settings": self.settings,
                           "arms": self.arms, "engine": ENGINE_VERSION},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def configs(self, strategy: Strategy, dataset: str, arm: str,
                lrs: Sequence[float] | None = None) -> list[RunConfig]:
        """Resolved configs of one strategy × dataset × arm, LR-major (``lrs``: the grid)."""
        settings = strategy.settings(self.settings.get(strategy.name))
        channels = datasets.get(dataset).channels  # a real series fixes the width
        options = {**self.overrides, **self.arms[arm],
                   **({"channels": channels} if channels else {})}
        return [resolve(self.profile, strategy=strategy.name, strategy_code=strategy.code_hash,
                        settings=settings, dataset=dataset, lr=lr, seed=s, arm=arm, **options)
                for lr in (self.lrs if lrs is None else lrs) for s in range(self.seeds)]

    def validate(self) -> None:
        """Raise :class:`bench.errors.ConfigError` on the first bad value, before anything
        runs (its ``setting`` names the spec field: seeds, lrs, datasets, ...)."""
        if self.seeds < 1:
            raise ConfigError("seeds", f"seeds must be >= 1, got {self.seeds}")
        if not self.lrs:
            raise ConfigError("lrs", "no learning rate given")
        for lr in self.lrs:
            if not (lr > 0 and math.isfinite(lr)):
                raise ConfigError("lrs", f"learning rate must be finite and > 0, got {lr}")
        if not self.datasets:
            raise ConfigError("datasets", "no dataset given")
        if not [n for n in self.strategies.split(",") if n.strip()]:
            raise ConfigError("strategies", "no strategy given")
        per_run = set(PER_RUN) & set(self.overrides)
        if per_run:
            name = sorted(per_run)[0]
            raise ConfigError(name, f"{name} is set per run by the sweep, not as an override")
        if not self.arms:
            raise ConfigError("arms", "no arm given")
        for arm, options in self.arms.items():
            bad = sorted((set(PER_RUN) & set(options)) | (set(self.overrides) & set(options)))
            if bad:
                raise ConfigError("arms", f"arm {arm!r} sets {bad[0]}, which is "
                                  + ("set per run" if bad[0] in PER_RUN else "also overridden"))
            resolve(self.profile, **self.overrides, **options)  # bad names or values raise
        known, broken = datasets.discover()
        for d in self.datasets:
            if d in broken:
                raise ConfigError("datasets", f"dataset {d!r} is broken: {broken[d]}")
            if d not in known:
                raise ConfigError("datasets", f"unknown dataset {d!r}; choose from "
                                  f"{', '.join(sorted(known))}")
        if self.max_runs < 1:
            raise ConfigError("max_runs", f"max_runs must be >= 1, got {self.max_runs}")
        try:
            train.check_runs_axis(self.runs_axis)
        except ValueError as e:
            raise ConfigError("runs_axis", str(e)) from None
        resolve(self.profile, **self.overrides)  # unknown profile or option names raise here
        for name, overrides in self.settings.items():
            try:
                strategy = get_strategy(name)
            except ConfigError as e:
                raise ConfigError(f"{name}.settings", f"strategy settings: {e}") from None
            strategy.settings(overrides)  # an unknown or bad setting raises here


def pooled_variance(x: np.ndarray) -> float:
    """The mean over channels of the variance of ``x[:, 1:]`` (the targets of one-step
    prediction): the MSE of the best constant predictor on ``x``."""
    return float(np.mean(np.var(x[:, 1:].reshape(-1, x.shape[-1]), axis=0, dtype=np.float64)))


@dataclass
class DataBundle:
    """Everything one dataset contributes to a run: four independent draws of a process, or
    the parts of a real series split in time (:meth:`from_series`)."""

    pool: np.ndarray  # (train_sequences, 4·window + 1, C) training pool
    val_x: np.ndarray  # (val_sequences, val_length, C): LR choice and validation curves
    test_x: np.ndarray  # (test_sequences, test_length, C): every reported number
    init_x: np.ndarray  # (init_sequences, init_length, C) for the forward pass at init
    test_variance: float  # the test data's own variance (best constant predictor's MSE)
    channel_floors: dict[str, np.ndarray]  # variance, bayes, persistence per channel, each (C,)
    floor_name: str = "Bayes floor"  # what the "bayes" floor is

    @property
    def floors(self) -> dict[str, float]:
        """The channel means of :attr:`channel_floors`."""
        return {k: float(np.mean(v)) for k, v in self.channel_floors.items()}

    @classmethod
    def build(cls, cfg: RunConfig) -> DataBundle:
        """Draw the data ``cfg`` asks for."""
        if datasets.get(cfg.dataset).kind == "series":
            return cls.from_series(cfg)
        def gen(n: int, t: int, s: int) -> np.ndarray:
            return datasets.generate(cfg.dataset, n, t, cfg.channels, s, cfg.data_scale)

        test_x = gen(cfg.test_sequences, cfg.test_length, TEST_DATA_SEED)
        fl = datasets.floors(cfg.dataset, cfg.channels, cfg.data_scale)
        return cls(
            pool=gen(cfg.train_sequences, 4 * cfg.window + 1, TRAIN_DATA_SEED),
            val_x=gen(cfg.val_sequences, cfg.val_length, VAL_DATA_SEED),
            test_x=test_x,
            init_x=gen(cfg.init_sequences, cfg.init_length, INIT_DATA_SEED),
            channel_floors={"variance": fl.variance, "bayes": fl.bayes,
                            "persistence": fl.persistence},
            test_variance=pooled_variance(test_x),
        )


    @classmethod
    def from_series(cls, cfg: RunConfig) -> DataBundle:
        """A real series (:mod:`bench.series`): split in time into train / validation / test
        (standardised on train, times ``data_scale`` like the synthetic data), the training
        pool = ``train_sequences`` random windows of the training part, validation and test =
        their whole parts as one sequence each, the pass at init over the whole series. The
        "bayes" floor is the test MSE of the AR(p) baseline fitted on the training part (order
        by AIC); persistence and variance are measured on the test part."""
        from bench import series

        ds = datasets.get(cfg.dataset)
        sp = series.split(np.asarray(ds.module.series(), dtype=np.float64))
        base = series.ar_baseline(sp, max_lag=int(getattr(ds.module, "AR_MAX_LAG", 24)))
        k = float(cfg.data_scale) ** 2
        rng = np.random.default_rng(TRAIN_DATA_SEED)
        scaled = {name: getattr(sp, name) * cfg.data_scale for name in ("train", "val", "test")}
        pool = series.windows(scaled["train"], cfg.train_sequences, 4 * cfg.window + 1, rng)
        per = {"variance": series.variance(sp.test) * k, "bayes": base.test_mse * k,
               "persistence": series.persistence_mse(sp.test) * k}
        orders = sorted(set(base.lags))
        name = "AR({}) baseline".format(",".join(str(p) for p in orders))
        f32 = np.float32
        return cls(pool=pool.astype(f32), val_x=scaled["val"][None].astype(f32),
                   test_x=scaled["test"][None].astype(f32),
                   init_x=np.concatenate([scaled["train"], scaled["val"],
                                          scaled["test"]])[None].astype(f32),
                   test_variance=float(np.mean(per["variance"])), channel_floors=per,
                   floor_name=name)


def environment() -> dict[str, Any]:
    """Versions and device, stored with the results."""
    import optax

    dev = jax.devices()[0]
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, cwd=Path(__file__).parent).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "python": sys.version.split()[0],
        "jax": jax.__version__,
        "optax": optax.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')}",
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "git_commit": commit,
    }


def _describe_failure(strategy: str, e: BaseException) -> str:
    """One line: the strategy's file and the problem."""
    if isinstance(e, PluginError):
        return str(e)
    return f"{strategy}: {type(e).__name__}: {one_line(e)}"


def _thin(curve: np.ndarray, points: int) -> list[float]:
    """Block means of a loss curve, ``points`` blocks."""
    n = len(curve) // points * points if len(curve) >= points else len(curve)
    blocks = curve[:n].reshape(min(points, n), -1)
    return [float(v) for v in np.mean(blocks, axis=1)]


@dataclass(frozen=True)
class Job:
    """The unit of execution: one fixed chunk of runs, trained as one compiled program. Its runs
    share the dataset, the arm and the architecture; they may come from several strategies (the
    strategy is then part of the run axis, like the learning rate and the seed)."""

    configs: tuple[RunConfig, ...]
    sweep_id: str = ""
    runs_axis: str = "auto"

    @property
    def strategies(self) -> tuple[str, ...]:
        """The strategies of the chunk's runs, in run order."""
        return tuple(dict.fromkeys(c.strategy for c in self.configs))

    @property
    def label(self) -> str:
        """``arm/dataset/strategy[+strategy...]`` for progress bars and logs."""
        c = self.configs[0]
        return f"{c.arm}/{c.dataset}/{'+'.join(self.strategies)}"


class StrategyFailed(Exception):
    """One strategy of a chunk failed (building its parameters): only it is to blame, and the
    chunk's other runs are planned again without it."""

    def __init__(self, strategy: str, cause: BaseException) -> None:
        super().__init__(strategy, cause)  # both in args: the exception pickles (Ray)
        self.strategy, self.cause = strategy, cause

    def __str__(self) -> str:
        return f"{self.strategy}: {self.cause}"


def blamed(job: Job, error: BaseException) -> tuple[tuple[str, ...], BaseException]:
    """The strategies a failed job's ``error`` is charged to, and the error to report: the one
    strategy of a :class:`StrategyFailed`, else every strategy of the job."""
    if isinstance(error, StrategyFailed):
        return (error.strategy,), error.cause
    return job.strategies, error


def _init_of(cfg: RunConfig) -> tuple[str, int]:
    """The initial parameters a run starts from: its strategy's, for its seed."""
    return cfg.strategy, cfg.seed


def _strategy(name: str) -> Strategy:
    try:
        return get_strategy(name)
    except Exception as e:  # a strategy that cannot be loaded fails alone
        raise StrategyFailed(name, e) from e


def run_chunk(job: Job, bundle: DataBundle,
              progress: Callable[[int], None] | None = None) -> list[RunRecord]:
    """Train the job's runs (same dataset, recipe and architecture; one or more strategies)
    together; return their records. A strategy whose parameters cannot be built raises
    :class:`StrategyFailed` naming it."""
    t0 = time.perf_counter()
    clock = timing.Phases()
    configs = job.configs
    cfg0 = configs[0]
    axis = train.check_runs_axis(job.runs_axis)
    strategies = {name: _strategy(name) for name in job.strategies}
    arch = train.Arch.of(cfg0, **strategies[cfg0.strategy].nonlinearities())
    recipe = train.Recipe.of(cfg0)
    data_batch = bundle.pool[: cfg0.batch_size, : cfg0.window]
    inits: dict[tuple[str, int], Any] = {}  # (strategy, seed) -> initial parameters
    with clock.phase("init_params"):
        for cfg in configs:
            if _init_of(cfg) not in inits:
                try:
                    params = strategies[cfg.strategy].init_params(jax.random.PRNGKey(cfg.seed),
                                                                  cfg, data_batch)
                except Exception as e:
                    raise StrategyFailed(cfg.strategy, e) from e
                if arch.readout:  # the same head for every strategy: a key of the seed alone
                    head_key = jax.random.fold_in(jax.random.PRNGKey(cfg.seed), READOUT_KEY)
                    params = [*params, model.readout_head(head_key, cfg.channels)]
                inits[_init_of(cfg)] = params
        # in the layout the programs give back (train.place_runs): each compiles once
        state = train.place_runs(train.initial_state(inits, configs, init_of=_init_of), axis)
        init_keys = list(inits)  # the order of init_params' leading axis
        init_params = train.stack_runs(list(inits.values()))
        # packed, as the trained parameters are: the diagnostics and evaluation programs
        # compiled for one serve the other
        init_packed = train.place_runs(model.pack_stack(init_params), axis)
        jax.block_until_ready((state, init_packed))
    init_x = jnp.asarray(bundle.init_x)
    with clock.phase("init_diagnostics"):
        dyn = jax.device_get(diagnostics.dynamics(init_packed, init_x, arch=arch, axis=axis))
        diag = dyn["stats"]
        host_params = jax.device_get(init_params)
        init_dyn = [diagnostics.summarize(dyn, host_params, init_x.shape[1], k)
                    for k in range(len(init_keys))]
    test_x, val_x = jnp.asarray(bundle.test_x), jnp.asarray(bundle.val_x)
    test_group = train.eval_group_size(len(configs), test_x.shape, cfg0.hidden, axis)
    val_group = train.eval_group_size(len(configs), val_x.shape, cfg0.hidden, axis)

    def mse(params: Any, x: jax.Array, group: int) -> np.ndarray:  # pooled over channels
        return channel_mse(params, x, group).mean(axis=1)

    def channel_mse(params: Any, x: jax.Array, group: int) -> np.ndarray:  # (runs, C)
        return np.asarray(train.eval_mse(params, x, arch=arch, group=group, axis=axis),
                          np.float64)

    with clock.phase("test"):
        test_init = mse(init_packed, test_x, test_group)
    with clock.phase("validation"):
        val_init = mse(init_packed, val_x, val_group)
    pool = jnp.asarray(bundle.pool)
    losses, val_curve, val_steps, done = [], [], [], 0
    stop = Stopping(configs, bundle)
    while done < cfg0.steps:
        n = min(cfg0.val_every, cfg0.steps - done)
        with clock.phase("train"):
            state, loss = _train_active(state, pool, done, stop.active, arch=arch,
                                        recipe=recipe, n_steps=n, axis=axis)
            losses.append(loss)
        if done == 0:
            faults.check("mid-chunk")
        done += n
        with clock.phase("validation"):  # no dropout: arch.forward
            val_curve.append(mse(state["params"], val_x, val_group))
        val_steps.append(done)
        stop.update(done, val_curve[-1], np.asarray(state["diverged"]))
        if progress:
            progress(n)
    loss = np.concatenate(losses, axis=1)
    val = np.stack(val_curve, axis=1)  # (runs, points)
    with clock.phase("test"):
        test_channels = channel_mse(state["params"], test_x, test_group)
        test = test_channels.mean(axis=1)
    best = [i for name in job.strategies
            for i in _chunk_best(configs, val[:, -1], np.asarray(state["diverged"]), name)]
    trained: dict = {}
    after: dict[int, dict] = {}
    with clock.phase("trained_diagnostics"):  # the same pass on the trained weights, best LR
        if best:
            chosen = train.place_runs(train.take_runs(state["params"], np.asarray(best)),
                                      axis)
            dyn = jax.device_get(diagnostics.dynamics(chosen, init_x, arch=arch, axis=axis))
            trained = dyn["stats"]
            host_params = jax.device_get(chosen)
            after = {i: diagnostics.summarize(dyn, host_params, init_x.shape[1], k)
                     for k, i in enumerate(best)}
    diverged = np.asarray(state["diverged"])
    div_step = np.asarray(state["diverged_step"])
    wall = time.perf_counter() - t0
    phases = {k: round(v, 4) for k, v in clock.seconds.items()}
    fl = bundle.floors
    records = []
    for i, cfg in enumerate(configs):
        si = init_keys.index(_init_of(cfg))
        curve = loss[i].copy()
        if diverged[i]:
            curve[div_step[i]:] = np.nan
        records.append(RunRecord(
            key=cfg.key(), sweep_id=job.sweep_id, arm=cfg.arm, strategy=cfg.strategy,
            dataset=cfg.dataset, profile=cfg.profile, lr=cfg.lr, seed=cfg.seed,
            config=cfg.to_dict(),
            init_nonfinite_frac=[float(v) for v in diag["nonfinite_frac"][si]],
            init_first_nonfinite=[int(v) for v in diag["first_nonfinite"][si]],
            init_max_h=[float(v) for v in diag["max_h"][si]],
            init_max_c=[float(v) for v in diag["max_c"][si]],
            init_h_trace=[[float(v) for v in layer] for layer in diag["h_trace"][si]],
            **{f"init_{k}": v for k, v in init_dyn[si].items()},
            **_trained_fields(after.get(i), trained, best.index(i) if i in best else None),
            loss_curve=_thin(curve, cfg.curve_points),
            diverged=bool(diverged[i]), diverged_step=int(div_step[i]),
            val_mse_init=float(val_init[si]), val_mse=float(val[i, -1]),
            val_curve=[float(v) for v in val[i]], val_steps=list(val_steps),
            test_mse_init=float(test_init[si]), test_mse=float(test[i]),
            test_mse_channels=[float(v) for v in test_channels[i]],
            bayes_channels=[float(v) for v in bundle.channel_floors["bayes"]],
            persistence_channels=[float(v) for v in bundle.channel_floors["persistence"]],
            variance=fl["variance"], test_variance=bundle.test_variance,
            floor_name=bundle.floor_name,
            stopped_step=int(stop.step[i]), stopped_reason=stop.reason[i],
            bayes_mse=fl["bayes"], persistence_mse=fl["persistence"],
            chunk_wall_s=wall, chunk_runs=len(configs), chunk_phase_s=phases,
        ))
    return records


class Stopping:
    """Which runs of a chunk still train. After each validation point a run stops costing
    compute (:func:`_train_active`) when it has diverged (its parameters are frozen anyway), or
    when it has *collapsed*: its validation MSE has stayed at the mean predictor's, closing less
    than :data:`bench.config.COLLAPSE_GAP` of the gap between the validation data's variance
    and the floor, for ``stop_collapsed`` of its validation points in a row (at least one).
    A stopped run keeps its parameters: its later validation points and its test MSE are
    those of the parameters it stopped with. ``step`` and ``reason`` say when and why (-1 and
    "" for a run that trained to its budget)."""

    def __init__(self, configs: Sequence[RunConfig], bundle: DataBundle) -> None:
        cfg = configs[0]
        n = len(configs)
        points = math.ceil(cfg.steps / cfg.val_every)
        self.patience = [max(1, math.ceil(c.stop_collapsed * points)) if c.stop_collapsed
                         else 0 for c in configs]
        var = pooled_variance(bundle.val_x)
        self.at_mean = var - COLLAPSE_GAP * (var - bundle.floors["bayes"])
        self.step = np.full(n, -1)
        self.reason = [""] * n
        self.flat = np.zeros(n, int)  # validation points at the mean predictor in a row

    @property
    def active(self) -> np.ndarray:
        """(runs,) bool: the runs still training."""
        return self.step < 0

    def update(self, done: int, val: np.ndarray, diverged: np.ndarray) -> None:
        """Take the validation point after ``done`` steps (``val``: (runs,) MSE)."""
        self.flat = np.where(np.asarray(val) >= self.at_mean, self.flat + 1, 0)
        for i in np.flatnonzero(self.active):
            if diverged[i]:
                self.step[i], self.reason[i] = done, "diverged"
            elif self.patience[i] and self.flat[i] >= self.patience[i]:
                self.step[i], self.reason[i] = done, "collapsed"


def _train_active(state: dict, pool: jax.Array, done: int, active: np.ndarray, *,
                  arch: train.Arch, recipe: train.Recipe, n_steps: int,
                  axis: str) -> tuple[dict, np.ndarray]:
    """:func:`bench.train.train_steps` for the ``active`` runs only; the others keep their
    state and get NaN losses. Under ``map`` the stopped runs are skipped inside the program (no
    new program). Under ``vmap``, where a skipped run would still be computed, the active runs
    are gathered into a program of ceil(R / 2^k) runs, the smallest such width that holds them
    (padded with copies of the last), so a chunk compiles at most log2(R) extra programs; with
    none active nothing runs."""
    n_runs = len(active)
    idx = np.flatnonzero(active)
    if axis == "vmap" and idx.size < n_runs:
        if idx.size == 0:
            return state, np.full((n_runs, n_steps), np.nan, np.float32)
        width = n_runs
        while math.ceil(width / 2) >= idx.size and width > 1:
            width = math.ceil(width / 2)
        if width < n_runs:
            take = np.concatenate([idx, np.repeat(idx[-1:], width - idx.size)])
            sub = train.take_runs(state, take)
            sub, sub_loss = train.train_steps(sub, pool, jnp.int32(done),
                                              jnp.ones(width, bool), arch=arch, recipe=recipe,
                                              n_steps=n_steps, axis=axis)
            state = jax.tree.map(lambda a, b: a.at[idx].set(b[: idx.size]), state, sub)
            loss = np.full((n_runs, n_steps), np.nan, np.float32)
            loss[idx] = np.asarray(sub_loss)[: idx.size]
            return state, loss
    state, loss = train.train_steps(state, pool, jnp.int32(done), jnp.asarray(active),
                                    arch=arch, recipe=recipe, n_steps=n_steps, axis=axis)
    return state, np.asarray(loss)


def _chunk_best(configs: Sequence[RunConfig], val: np.ndarray, diverged: np.ndarray,
                strategy: str) -> list[int]:
    """Indices of the chunk's runs of ``strategy`` at its best LR by the rule of ``best_lr``
    (:func:`bench.metrics._select.at_best_lr`): among the LRs whose every run is finite, the
    one with the smallest median final validation MSE (the smaller LR on a tie); none if no LR
    qualifies. The trained-weights diagnostics run on these runs only."""
    mine = [i for i, c in enumerate(configs) if c.strategy == strategy]
    lrs = sorted({configs[i].lr for i in mine})
    best, best_val = None, np.inf
    for lr in lrs:
        idx = [i for i in mine if configs[i].lr == lr]
        v = val[idx]
        if diverged[idx].any() or not np.isfinite(v).all():
            continue
        m = float(np.median(v))
        if m < best_val:
            best, best_val = lr, m
    return [] if best is None else [i for i in mine if configs[i].lr == best]


def _trained_fields(summary: dict | None, stats: dict, k: int | None) -> dict[str, Any]:
    """The ``trained_*`` record fields of one run: empty unless the run is at its chunk's best
    LR (``k``: its index among those runs)."""
    if summary is None or k is None:
        return {}
    return {"trained_nonfinite_frac": [float(v) for v in stats["nonfinite_frac"][k]],
            "trained_first_nonfinite": [int(v) for v in stats["first_nonfinite"][k]],
            **{f"trained_{name}": summary[name] for name in TRAINED_DIAGNOSTICS}}


def _edge_not_found(records: Sequence[RunRecord]) -> bool:
    """The largest usable LR of these runs (one cell) is the largest LR run: the definitions
    of :func:`bench.summary.run_flags` and :func:`bench.summary.usable_edge`."""
    from bench.summary import run_flags, usable_edge

    flags = run_flags(pd.DataFrame([r.row() for r in records]))
    per_lr = flags.groupby("lr", sort=True)["usable"].all()
    return usable_edge(per_lr.to_numpy())[1]


def grid(spec: SweepSpec, strategy: Strategy, dataset: str, arm: str,
         store: Store) -> list[list[RunConfig]]:
    """The LR grid of one strategy × dataset × arm as segments of configs: the spec's LRs, then
    (with ``extend``) each next :data:`bench.config.EXTENSION_LRS` above them while the runs so
    far are all stored and their largest usable LR is the largest LR run (the edge is not
    found yet)."""
    return _grid(spec, strategy, dataset, arm, store)[0]


def _grid(spec: SweepSpec, strategy: Strategy, dataset: str, arm: str,
          store: Store) -> tuple[list[list[RunConfig]], bool]:
    """:func:`grid`, and whether it may still grow (a next extension LR waits on runs that
    are not stored yet)."""
    segments = [spec.configs(strategy, dataset, arm)]
    top = max(spec.lrs)
    for lr in (v for v in EXTENSION_LRS if v > top) if spec.extend else ():
        records = [store.load(c.key()) for seg in segments for c in seg]
        if any(r is None for r in records):
            return segments, True
        if not _edge_not_found(records):  # type: ignore[arg-type]
            break
        segments.append(spec.configs(strategy, dataset, arm, lrs=(lr,)))
    return segments, False


def pack(segments: Sequence[Sequence[RunConfig]], max_runs: int) -> list[tuple[RunConfig, ...]]:
    """Segments (one strategy's LR × seed grid each) in order into chunks of at most ``max_runs``
    runs: a segment joins the current chunk if it fits whole, else starts the next one; a
    segment longer than ``max_runs`` is cut into pieces of ``max_runs`` first. A strategy's
    grid is so split only when it alone exceeds ``max_runs``."""
    chunks: list[tuple[RunConfig, ...]] = []
    current: list[RunConfig] = []
    for segment in segments:
        for i in range(0, len(segment), max_runs):
            piece = segment[i: i + max_runs]
            if current and len(current) + len(piece) > max_runs:
                chunks.append(tuple(current))
                current = []
            current.extend(piece)
    if current:
        chunks.append(tuple(current))
    return chunks


def program_groups(strategies: Sequence[Strategy], share: bool = True) -> list[list[Strategy]]:
    """The strategies that train in shared programs: those of one architecture (nonlinearities,
    peepholes; :func:`bench.registry.architecture`), in order of first appearance; each alone
    without ``share``. A strategy that cannot build its architecture is alone."""
    groups: dict[Any, list[Strategy]] = {}
    for s in strategies:
        groups.setdefault(_architecture(s.name) if share else s.name, []).append(s)
    return list(groups.values())


def chunks(spec: SweepSpec, group: Sequence[Strategy], dataset: str, arm: str,
           store: Store) -> list[tuple[RunConfig, ...]]:
    """The fixed chunks of one :func:`program_groups` group on one dataset and arm: the spec's
    grids of every strategy :func:`pack`-ed together, then each extension LR's segments packed
    together once every strategy of the group has its runs below it stored (so the partition
    does not depend on the order in which chunks finish)."""
    levels = [_grid(spec, s, dataset, arm, store) for s in group]
    out: list[tuple[RunConfig, ...]] = []
    for k in range(max(len(segments) for segments, _ in levels)):
        if any(pending and len(segments) == k for segments, pending in levels):
            break  # a strategy of the group may still join this level
        out += pack([segments[k] for segments, _ in levels if len(segments) > k], spec.max_runs)
    return out


def plan(spec: SweepSpec, strategies: Sequence[Strategy], store: Store) -> tuple[list[Job], int]:
    """The jobs still to run, and how many runs are already done.

    The grids (:func:`grid`) of each arm × dataset × group of strategies sharing an
    architecture (:func:`program_groups`) are cut into a *fixed* partition of chunks of at most
    ``max_runs`` runs (:func:`chunks`); a chunk with any missing run is rerun whole, so a
    resumed sweep computes every number in the same program as an uninterrupted one (identical,
    not just close). Extension LRs appear once the runs below them are stored, so
    :func:`run_sweep` plans again until nothing is left.
    """
    jobs, done = [], 0
    for arm in spec.arms:
        for dataset in spec.datasets:
            for group in program_groups(strategies, spec.share):
                for chunk in chunks(spec, group, dataset, arm, store):
                    if all(store.has(c.key()) for c in chunk):
                        done += len(chunk)
                    else:
                        jobs.append(Job(chunk, spec.sweep_id, spec.runs_axis))
    return jobs, done


@functools.lru_cache(maxsize=4)
def _bundle(cfg: RunConfig) -> DataBundle:
    return DataBundle.build(cfg)


def data_bundle(cfg: RunConfig) -> DataBundle:
    """The data of ``cfg`` (cached on the fields that determine it)."""
    fields = ("dataset", "channels", "data_scale", "train_sequences", "window",
              "val_sequences", "val_length", "test_sequences", "test_length", "init_sequences",
              "init_length")
    return _bundle(resolve("quick", **{f: getattr(cfg, f) for f in fields}))


def execute(job: Job, progress: Callable[[int], None] | None = None) -> list[RunRecord]:
    """Run one job anywhere (this process, or a Ray worker); return its records."""
    return run_chunk(job, data_bundle(job.configs[0]), progress)


Outcome = tuple[Job, list[RunRecord] | BaseException]
Claim = Callable[[Job], bool]


class ClaimedElsewhere(Exception):
    """The outcome of a job that another process is training (its claim was held)."""


def job_id(job: Job) -> str:
    """The claim id of a job's chunk (:func:`bench.claims.chunk_id` of its run keys)."""
    return chunk_id(c.key() for c in job.configs)


def local_executor(jobs: Sequence[Job], progress: bool = True,
                   workers: int = 1, claim: Claim | None = None) -> Iterator[Outcome]:
    """Run jobs in this process and yield their outcomes as they finish.

    With ``workers`` = 1 the jobs run one after the other, a tqdm bar per strategy × dataset.
    With more, each worker is a thread with its own JAX device (:func:`worker_devices`; on a CPU
    one core each, see :mod:`bench.devices`): a chunk's compiled program runs on one device and
    releases the GIL, so the workers train side by side. :func:`assign` deals the jobs so that
    each compiled program is built by one worker only. After a job of a strategy fails, the
    strategy's remaining jobs are skipped. The numbers do not depend on ``workers``. A job whose
    ``claim`` fails (another process trains it) yields :class:`ClaimedElsewhere`, untrained.
    """
    if workers <= 1:
        yield from _serial(jobs, progress, claim)
        return
    failed: set[str] = set()
    stop = threading.Event()  # the consumer has gone (an error while storing): start no new job
    done: queue.Queue = queue.Queue()
    bar = tqdm(total=sum(j.configs[0].steps for j in jobs), unit="step", leave=True,
               desc=f"{len(jobs)} chunks on {workers} workers", disable=not progress,
               file=sys.stderr)
    lock = threading.Lock()

    def tick(n: int) -> None:
        with lock:
            bar.update(n)

    def work(device: Any, share: list[Job]) -> None:
        with jax.default_device(device):
            for job in share:
                if stop.is_set():
                    break
                if failed.intersection(job.strategies):
                    continue  # planned again without the failed strategy
                if claim is not None and not claim(job):
                    done.put((job, ClaimedElsewhere(job.label)))
                    tick(job.configs[0].steps)
                    continue
                try:
                    done.put((job, execute(job, tick)))
                except Exception as e:  # one broken strategy never takes the others down
                    failed.update(blamed(job, e)[0])
                    done.put((job, e))
        done.put(None)

    shares = assign(jobs, workers)
    threads = [threading.Thread(target=work, args=(d, share), daemon=True)
               for d, share in zip(worker_devices(workers), shares, strict=True)]
    for t in threads:
        t.start()
    try:
        finished = 0
        while finished < len(threads):
            item = done.get()
            if item is None:
                finished += 1
            else:
                yield item
    finally:
        stop.set()
        bar.close()


def _serial(jobs: Sequence[Job], progress: bool, claim: Claim | None = None
            ) -> Iterator[Outcome]:
    failed: set[str] = set()
    for label in dict.fromkeys(j.label for j in jobs):
        group = [j for j in jobs if j.label == label]
        n_runs = sum(len(j.configs) for j in group)
        bar = tqdm(total=sum(j.configs[0].steps for j in group), unit="step", leave=True,
                   desc=f"{label} ({n_runs} runs)", disable=not progress, file=sys.stderr)
        try:
            for job in group:
                if failed.intersection(job.strategies):
                    continue  # planned again without the failed strategy
                if claim is not None and not claim(job):
                    bar.update(job.configs[0].steps)
                    yield job, ClaimedElsewhere(job.label)
                    continue
                try:
                    yield job, execute(job, bar.update)
                except Exception as e:  # one broken strategy never takes the others down
                    failed.update(blamed(job, e)[0])
                    yield job, e
        finally:
            bar.close()


def worker_devices(workers: int) -> list[Any]:
    """The device of each of ``workers`` local workers: the JAX devices in turn."""
    devices = jax.devices()
    return [devices[i % len(devices)] for i in range(workers)]


def default_workers(runs_axis: str) -> int:
    """Local workers when none are asked for: one per CPU device when a chunk's runs are
    ``vmap``-ped on one device (each chunk then keeps one core busy), else 1 (``map`` already
    spreads a chunk over every CPU device; an accelerator runs one chunk at a time)."""
    if jax.default_backend() != "cpu" or train.check_runs_axis(runs_axis) != "vmap":
        return 1
    return jax.local_device_count()


def program_key(job: Job) -> tuple:
    """What a chunk's compiled programs depend on beyond the data: the strategy's architecture,
    the run options of its arm and the number of runs. Jobs with equal keys share programs."""
    cfg = job.configs[0]
    return (_architecture(job.strategies[0]), cfg.peephole_order, cfg.dropout,
            cfg.readout, cfg.hidden, cfg.window, cfg.batch_size, cfg.steps, len(job.configs))


@functools.cache
def _architecture(strategy: str) -> Any:
    """The strategy's architecture; for a strategy that cannot build one, its name (its jobs
    then fail in :func:`execute`, where the failure is recorded, not here)."""
    from bench.registry import architecture

    try:
        return architecture(get_strategy(strategy))
    except Exception:  # a broken strategy: reported when its job runs
        return ("broken", strategy)


def assign(jobs: Sequence[Job], workers: int) -> list[list[Job]]:
    """Jobs dealt to ``workers``: the jobs of one :func:`program_key` stay together (each
    program is compiled once), and groups go largest first (in runs × steps) to the worker
    with the least work so far; within a worker the jobs keep their order."""
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault(program_key(job), []).append(job)
    size = lambda g: sum(len(j.configs) * j.configs[0].steps for j in g)  # noqa: E731
    shares: list[list[Job]] = [[] for _ in range(workers)]
    load = [0] * workers
    for group in sorted(groups.values(), key=size, reverse=True):
        k = load.index(min(load))
        shares[k].extend(group)
        load[k] += size(group)
    order = {id(j): i for i, j in enumerate(jobs)}
    return [sorted(share, key=lambda j: order[id(j)]) for share in shares]


def selected_strategies(spec: SweepSpec) -> tuple[list[Strategy], dict[str, str]]:
    """The strategies ``spec`` runs (its names, and with ``controls`` the matched controls) and
    the named strategies that cannot be loaded (name → one-line reason)."""
    strategies, failures = select(spec.strategies)
    if spec.controls:
        strategies += [c for c in controls(strategies) if c.name not in failures]
    return strategies, failures


def run_sweep(spec: SweepSpec, out: str | Path, *, progress: bool = True,
              log: Callable[[str], None] = print,
              executor: Callable[..., Iterator[Outcome]] | None = None,
              workers: int = 0, poll_s: float = 1.0) -> dict[str, Any]:
    """Run every missing run of ``spec`` into ``out``; return a summary with failures.

    ``executor`` maps jobs to (job, records or exception) in any order, and takes a ``claim``
    keyword that it calls on each job before running it (default: this process,
    :func:`local_executor` with ``workers`` threads, 0 for :func:`default_workers`; see
    :mod:`bench.ray_executor`). Records are stored as they arrive; a chunk's claim is given up
    once its records are stored. Chunks that another process holds are left to it: when nothing
    else is left, the sweep checks every ``poll_s`` seconds until they are stored (or their
    process died and their claims are free, and it trains them itself).
    """
    spec.validate()
    faults.parse(os.environ.get("BENCH_FAULT", ""))  # a misspelled fault fails here, not later
    store = Store(out)
    claims = Claims(store.root)
    strategies, failures = selected_strategies(spec)
    env = environment()
    log(f"JAX device: {env['device']} × {env['device_count']} (jax {env['jax']}); "
        f"results -> {store.root}")
    sweep_info = {"sweep_id": spec.sweep_id, "spec": asdict(spec), "environment": env,
                  "runs_axis": train.check_runs_axis(spec.runs_axis)}
    write_json(store.root / "sweep.json", sweep_info)
    t0 = time.perf_counter()
    jobs, skipped = plan(spec, strategies, store)
    for s in strategies:
        if not any(s.name in j.strategies for j in jobs):
            log(f"{s.name}: all runs already done")
    workers = workers or default_workers(spec.runs_axis)
    if executor is None:
        log(f"local workers: {workers}")
    run = executor or functools.partial(local_executor, progress=progress, workers=workers)

    def claim(job: Job) -> bool:  # hold the chunk, unless another process finished it since
        if not claims.acquire(job_id(job)):
            return False
        if all(store.has(c.key()) for c in job.configs):
            claims.release(job_id(job))
            return False
        return True

    ran, phases, store_s, told = 0, dict.fromkeys(timing.PHASES, 0.0), 0.0, False
    table_at = time.perf_counter()
    try:
        while jobs:  # a round; grid extensions are planned once the runs below are stored
            before, contested, n_failed = ran, 0, len(failures)
            runnable = [j for j in jobs if not claims.held_elsewhere(job_id(j))]
            for job, outcome in run(runnable, claim=claim) if runnable else ():
                if isinstance(outcome, ClaimedElsewhere):
                    contested += 1
                    continue
                try:
                    if isinstance(outcome, BaseException):
                        names, error = blamed(job, outcome)
                        for name in names:
                            failures[name] = _describe_failure(name, error)
                            log(f"error: {failures[name]}")
                        continue
                    t_store = time.perf_counter()
                    for record in outcome:
                        store.write(record)
                        ran += 1
                    if time.perf_counter() - table_at >= TABLE_EVERY_S:
                        store.write_table()  # a cut-off sweep still has a recent table
                        table_at = time.perf_counter()
                    store_s += time.perf_counter() - t_store
                    for name, seconds in (outcome[0].chunk_phase_s if outcome else {}).items():
                        phases[name] = phases.get(name, 0.0) + seconds
                finally:
                    claims.release(job_id(job))
            jobs, _ = plan(spec, [s for s in strategies if s.name not in failures], store)
            elsewhere = [j for j in jobs if claims.held_elsewhere(job_id(j))]
            if elsewhere:
                if not told:
                    log(f"{len(elsewhere)} chunks are being trained by another process on "
                        f"{store.root}: waiting for them")
                    told = True
                time.sleep(poll_s)
            elif ran == before and not contested and len(failures) == n_failed:
                # nothing moved: no point in another round (after a failure, the failed
                # strategy's chunk partners are planned again without it)
                break
    finally:
        claims.release_all()
    for line in store.corrupt:
        log(f"warning: corrupt record recomputed: {line}")
    write_json(store.root / "failures.json", failures)
    t_store = time.perf_counter()
    table = store.write_table()
    store_s += time.perf_counter() - t_store
    summary = {"ran": ran, "skipped": skipped, "failures": failures, "corrupt": store.corrupt,
               "wall_s": time.perf_counter() - t0, "table": str(table),
               "phase_s": {**phases, "store": store_s}}
    sweep_info["last_run"] = summary
    write_json(store.root / "sweep.json", sweep_info)
    return summary
