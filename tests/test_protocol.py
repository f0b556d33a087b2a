"""Protocol v2 on the sweep side: arms, disjoint splits, validation curves, grid extension,
matched controls, the readout head and the LR schedule — each against a hand-computed case."""

import math

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import config, registry, train
from bench.cli import main
from bench.config import ARMS, EXTENSION_LRS
from bench.errors import ConfigError
from bench.model import readout_head, stack_forward
from bench.record import RunRecord
from bench.store import Store
from bench.sweep import READOUT_KEY, DataBundle, SweepSpec, grid, run_sweep

# the shared tiny configuration with a budget that is not a multiple of the validation interval
TINY = {**helpers.TINY, "steps": 5}


# ------------------------------------------------------------------------------------ arms


def test_every_strategy_runs_in_every_arm_with_its_options():
    spec = SweepSpec(lrs=(1e-3,), seeds=1, arms={k: dict(v) for k, v in ARMS.items()})
    glorot = registry.get_strategy("glorot")
    clean, = spec.configs(glorot, "ar1", "clean")
    lasagne, = spec.configs(glorot, "ar1", "lasagne-0.1")
    assert (clean.arm, clean.dropout, clean.peephole_order) == ("clean", 0.0, "graves")
    assert (lasagne.arm, lasagne.dropout, lasagne.peephole_order) == ("lasagne-0.1", 0.33,
                                                                      "lasagne-0.1")
    assert clean.key() != lasagne.key()


@pytest.mark.parametrize("arms,overrides,needle", [
    ({"a": {"seed": 1}}, {}, "sets seed, which is set per run"),
    ({"a": {"dropout": 0.1}}, {"dropout": 0.2}, "sets dropout, which is also overridden"),
    ({"a": {"dropuot": 0.1}}, {}, "did you mean 'dropout'"),
    ({}, {}, "no arm given"),
])
def test_bad_arms_are_refused_before_anything_runs(arms, overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        SweepSpec(arms=arms, overrides=overrides).validate()


def test_axes_make_every_combination_and_bad_axes_are_one_line_errors(tmp_path, capsys,
                                                                      monkeypatch):
    seen = {}

    def fake_run_sweep(spec, out, **kw):
        seen["arms"] = spec.arms
        raise SystemExit(0)

    import bench.sweep

    monkeypatch.setattr(bench.sweep, "run_sweep", fake_run_sweep)
    with pytest.raises(SystemExit):
        main(["run", "--out", str(tmp_path / "o"), "--axis", "dropout=0,0.33",
              "--axis", "peephole_order=graves,lasagne-0.1"])
    assert seen["arms"] == {
        "dropout=0.0,peephole_order=graves": {"dropout": 0.0, "peephole_order": "graves"},
        "dropout=0.0,peephole_order=lasagne-0.1": {"dropout": 0.0,
                                                   "peephole_order": "lasagne-0.1"},
        "dropout=0.33,peephole_order=graves": {"dropout": 0.33, "peephole_order": "graves"},
        "dropout=0.33,peephole_order=lasagne-0.1": {"dropout": 0.33,
                                                    "peephole_order": "lasagne-0.1"}}
    for args, needle in ((["--axis", "dropuot=0,1"], "dropuot"),
                         (["--axis", "dropout"], "expected NAME=V1,V2"),
                         (["--arms", "clena"], "did you mean 'clean'"),
                         (["--arms", "clean", "--axis", "dropout=0"], "give one of them")):
        assert main(["run", "--out", str(tmp_path / "o"), *args]) == 2
        err = capsys.readouterr().err.strip()
        assert needle in err and len(err.splitlines()) == 1


# ------------------------------------------------------------------------ splits and curves


def test_training_validation_test_and_init_data_are_independent_draws():
    cfg = config.resolve("quick", **TINY)
    b = DataBundle.build(cfg)
    first = [b.pool[0, :8, 0], b.val_x[0, :8, 0], b.test_x[0, :8, 0], b.init_x[0, :8, 0]]
    for i in range(4):
        for j in range(i + 1, 4):
            assert not np.allclose(first[i], first[j])
    assert b.val_x.shape == (2, 16, 7) and b.test_x.shape == (2, 32, 7)


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    out = tmp_path_factory.mktemp("v2")
    spec = SweepSpec(strategies="glorot,keras-default", lrs=(1e-3, 3e-2), seeds=1,
                     overrides={**TINY, "readout": "linear"}, arms={"clean": dict(ARMS["clean"])},
                     extend=False)
    run_sweep(spec, out, progress=False, log=lambda m: None)
    return out, Store(out).records()


def test_validation_curve_is_measured_every_val_every_steps_and_ends_at_the_budget(swept):
    _, records = swept
    for r in records:
        assert r.val_steps == [2, 4, 5]  # 5 steps, a point every 2 and the last step
        assert r.val_mse == r.val_curve[-1] and len(r.val_curve) == 3
        assert r.arm == "clean" and r.config["dropout"] == 0.0


def test_every_strategy_of_a_seed_starts_with_the_seeds_readout_head(swept):
    """At init each run's validation error equals a float64 NumPy step loop (helpers.run_stack)
    over its strategy's initial layers followed by the readout head drawn from the seed's key
    alone: one head for glorot, keras-default and the control, which a head drawn per strategy
    (or none) would fail."""
    _, records = swept
    cfg = config.resolve("quick", **TINY, **ARMS["clean"], seed=0)
    x = DataBundle.build(cfg).val_x
    head = readout_head(jax.random.fold_in(jax.random.PRNGKey(0), READOUT_KEY), x.shape[-1])
    runs = [r for r in records if r.lr == 3e-2]
    assert sorted(r.strategy for r in runs) == ["glorot", "glorot[no-peepholes]", "keras-default"]
    for r in runs:
        strategy = registry.get_strategy(r.strategy)
        acts = strategy.nonlinearities()
        layers = strategy.init_params(jax.random.PRNGKey(0), cfg, None)
        h, _ = helpers.run_stack(layers, x, peepholes="W_cell_to_ingate" in layers[0],
                                 act=acts["nonlinearity"], cell_act=acts["cell_nonlinearity"])[-1]
        pred = h @ np.asarray(head["W_readout"], np.float64) + np.asarray(head["b_readout"])
        ref = np.mean((pred[:, :-1] - x[:, 1:]) ** 2)
        assert r.config["readout"] == "linear"
        assert r.val_mse_init == pytest.approx(ref, rel=1e-5), r.strategy


def test_matched_control_joins_the_sweep(swept):
    _, records = swept
    assert {r.strategy for r in records} == {"glorot", "keras-default", "glorot[no-peepholes]"}
    ctrl = registry.get_strategy("glorot[no-peepholes]")
    cfg = config.resolve("quick", **TINY)
    layers = ctrl.init_params(jax.random.PRNGKey(0), cfg, None)
    assert not any(k.startswith("W_cell_to_") for layer in layers for k in layer)
    plain = registry.get_strategy("glorot").init_params(jax.random.PRNGKey(0), cfg, None)
    np.testing.assert_array_equal(layers[0]["W_in_to_cell"], plain[0]["W_in_to_cell"])


# --------------------------------------------------------------------------- grid extension


def _record(key, lr, test_mse, seed=0):
    return RunRecord(key=key, sweep_id="s", arm="default", strategy="glorot", dataset="ar1",
                     profile="quick", lr=lr, seed=seed, config={}, diverged=False,
                     diverged_step=-1, val_mse_init=1.0, val_mse=test_mse, test_mse_init=1.0,
                     test_mse=test_mse, test_variance=1.0, variance=1.0, bayes_mse=0.1,
                     persistence_mse=0.5)


@pytest.mark.parametrize("lrs,mse_by_lr,expected_lrs", [
    ((1e-3, 1e-2), {1e-3: 0.2, 1e-2: 0.3}, [1e-3, 1e-2, 3.0]),  # usable everywhere: extend
    ((1e-3, 1e-2), {1e-3: 0.2, 1e-2: 0.3, 3.0: 0.4}, [1e-3, 1e-2, 3.0, 10.0]),  # ... again
    ((1e-3, 1e-2), {1e-3: 0.2, 1e-2: 0.3, 3.0: 0.4, 10.0: 0.4},
     [1e-3, 1e-2, 3.0, 10.0]),  # nothing above 10
    ((1e-3, 1e-2), {1e-3: 0.2, 1e-2: 0.6}, [1e-3, 1e-2]),  # above persistence (0.5) at the top
    ((1e-3, 1e-2), {1e-3: 0.6, 1e-2: 0.3}, [1e-3, 1e-2, 3.0]),  # 1e-3 under-trains: no hole
    ((1e-3, 3e-3, 1e-2), {1e-3: 0.2, 3e-3: 0.6, 1e-2: 0.3}, [1e-3, 3e-3, 1e-2]),  # a hole
    ((1e-3, 1e-2), {1e-3: 0.2}, [1e-3, 1e-2]),  # not all stored yet: wait
])
def test_grid_extends_upward_only_while_the_edge_is_not_found(tmp_path, lrs, mse_by_lr,
                                                              expected_lrs):
    spec = SweepSpec(strategies="glorot", lrs=lrs, seeds=1)
    glorot = registry.get_strategy("glorot")
    store = Store(tmp_path)
    for lr, mse in mse_by_lr.items():
        (cfg,) = spec.configs(glorot, "ar1", "default", lrs=(lr,))
        store.write(_record(cfg.key(), lr, mse))
    segments = grid(spec, glorot, "ar1", "default", store)
    assert [c.lr for seg in segments for c in seg] == expected_lrs
    assert EXTENSION_LRS == (3.0, 10.0)
    no_extension = SweepSpec(strategies="glorot", lrs=lrs, seeds=1, extend=False)
    assert len(grid(no_extension, glorot, "ar1", "default", store)) == 1


def test_usable_edge_against_hand_made_flags():
    from bench.summary import usable_edge

    assert usable_edge([True, True, False, True]) == (1, False)  # a hole at the third LR
    assert usable_edge([False, True, True]) == (2, True)  # the first LR under-trains: censored
    assert usable_edge([False, True, False]) == (1, False)
    assert usable_edge([False, False]) == (None, False)
    assert usable_edge([True]) == (0, True)


# ---------------------------------------------------------------------- controls, readout


@pytest.mark.parametrize("name,label", [
    ("keras-default", "no-peepholes"), ("pytorch-default", "no-peepholes"),
    ("identity-bias", "hidden=leaky_rectify,cell=leaky_rectify"),
    ("identity-bias-fixed", "cell=linear"), ("chrono", ""), ("lsuv", ""),
])
def test_architecture_of_each_strategy(name, label):
    arch = registry.architecture(registry.get_strategy(name))
    assert arch.label == label
    assert registry.Architecture.parse(label) == arch


def test_controls_cover_each_other_architecture_once():
    chosen, _ = registry.select("glorot,keras-default,pytorch-default,identity-bias-fixed")
    names = [c.name for c in registry.controls(chosen)]
    assert names == ["glorot[no-peepholes]", "glorot[cell=linear]"]
    with pytest.raises(ConfigError, match="unknown architecture part"):
        registry.get_strategy("glorot[peepholes=maybe]")


def test_readout_head_is_a_dense_map_of_the_last_hidden_state():
    key = jax.random.PRNGKey(0)
    layers = registry.get_strategy("glorot").init_params(
        key, config.resolve("quick", channels=3, hidden=(4,)), None)
    head = readout_head(jax.random.PRNGKey(5), 3)
    assert float(jnp.max(jnp.abs(head["W_readout"]))) <= math.sqrt(6 / 6)
    x = jax.random.normal(key, (2, 7, 3))
    h = stack_forward(layers, x)
    out = stack_forward([*layers, head], x, readout=True)
    np.testing.assert_allclose(np.asarray(out),
                               np.asarray(h) @ np.asarray(head["W_readout"]), rtol=1e-5,
                               atol=1e-6)


# ------------------------------------------------------------------------------- schedules


def test_warmup_cosine_multiplier_against_the_formula():
    recipe = train.Recipe("adam", 1.0, 2, 8, "warmup_cosine", steps=100, warmup_steps=10)
    s = train.schedule(recipe)
    assert float(s(0)) == 0.0 and float(s(5)) == pytest.approx(0.5)
    assert float(s(10)) == pytest.approx(1.0)
    # cosine from step 10 to 100: 0.5 (1 + cos(pi (t - 10) / 90))
    assert float(s(55)) == pytest.approx(0.5, abs=1e-6)
    assert float(s(100)) == pytest.approx(0.0, abs=1e-7)
    assert float(train.schedule(train.Recipe("adam", 1.0, 2, 8))(37)) == 1.0


def test_the_recipe_holds_the_budget_only_under_a_schedule_that_uses_it():
    """A constant-LR program does not depend on the step budget, so runs of 40 and 400 steps
    share it; under warmup_cosine the budget sets the decay, so they do not."""
    def recipe(**kw):
        return train.Recipe.of(config.resolve("quick", **kw))

    assert recipe(steps=40) == recipe(steps=400, warmup_steps=20)
    assert recipe(steps=40).steps == 0
    cosine = dict(schedule="warmup_cosine", warmup_steps=20)
    assert recipe(steps=40, **cosine) != recipe(steps=400, **cosine)
    assert (recipe(steps=400, **cosine).steps, recipe(steps=400, **cosine).warmup_steps) == (
        400, 20)


def test_schedule_scales_the_update():
    """With SGD the update is -lr × multiplier × gradient: step 0 of a warmup does nothing."""
    recipe = train.Recipe("sgd", 0.0, 2, 8, "warmup_cosine", steps=10, warmup_steps=2)
    tx = train.optimizer(recipe, 0.5)
    p = {"w": jnp.ones(3)}
    state = tx.init(p)
    g = {"w": jnp.full(3, 2.0)}
    u0, state = tx.update(g, state, p)
    u1, state = tx.update(g, state, p)
    np.testing.assert_allclose(np.asarray(u0["w"]), 0.0)
    np.testing.assert_allclose(np.asarray(u1["w"]), -0.5 * 0.5 * 2.0, rtol=1e-6)


def test_bad_schedule_or_readout_names_the_option():
    with pytest.raises(ConfigError, match="did you mean 'warmup_cosine'"):
        config.resolve("quick", schedule="warmup_cosin")
    with pytest.raises(ConfigError, match="readout"):
        config.resolve("quick", readout="dense")
    with pytest.raises(ConfigError, match="warmup_steps"):
        config.resolve("quick", schedule="warmup_cosine", warmup_steps=400)
