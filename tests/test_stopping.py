"""When a run stops costing compute (:class:`bench.sweep.Stopping`), against hand-made curves,
and the vmap path that gathers the active runs into a narrower program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bench import config, data, train
from bench.registry import get_strategy
from bench.sweep import Stopping, _train_active


class _Bundle:  # the two things Stopping reads: the validation data and the floor
    def __init__(self, val_x: np.ndarray, bayes: float) -> None:
        self.val_x, self.floors = val_x, {"bayes": bayes}


def _stopping(stop_collapsed: float, steps: int = 100, val_every: int = 10) -> Stopping:
    cfgs = [config.resolve("quick", steps=steps, val_every=val_every, seed=i,
                           stop_collapsed=stop_collapsed) for i in range(3)]
    # validation data whose per-channel variance is exactly 1: the values ±1 in equal numbers
    val_x = np.tile(np.array([0.0, 1.0, -1.0, 1.0, -1.0])[None, :, None], (2, 1, 7))
    return Stopping(cfgs, _Bundle(val_x, bayes=0.5))  # type: ignore[arg-type]


def test_collapse_rule_on_hand_made_validation_curves():
    s = _stopping(0.3)  # 10 validation points: 3 in a row at the mean predictor
    assert s.patience == [3, 3, 3]
    assert s.at_mean == pytest.approx(1.0 - 0.01 * 0.5)  # variance 1, floor 0.5, 1 % of the gap
    no = np.zeros(3, bool)
    # per run, its first three validation points: run 0 sits at the mean predictor; run 1
    # leaves it at the third point; run 2 leaves, then is worse than the mean predictor (an
    # offset), which counts as collapsed too
    curves = np.array([[1.0, 0.999, 1.0], [1.0, 0.999, 0.9], [0.9, 1.2, 1.3]])
    for k in range(3):
        s.update(10 * (k + 1), curves[:, k], no)
    assert list(s.step) == [30, -1, -1] and s.reason == ["collapsed", "", ""]
    assert list(s.active) == [False, True, True]
    s.update(40, np.asarray([0.1, 1.0, 1.2]), np.array([False, True, False]))
    # a stopped run stays stopped; a divergence stops a run at once; run 2: 3 in a row now
    assert list(s.step) == [30, 40, 40] and s.reason == ["collapsed", "diverged", "collapsed"]


def test_stop_collapsed_zero_never_stops_and_nan_is_not_collapse():
    s = _stopping(0.0)
    for k in range(10):
        s.update(10 * (k + 1), np.asarray([1.0, np.nan, 5.0]), np.zeros(3, bool))
    assert list(s.step) == [-1, -1, -1]
    s = _stopping(0.01)  # rounds up to one point
    s.update(10, np.asarray([1.0, np.nan, 0.2]), np.zeros(3, bool))
    assert s.reason == ["collapsed", "", ""]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_stop_collapsed_out_of_range_is_one_error(bad):
    with pytest.raises(config.ConfigError, match="stop_collapsed"):
        config.resolve("quick", stop_collapsed=bad)


def test_vmap_gathers_the_active_runs_into_a_narrower_program():
    """One active run of five trains in a program of width 2 (ceil(5/2), ceil(5/4)); its
    numbers match the full-width program to float32 rounding, the others are untouched and
    get NaN losses."""
    tiny = dict(hidden=(6, 5), window=8, batch_size=2, steps=4, dropout=0.0, train_sequences=4)
    glorot = get_strategy("glorot")
    cfgs = [config.resolve("quick", lr=1e-2, seed=s, **tiny) for s in range(5)]
    pool = jnp.asarray(data.generate("ar1", 4, 33, 7, seed=3, scale=0.25))
    inits = {c.seed: glorot.init_params(jax.random.PRNGKey(c.seed), c, None) for c in cfgs}
    arch = train.Arch.of(cfgs[0], **glorot.nonlinearities())
    recipe = train.Recipe.of(cfgs[0])
    kw = dict(arch=arch, recipe=recipe, n_steps=3, axis="vmap")
    start = jax.device_get(train.initial_state(inits, cfgs))
    full, loss_full = _train_active(train.initial_state(inits, cfgs), pool, 0,
                                    np.ones(5, bool), **kw)
    active = np.array([False, False, False, True, False])
    part, loss = _train_active(train.initial_state(inits, cfgs), pool, 0, active, **kw)
    assert np.isnan(loss[~active]).all()
    np.testing.assert_allclose(loss[3], loss_full[3], rtol=1e-5)
    for got, ref, first in zip(jax.tree.leaves(jax.device_get(part)),
                               jax.tree.leaves(jax.device_get(full)),
                               jax.tree.leaves(start), strict=True):
        np.testing.assert_allclose(np.asarray(got[3], float), np.asarray(ref[3], float),
                                   rtol=1e-5, atol=1e-7)
        np.testing.assert_array_equal(got[~active], first[~active])
    none, loss_none = _train_active(train.initial_state(inits, cfgs), pool, 0,
                                    np.zeros(5, bool), **kw)
    assert np.isnan(loss_none).all()
    for got, first in zip(jax.tree.leaves(jax.device_get(none)), jax.tree.leaves(start),
                          strict=True):
        np.testing.assert_array_equal(got, first)


def test_stopping_check_counts_a_taken_run_a_changed_run_and_the_saved_steps(tmp_path):
    """bench.studies.stopping_check on hand-made tables (STEPS = 20 steps per run): run 0 is
    stopped as collapsed at step 10 with the rule on (test 0.05 > persistence 0.03: unusable)
    and trains to 0.028 (usable) with it off; run 1 is the same in both; run 2 differs in its
    last digits; run 3 diverged in both."""
    from test_summary_report import run, table

    from bench.studies import stopping_check as sc

    def sweep(mses: list[float], reasons: list[str], rule: float):
        rows = [run("s", 1e-3, seed, m, diverged=seed == 3) | {
                    "stopped_reason": why, "stopped_step": 10 if why == "collapsed" else -1,
                    "cfg.stop_collapsed": rule}
                for seed, (m, why) in enumerate(zip(mses, reasons, strict=True))]
        return table(rows)

    on = sweep([0.05, 0.028, 0.0281, 0.028], ["collapsed", "", "", "diverged"], 0.5)
    off = sweep([0.028, 0.028, 0.0282, 0.028], ["", "", "", "diverged"], 0.0)
    check = sc.compare(on, off)
    assert check.runs["same"].tolist() == [False, True, False, True]
    changed = check.cells.set_index("metric")
    assert changed.loc["usable_frac", "on"] == pytest.approx(2 / 4)  # seeds 1, 2
    assert changed.loc["usable_frac", "off"] == pytest.approx(3 / 4)
    text = sc.markdown(check, "on", "off")
    assert "whose test MSE is the same bit for bit with the rule off: 2 of 3" in text
    assert "ended finite: 1 of 1; usable (finite and below persistence on test): 1" in text
    assert "training steps the rule saved: 10 of 80 (12.5%)" in text
    # the CLI: a sweep without the rule on is one error line, exit status 2
    for name, t in (("on", on), ("off", off)):
        (tmp_path / name).mkdir()
        t.to_parquet(tmp_path / name / "runs.parquet")
    assert sc.main([str(tmp_path / "off"), str(tmp_path / "on"), "--out",
                    str(tmp_path / "x.md")]) == 2
    assert sc.main([str(tmp_path / "on"), str(tmp_path / "off"), "--out",
                    str(tmp_path / "x.md")]) == 0
    assert (tmp_path / "x.md").read_text() == sc.markdown(
        sc.compare(*(sc.load_results(tmp_path / n).runs for n in ("on", "off"))),
        str(tmp_path / "on"), str(tmp_path / "off"))
