"""Training: all (learning rate, seed) runs of one strategy in one jitted, vmapped program.

Follow one chunk of runs:

1. :func:`initial_state` takes each seed's initial parameters (built by the sweep with the
   strategy, in Python: strategies may be data-dependent or use loops), stacks them along a
   leading *run* axis, and gives every
   run its own optax state whose learning rate is a state leaf (``optax.inject_hyperparams``), so
   one compiled program serves every LR.
2. :func:`train_steps` is ``vmap`` (over runs) of ``lax.scan`` (over steps) of one Adam/SGD/RMSprop
   step on the one-step MSE. A run whose loss, gradients or new parameters are non-finite is
   *frozen*: its parameters and optimizer state stop changing and its divergence step is kept.
   Runs never interact, so one diverging run cannot disturb another.
3. :func:`eval_mse` measures the deterministic one-step MSE, per channel, on long held-out
   sequences.

Runs with the same seed share initial parameters, batch order and dropout masks, so the learning
rate is the only thing that differs between them.

"Together" means one compiled program with a leading run axis, mapped by :func:`over_runs`
along the ``axis`` the caller passes (a static argument, so the compiled program depends on it
explicitly): ``"vmap"`` batches the runs into wide matmuls (the default on a GPU/TPU, where one
small run cannot keep the card busy); ``"map"`` (the default on a CPU) splits the runs evenly
across the CPU devices (``shard_map``; the command line gives JAX one CPU device per core, see
:mod:`bench.devices`) and each device runs its share one after the other (``lax.map``): on a CPU
the per-step work of one run is too small to gain from batching, and one XLA CPU program does
not keep several cores busy. ``python -m bench perf --runs-axis`` compares the two. Either way
each run's numbers are its own.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from bench import model
from bench.config import RunConfig
from bench.model import stack_forward

Array = jax.Array

OPTIMIZERS = {"adam": optax.adam, "sgd": optax.sgd, "rmsprop": optax.rmsprop}


@dataclass(frozen=True)
class Arch:
    """Static (compile-time) description of the network a strategy builds."""

    nonlinearity: str
    cell_nonlinearity: str
    peephole_order: str
    grad_clipping: float
    dropout_p: float
    readout: bool = False

    @classmethod
    def of(cls, cfg: RunConfig, *, nonlinearity: str = "tanh",
           cell_nonlinearity: str = "tanh") -> Arch:
        """The network of ``cfg`` with a strategy's nonlinearities (Lasagne's keyword names)."""
        return cls(nonlinearity=nonlinearity, cell_nonlinearity=cell_nonlinearity,
                   peephole_order=cfg.peephole_order, grad_clipping=cfg.grad_clipping,
                   dropout_p=cfg.dropout, readout=cfg.readout == "linear")

    def forward(self, params: Any, x: Array, *, train: bool = False,
                key: Array | None = None) -> Array:
        """Prediction of x(t+1) for every t."""
        return stack_forward(params, x, nonlinearity=self.nonlinearity,
                             cell_nonlinearity=self.cell_nonlinearity,
                             peephole_order=self.peephole_order,
                             grad_clipping=self.grad_clipping, dropout_p=self.dropout_p,
                             train=train, key=key, readout=self.readout)




@dataclass(frozen=True)
class Recipe:
    """Static (compile-time) training settings; the LR and seed are data, not part of it."""

    optimizer: str
    clip_norm: float
    batch_size: int
    window: int
    schedule: str = "constant"
    steps: int = 0
    warmup_steps: int = 0

    @classmethod
    def of(cls, cfg: RunConfig) -> Recipe:
        """The recipe part of a run config. The step budget and warm-up enter only a schedule
        that uses them: under ``constant`` they are 0, so the training program does not depend
        on the budget (runs of different budgets share it)."""
        if cfg.schedule == "constant":
            return cls(cfg.optimizer, cfg.clip_norm, cfg.batch_size, cfg.window)
        return cls(cfg.optimizer, cfg.clip_norm, cfg.batch_size, cfg.window, cfg.schedule,
                   cfg.steps, cfg.warmup_steps)


def schedule(recipe: Recipe) -> optax.Schedule:
    """The learning-rate multiplier against the step: 1 (``constant``), or ``warmup_cosine``:
    linear from 0 to 1 over ``warmup_steps``, then a cosine decay to 0 at ``steps``
    (``optax.warmup_cosine_decay_schedule`` with peak 1)."""
    if recipe.schedule == "constant":
        return optax.constant_schedule(1.0)
    return optax.warmup_cosine_decay_schedule(0.0, 1.0, recipe.warmup_steps,
                                              max(recipe.steps, recipe.warmup_steps + 1), 0.0)


def optimizer(recipe: Recipe, lr: float | Array) -> optax.GradientTransformation:
    """``clip_by_global_norm(clip_norm)`` (if > 0), the optimizer with an injected LR (the run's
    own, a state leaf), then the schedule's multiplier (:func:`schedule`)."""
    tx = optax.inject_hyperparams(OPTIMIZERS[recipe.optimizer])(learning_rate=lr)
    if recipe.schedule != "constant":
        tx = optax.chain(tx, optax.scale_by_schedule(schedule(recipe)))
    if recipe.clip_norm:
        return optax.chain(optax.clip_by_global_norm(recipe.clip_norm), tx)
    return tx


def one_step_mse(pred: Array, x: Array) -> Array:
    """Mean over batch, time and channels of (ŷ(t) − x(t+1))², ŷ(t) = pred[:, t]."""
    return jnp.mean((pred[:, :-1] - x[:, 1:]) ** 2)


RUNS_AXES = ("map", "vmap")


def default_runs_axis() -> str:
    """``"map"`` on the CPU, ``"vmap"`` on accelerators (see the module docstring)."""
    return "map" if jax.default_backend() == "cpu" else "vmap"


def check_runs_axis(axis: str) -> str:
    """``axis`` if it is ``"map"`` or ``"vmap"``; ``"auto"`` gives :func:`default_runs_axis`."""
    if axis == "auto":
        return default_runs_axis()
    if axis not in RUNS_AXES:
        raise ValueError(f"runs axis {axis!r}: expected auto, map or vmap")
    return axis


def run_devices(n_runs: int) -> list:
    """The devices ``n_runs`` runs are split across under ``"map"``: on a CPU every CPU device
    (at most one per run; a number of runs that does not divide evenly is padded, see
    :func:`over_runs`); elsewhere one."""
    devices = jax.devices()
    if devices[0].platform != "cpu":
        return devices[:1]
    return devices[:max(1, min(len(devices), n_runs))]


def runs_mapping(n_runs: int, axis: str) -> str:
    """How :func:`over_runs` maps ``n_runs`` runs along ``axis``, in words (logs, perf table)."""
    if axis == "vmap":
        return "vmap over runs"
    n_dev = len(run_devices(n_runs))
    return "lax.map over runs" + (f", split over {n_dev} CPU devices" if n_dev > 1 else "")


def runs_sharding(n_runs: int) -> NamedSharding | None:
    """Where ``"map"`` keeps arrays with a leading axis of ``n_runs`` runs between programs:
    split over :func:`run_devices` when they divide ``n_runs``, else a copy on each; None on one
    device. :func:`over_runs` gives its results this layout and :func:`place_runs` puts a
    chunk's first inputs in it, so a program called again on its own outputs finds the layout
    it was compiled for (a new layout would compile the program again)."""
    devices = run_devices(n_runs)
    if len(devices) == 1:
        return None
    mesh = Mesh(np.array(devices), ("runs",))
    return NamedSharding(mesh, P("runs") if n_runs % len(devices) == 0 else P())


def place_runs(tree: Any, axis: str) -> Any:
    """``tree`` (leading run axis) in the layout :func:`over_runs` gives its results under
    ``axis`` (:func:`runs_sharding`); unchanged under ``"vmap"``."""
    sharding = runs_sharding(jax.tree.leaves(tree)[0].shape[0]) if axis == "map" else None
    return tree if sharding is None else jax.device_put(tree, sharding)


def over_runs(fn: Any, tree: Any, axis: str) -> Any:
    """Apply ``fn`` to every run (leading axis of ``tree``): ``vmap``, or ``lax.map`` sharded
    across :func:`run_devices` (see the module docstring), the results laid out as
    :func:`runs_sharding` says."""
    if axis == "vmap":  # one device: sharding a vmapped program over CPU devices is slower
        return jax.vmap(fn)(tree)
    if axis != "map":
        raise ValueError(f"runs axis {axis!r}: expected map or vmap")
    n = jax.tree.leaves(tree)[0].shape[0]
    sharding = runs_sharding(n)
    if sharding is None:
        return jax.lax.map(fn, tree)
    pad = -n % sharding.mesh.size  # equal shares: repeat the last run, then drop its copies
    if pad:
        tree = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], pad, 0)]), tree)
    out = jax.shard_map(lambda share: jax.lax.map(fn, share), mesh=sharding.mesh,
                        in_specs=P("runs"), out_specs=P("runs"), check_vma=False)(tree)
    if pad:
        out = jax.tree.map(lambda a: a[:n], out)
    return jax.lax.with_sharding_constraint(out, sharding)


def _all_finite(tree: Any) -> Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]))


def _select(ok: Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(ok, a, b), new, old)


def _sample_batch(key: Array, pool: Array, batch_size: int, window: int) -> Array:
    """``batch_size`` random windows of ``window + 1`` steps from the training pool."""
    k_seq, k_start = jax.random.split(key)
    seq = jax.random.randint(k_seq, (batch_size,), 0, pool.shape[0])
    start = jax.random.randint(k_start, (batch_size,), 0, pool.shape[1] - window)
    take = lambda s, t: jax.lax.dynamic_slice_in_dim(pool[s], t, window + 1, axis=0)  # noqa: E731
    return jax.vmap(take)(seq, start)


@functools.partial(jax.jit, static_argnames=("arch", "recipe", "n_steps", "axis"),
                   donate_argnums=(0,))
def train_steps(state: dict, pool: Array, step0: Array, active: Array, *,
                arch: Arch, recipe: Recipe, n_steps: int, axis: str) -> tuple[dict, Array]:
    """Advance every active run ``n_steps`` steps; return the new state and losses
    (runs, n_steps).

    ``active`` (runs,) bool: a run that is not active keeps its state and gets NaN
    losses. Under ``map`` its steps are skipped (``lax.cond``), so it costs nothing; under
    ``vmap`` both branches are computed (the caller drops such runs from the program instead,
    see :func:`bench.sweep.run_chunk`).
    """
    tx = optimizer(recipe, 0.0)  # the LR actually used is the one stored in each run's opt state

    def loss_fn(params: Any, batch: Array, key: Array) -> Array:
        return one_step_mse(arch.forward(params, batch, train=True, key=key), batch)

    def step(run: dict, t: Array) -> tuple[dict, Array]:
        key = jax.random.fold_in(run["key"], t)
        k_batch, k_drop = jax.random.split(key)
        batch = _sample_batch(k_batch, pool, recipe.batch_size, recipe.window)
        loss, grads = jax.value_and_grad(loss_fn)(run["params"], batch, k_drop)
        updates, opt_state = tx.update(grads, run["opt_state"], run["params"])
        params = optax.apply_updates(run["params"], updates)
        ok = jnp.isfinite(loss) & _all_finite(params) & ~run["diverged"]
        new = {
            "params": _select(ok, params, run["params"]),
            "opt_state": _select(ok, opt_state, run["opt_state"]),
            "key": run["key"],
            "diverged": run["diverged"] | ~ok,
            "diverged_step": jnp.where(run["diverged"] | ok, run["diverged_step"], t),
        }
        return new, loss

    def run_scan(run: dict) -> tuple[dict, Array]:
        return jax.lax.scan(step, run, step0 + jnp.arange(n_steps))

    def skip(run: dict) -> tuple[dict, Array]:
        return run, jnp.full((n_steps,), jnp.nan, jnp.float32)

    return over_runs(lambda a: jax.lax.cond(a[1], run_scan, skip, a[0]), (state, active), axis)


@jax.jit
def stack_runs(trees: Sequence[Any]) -> Any:
    """The pytrees ``trees`` (one per run, the same structure) stacked leaf by leaf along a new
    leading run axis, by one program (eagerly, each leaf's stack would be its own)."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


@jax.jit
def take_runs(tree: Any, index: Array) -> Any:
    """The runs ``index`` of every leaf of ``tree`` (leading run axis), by one program."""
    return jax.tree.map(lambda a: a[index], tree)


@functools.partial(jax.jit, static_argnames=("recipe",))
def _optimizer_states(params: Any, lrs: Array, *, recipe: Recipe) -> Any:
    """Each run's optimizer state for its parameters and learning rate (leading run axis)."""
    return jax.vmap(lambda p, lr: optimizer(recipe, lr).init(p))(params, lrs)


def initial_state(inits: dict[Any, Any], configs: Sequence[RunConfig],
                  init_of: Callable[[RunConfig], Any] = lambda c: c.seed) -> dict:
    """Stacked per-run training state: run ``c`` starts from ``inits[init_of(c)]`` (by default
    its seed's initial parameters; a chunk that holds several strategies keys them by
    ``(strategy, seed)``). The parameters are kept packed (:func:`bench.model.pack_stack`;
    :func:`run_params` gives them back under Lasagne's names)."""
    packed = {k: model.pack_stack(p) for k, p in inits.items()}
    params = stack_runs([packed[init_of(c)] for c in configs])
    lrs = jnp.asarray([c.lr for c in configs], jnp.float32)
    opt_state = _optimizer_states(params, lrs, recipe=Recipe.of(configs[0]))
    n = len(configs)
    return {
        "params": params,
        "opt_state": opt_state,
        "key": jnp.stack([jax.random.fold_in(jax.random.PRNGKey(c.seed), 1) for c in configs]),
        "diverged": jnp.zeros(n, bool),
        "diverged_step": jnp.full(n, -1, jnp.int32),
    }


def run_params(state: dict) -> list[dict[str, Array]]:
    """The runs' parameters (leading run axis) under Lasagne's names."""
    return model.unpack_stack(state["params"])


def memory_budget() -> float:
    """Bytes an evaluation batch may take: 30 % of the device's memory, or 2 GB on a CPU."""
    stats = jax.devices()[0].memory_stats() or {}
    limit = stats.get("bytes_limit")
    return 0.3 * float(limit) if limit else 2e9


def eval_group_size(n_runs: int, x_shape: tuple[int, ...], hidden: tuple[int, ...],
                    axis: str, budget_bytes: float | None = None) -> int:
    """How many evaluation sequences to run at once so the activations fit the budget.

    Per run, sequence and step the forward pass keeps h and c of every layer; 6·H floats per
    layer leaves room for the step's 4H gate pre-activations and XLA's temporaries. The group
    size divides the number of sequences.
    """
    budget_bytes = memory_budget() if budget_bytes is None else budget_bytes
    if axis == "map":  # over_runs maps the runs one at a time on each device
        n_runs = len(run_devices(n_runs))
    n_seq, length = x_shape[0], x_shape[1]
    per_seq = n_runs * length * 6 * sum(hidden) * 4
    g = max(1, min(n_seq, int(budget_bytes // max(per_seq, 1))))
    while n_seq % g:
        g -= 1
    return g


def channel_mse(pred: Array, x: Array) -> Array:
    """Per channel, the mean over batch and time of (ŷ(t) − x(t+1))²: shape (C,)."""
    return jnp.mean((pred[:, :-1] - x[:, 1:]) ** 2, axis=(0, 1))


@functools.partial(jax.jit, static_argnames=("arch", "group", "axis"))
def eval_mse(params: Any, x: Array, *, arch: Arch, axis: str, group: int = 1) -> Array:
    """Deterministic one-step MSE of every run (leading axis of ``params``) on ``x``, per
    channel: shape (runs, C); its mean over channels is the pooled MSE.

    Sequences go through ``group`` at a time (``lax.map`` over groups) to bound memory on long
    inputs; each channel's MSE is the mean over sequences and time. Non-finite predictions give
    a non-finite MSE.
    """
    groups = x.reshape(x.shape[0] // group, group, *x.shape[1:])

    def per_run(p: Any) -> Array:
        return jnp.mean(jax.lax.map(lambda g: channel_mse(arch.forward(p, g), g), groups),
                        axis=0)

    return over_runs(per_run, params, axis)


def state_stats(states: Sequence[tuple[Array, Array]], trace_points: int = 100) -> dict:
    """:func:`init_diagnostics`' numbers from every layer's ``(h, c)`` (batch, time, H) of one
    run, each stacked over layers."""
    out: dict[str, list] = {k: [] for k in ("nonfinite_frac", "first_nonfinite", "max_h",
                                             "max_c", "h_trace")}
    for h, c in states:
        finite = jnp.isfinite(h)
        bad_t = ~jnp.all(finite, axis=(0, 2))  # (time,)
        out["nonfinite_frac"].append(jnp.mean(~finite))
        out["first_nonfinite"].append(jnp.where(jnp.any(bad_t), jnp.argmax(bad_t), -1))
        out["max_h"].append(jnp.max(jnp.where(finite, jnp.abs(h), 0.0)))
        out["max_c"].append(jnp.max(jnp.where(jnp.isfinite(c), jnp.abs(c), 0.0)))
        mag = jnp.max(jnp.where(finite, jnp.abs(h), jnp.inf), axis=(0, 2))
        points = min(trace_points, mag.shape[0])
        t = mag.shape[0] // points * points
        out["h_trace"].append(jnp.max(mag[:t].reshape(points, -1), axis=1))
    return {k: jnp.stack(v) for k, v in out.items()}


@functools.partial(jax.jit, static_argnames=("arch", "axis", "trace_points"))
def init_diagnostics(params: Any, x: Array, *, arch: Arch, axis: str,
                     trace_points: int = 100) -> dict:
    """Forward pass at init over long sequences ``x``; per run and layer:

    ``nonfinite_frac`` (fraction of non-finite h), ``first_nonfinite`` (first time step with a
    non-finite h, −1 if none), ``max_h`` / ``max_c`` (max |h|, |c| over finite values), and
    ``h_trace`` (max |h| over blocks of time, ``trace_points`` blocks; non-finite counts as inf).
    """

    def per_run(p: Any) -> dict:
        return state_stats(stack_forward(p, x, nonlinearity=arch.nonlinearity,
                                         cell_nonlinearity=arch.cell_nonlinearity,
                                         peephole_order=arch.peephole_order,
                                         return_states=True, readout=arch.readout),
                           trace_points)

    return over_runs(per_run, params, axis)
