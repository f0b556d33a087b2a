"""Training program: per-run LRs, freezing of diverged runs, run isolation, optax equivalence."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from bench import config, data, train
from bench.model import stack_forward
from bench.registry import discover

TINY = dict(hidden=(8, 6), window=16, batch_size=4, steps=6, dropout=0.0, train_sequences=16)
DROPOUT = dict(TINY, dropout=0.33)
# every test trains 4 steps with the sweep's (masked) program from a placed state, so tests with
# the same number of runs and recipe share one compiled program: 2 runs without dropout, and 1
# or 3 runs with it (and 3 under vmap); an odd number of runs is padded inside the program
# (bench.train.over_runs), so 3 runs are one program each test with 3 runs shares


@pytest.fixture(scope="module")
def glorot():
    return discover()[0]["glorot"]


@pytest.fixture(scope="module")
def pool():
    return jnp.asarray(data.generate("ar1", 16, 4 * 16 + 1, 7, seed=3, scale=0.25))


def _state(strategy, cfgs, axis="map"):
    """The first state of a chunk, placed as a sweep places it (train.place_runs): tests with
    the same runs then call the same compiled program."""
    per_seed = {c.seed: strategy.init_params(jax.random.PRNGKey(c.seed), c, None) for c in cfgs}
    return train.place_runs(train.initial_state(per_seed, cfgs), axis)


def _arch(strategy, cfg):
    return train.Arch.of(cfg, **strategy.nonlinearities())


def _train(strategy, cfgs, pool, steps, axis="map", active=None):
    state = _state(strategy, cfgs, axis)
    arch, recipe = _arch(strategy, cfgs[0]), train.Recipe.of(cfgs[0])
    active = jnp.ones(len(cfgs), bool) if active is None else jnp.asarray(active)
    state, loss = train.train_steps(state, pool, jnp.int32(0), active,
                                    arch=arch, recipe=recipe, n_steps=steps, axis=axis)
    return jax.device_get(state), np.asarray(loss)


def test_one_run_matches_plain_optax_loop(glorot, pool):
    """The vmapped program equals a hand-written optax loop (same batches, same keys)."""
    cfg = config.resolve("quick", lr=3e-3, **TINY)
    state, loss = _train(glorot, [cfg, config.resolve("quick", lr=1e-2, **TINY)], pool, 4)
    params = glorot.init_params(jax.random.PRNGKey(0), cfg, None)
    tx = optax.chain(optax.clip_by_global_norm(cfg.clip_norm), optax.adam(cfg.lr))
    opt = tx.init(params)
    key = jax.random.fold_in(jax.random.PRNGKey(0), 1)
    arch = _arch(glorot, cfg)

    @jax.jit  # one plain optax step (compiled once, not op by op)
    def plain_step(params, opt, batch):
        def lossf(p):
            pred = stack_forward(p, batch, nonlinearity=arch.nonlinearity,
                                 cell_nonlinearity=arch.cell_nonlinearity)
            return train.one_step_mse(pred, batch)

        value, grads = jax.value_and_grad(lossf)(params)
        updates, opt = tx.update(grads, opt, params)
        return value, optax.apply_updates(params, updates), opt

    for t in range(4):
        k_batch, _ = jax.random.split(jax.random.fold_in(key, t))
        batch = train._sample_batch(k_batch, pool, cfg.batch_size, cfg.window)
        value, params, opt = plain_step(params, opt, batch)
        np.testing.assert_allclose(loss[0, t], value, rtol=1e-5)
    for name, value in params[1].items():
        np.testing.assert_allclose(train.run_params(state)[1][name][0], value, rtol=2e-4, atol=1e-6)


def test_each_run_uses_its_own_learning_rate(glorot, pool):
    cfgs = [config.resolve("quick", lr=lr, **TINY) for lr in (1e-12, 1e-2)]
    init_w = glorot.init_params(jax.random.PRNGKey(0), cfgs[0], None)[0]["W_hid_to_cell"]
    state, _ = _train(glorot, cfgs, pool, 4)
    moved = [float(np.max(np.abs(train.run_params(state)[0]["W_hid_to_cell"][i] - init_w)))
             for i in range(2)]
    assert moved[0] < 1e-9 < 1e-3 < moved[1]


def test_diverging_run_is_frozen_and_isolated(glorot, pool):
    """A run whose first update overflows (LR 1e39 is inf in float32) is frozen at step 0; every
    other run's numbers are exactly those of the same program with a healthy run in its place,
    and of a program without it (on the CPU, where runs are mapped one at a time; with vmap
    on a GPU a different run count may change how XLA blocks the batched matmuls)."""
    # with dropout, 3 runs and 1: the programs of test_runs_split_across_cpu_devices_...
    good = [config.resolve("quick", lr=lr, seed=s, **DROPOUT) for lr, s in ((1e-2, 0), (3e-2, 1))]
    bad = config.resolve("quick", lr=1e39, seed=0, **DROPOUT)
    healthy = config.resolve("quick", lr=2e-2, seed=0, **DROPOUT)
    with_bad, loss_b = _train(glorot, [good[0], bad, good[1]], pool, 4)
    replaced, loss_r = _train(glorot, [good[0], healthy, good[1]], pool, 4)
    each = [_train(glorot, [cfg], pool, 4) for cfg in good]
    assert with_bad["diverged"].tolist() == [False, True, False]
    assert replaced["diverged"].tolist() == [False, False, False]
    assert with_bad["diverged_step"][1] == 0
    # frozen: parameters of the diverged run are still its (finite) initial ones
    init = glorot.init_params(jax.random.PRNGKey(0), bad, None)
    np.testing.assert_array_equal(train.run_params(with_bad)[0]["W_in_to_cell"][1],
                                  init[0]["W_in_to_cell"])
    for i, (alone, loss_a) in ((0, each[0]), (2, each[1])):
        np.testing.assert_array_equal(loss_b[i], loss_r[i])
        np.testing.assert_array_equal(loss_b[i], loss_a[0])
        for name in train.run_params(with_bad)[2]:
            np.testing.assert_array_equal(train.run_params(with_bad)[2][name][i],
                                          train.run_params(replaced)[2][name][i])
            np.testing.assert_array_equal(train.run_params(with_bad)[2][name][i],
                                          train.run_params(alone)[2][name][0])


def test_eval_mse_groups_do_not_change_the_result(glorot):
    cfg = config.resolve("quick", **TINY)
    params = glorot.init_params(jax.random.PRNGKey(1), cfg, None)
    stacked = jax.tree.map(lambda x: x[None], params)
    x = jnp.asarray(data.generate("ar1", 4, 300, 7, seed=5, scale=0.25))
    arch = _arch(glorot, cfg)
    a = train.eval_mse(stacked, x, arch=arch, group=1, axis="map")
    b = train.eval_mse(stacked, x, arch=arch, group=4, axis="vmap")
    pred = np.asarray(stack_forward(params, x), np.float64)
    xs = np.asarray(x, np.float64)
    ref = [np.mean((pred[:, :-1, c] - xs[:, 1:, c]) ** 2) for c in range(7)]  # per channel
    assert a.shape == b.shape == (1, 7)
    np.testing.assert_allclose(a[0], ref, rtol=1e-5)
    np.testing.assert_allclose(b[0], ref, rtol=1e-5)


def test_init_diagnostics_find_first_nonfinite_step():
    """A hand-made layer whose cell doubles every step overflows float32 at a known step."""
    from bench.lstm import param_shapes

    shapes = param_shapes(1, 1, peepholes=False)
    p = {k: jnp.zeros(s, jnp.float32) for k, s in shapes.items()}
    # i = f = o = σ(30) ≈ 1, g = linear(z_c) with W_hid_to_cell = 1: c_t = c_{t-1} + h_{t-1}, h = c
    p.update(b_ingate=jnp.full(1, 30.0), b_forgetgate=jnp.full(1, 30.0),
             b_outgate=jnp.full(1, 30.0), W_hid_to_cell=jnp.ones((1, 1)),
             W_in_to_cell=jnp.ones((1, 1)))
    arch = train.Arch("linear", "linear", "graves", 0.0, 0.0)
    x = jnp.ones((1, 400, 1), jnp.float32)
    d = train.init_diagnostics(jax.tree.map(lambda a: a[None], [p]), x, arch=arch, axis="map",
                               trace_points=4)
    # c_t = 2 c_{t-1} + 1 → c_t = 2^{t+1} − 1 overflows float32 (max ≈ 2^128) at t = 127 or 128
    first = int(d["first_nonfinite"][0, 0])
    assert 125 <= first <= 129
    assert float(d["nonfinite_frac"][0, 0]) == pytest.approx((400 - first) / 400)
    assert np.isinf(d["h_trace"][0, 0, -1]) and np.isfinite(d["h_trace"][0, 0, 0])


def test_runs_split_across_cpu_devices_equal_each_run_alone(glorot, pool):
    """With two CPU devices the runs are sharded (an odd number padded with a copy of the last
    run, then dropped) and every run's losses and parameters are exactly those of the run
    trained alone in an R = 1 program."""
    assert jax.device_count() >= 2, "tests/conftest.py asks for two CPU devices"
    assert len(train.run_devices(4)) == 2 and len(train.run_devices(3)) == 2
    assert len(train.run_devices(1)) == 1
    # the runs (and so the program) of test_vmapped_runs_equal_mapped_runs below
    cfgs = [config.resolve("quick", lr=lr, seed=s, **DROPOUT)
            for lr, s in ((1e-3, 0), (1e-2, 1), (3e-2, 2))]
    out, loss = _train(glorot, cfgs, pool, 4)
    assert loss.shape == (3, 4) and len(train.run_devices(3)) == 2  # 3 runs: 2 + 1 padded
    for i, cfg in enumerate(cfgs):
        alone, loss_a = _train(glorot, [cfg], pool, 4)
        np.testing.assert_array_equal(np.asarray(loss)[i], loss_a[0])
        for name, value in train.run_params(alone)[0].items():
            np.testing.assert_array_equal(np.asarray(train.run_params(out)[0][name])[i], value[0])


def test_vmapped_runs_equal_mapped_runs(glorot, pool):
    """The accelerator path (``vmap`` over runs, custom backward batched) gives the CPU path's
    numbers up to float32 rounding; checked here on the CPU by passing the axis explicitly."""
    cfgs = [config.resolve("quick", lr=lr, seed=s, **DROPOUT)
            for lr, s in ((1e-3, 0), (1e-2, 1), (3e-2, 2))]
    results = {axis: _train(glorot, cfgs, pool, 4, axis=axis) for axis in ("map", "vmap")}
    (s_map, l_map), (s_vmap, l_vmap) = results["map"], results["vmap"]
    np.testing.assert_allclose(l_vmap, l_map, rtol=1e-5)
    for layer_m, layer_v in zip(s_map["params"], s_vmap["params"], strict=True):
        for name in layer_m:
            np.testing.assert_allclose(layer_v[name], layer_m[name], rtol=1e-4, atol=1e-6)
    assert np.ptp(l_map[:, -1]) > 0  # the three runs really differ


def test_eval_group_size_counts_the_runs_that_run_at_once():
    """Under ``lax.map`` one run per CPU device is evaluated at a time: 3 or 4 runs on 2 devices
    hold two groups in memory at once, 1 run (one device) only one."""
    per_seq = 100 * 6 * 10 * 4  # one run, one sequence of 100 steps, hidden (10,), float32
    assert train.eval_group_size(1, (8, 100, 7), (10,), "map", budget_bytes=2.1 * per_seq) == 2
    assert train.eval_group_size(3, (8, 100, 7), (10,), "map", budget_bytes=2.1 * per_seq) == 1
    assert train.eval_group_size(4, (8, 100, 7), (10,), "map", budget_bytes=2.1 * per_seq) == 1
    # under vmap all runs are evaluated at once: 3 runs need 3 groups' worth per sequence
    assert train.eval_group_size(3, (8, 100, 7), (10,), "vmap", budget_bytes=3.1 * per_seq) == 1


def test_runs_axis_is_checked():
    assert train.check_runs_axis("auto") == "map"  # the tests run on the CPU
    with pytest.raises(ValueError, match="runs axis 'vamp'"):
        train.check_runs_axis("vamp")
    with pytest.raises(ValueError, match="runs axis"):
        train.over_runs(lambda t: t, jnp.zeros((2, 3)), "auto")


def test_a_stopped_run_costs_no_step_and_leaves_the_others_bit_for_bit(glorot, pool):
    """``active``: under ``map`` a stopped run keeps its state exactly and gets NaN losses;
    the active runs' losses and parameters equal those of the same program with every run
    active."""
    cfgs = [config.resolve("quick", lr=lr, seed=s, **DROPOUT)
            for lr, s in ((1e-3, 0), (1e-2, 1), (3e-2, 2))]
    before = jax.device_get(_state(glorot, cfgs))
    plain, loss_plain = _train(glorot, cfgs, pool, 4)
    masked, loss = _train(glorot, cfgs, pool, 4, active=[True, False, True])
    assert np.isnan(loss[1]).all() and np.isfinite(loss[[0, 2]]).all()
    np.testing.assert_array_equal(loss[[0, 2]], loss_plain[[0, 2]])
    for got, ref, start in zip(jax.tree.leaves(masked), jax.tree.leaves(plain),
                               jax.tree.leaves(before), strict=True):
        np.testing.assert_array_equal(got[[0, 2]], ref[[0, 2]])
        np.testing.assert_array_equal(got[1], start[1])  # untouched, optimizer state included


@pytest.mark.parametrize("n_runs,options", [(2, TINY), (3, DROPOUT)])  # split evenly; padded
def test_a_program_called_on_its_own_output_is_not_compiled_again(glorot, pool, n_runs, options):
    """A chunk calls train_steps on the state it gave back, once per validation point. The
    first state is placed where the program puts its results (train.place_runs), so the second
    call finds the layout the first compiled for. Without that, every chunk under ``map``
    compiled its training program twice."""
    cfgs = [config.resolve("quick", lr=lr, **options) for lr in (1e-3, 3e-3, 1e-2)[:n_runs]]
    state = _state(glorot, cfgs)  # placed (train.place_runs)
    kw = dict(arch=_arch(glorot, cfgs[0]), recipe=train.Recipe.of(cfgs[0]), n_steps=4,
              axis="map")
    state, _ = train.train_steps(state, pool, jnp.int32(0), jnp.ones(n_runs, bool), **kw)
    compiled = train.train_steps._cache_size()
    layout = jax.tree.map(lambda a: a.sharding, state)
    state, _ = train.train_steps(state, pool, jnp.int32(4), jnp.ones(n_runs, bool), **kw)
    assert train.train_steps._cache_size() == compiled
    assert jax.tree.map(lambda a: a.sharding, state) == layout


def test_stack_runs_and_take_runs_equal_numpy_leaf_by_leaf():
    rng = np.random.default_rng(3)
    trees = [{"W": rng.normal(size=(3, 4)).astype(np.float32),
              "b": [rng.normal(size=2).astype(np.float32), np.int32(k)]} for k in range(5)]
    stacked = train.stack_runs(trees)
    np.testing.assert_array_equal(stacked["W"], np.stack([t["W"] for t in trees]))
    np.testing.assert_array_equal(stacked["b"][0], np.stack([t["b"][0] for t in trees]))
    np.testing.assert_array_equal(stacked["b"][1], np.arange(5))
    index = np.array([4, 1, 1])
    taken = train.take_runs(stacked, index)
    np.testing.assert_array_equal(taken["W"], np.stack([trees[i]["W"] for i in index]))
    np.testing.assert_array_equal(taken["b"][1], index)
