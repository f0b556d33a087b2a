"""Metric definitions (bench.summary and its bench/metrics/ registry) on hand-built run tables
with answers computed by hand, docs/metrics.md, and the report end to end.

Every table here is built row by row as the run table of protocol v2 (test and validation
columns, ``arm``); the floors are BAYES = 0.025, PERS = 0.03 and VAR = 0.0625, so
``test_ratio = test_mse / 0.025`` and the gap targets are 0.03 - 0.5 × 0.005 = 0.0275
(steps_to_50) and 0.03 - 0.9 × 0.005 = 0.0255 (steps_to_90).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from bench import summary as sm
from bench.config import resolve
from bench.report import (
    arm_options,
    display_table,
    figure_pngs,
    load_results,
    still_improving_sentence,
    table_markdown,
    write_report,
)
from bench.store import write_json

REPO = Path(__file__).resolve().parent.parent
SWEEP_ID = "sweep-test-0001"
VAR, BAYES, PERS = 0.0625, 0.025, 0.03
STEPS, CURVE, INIT_LEN, TRACE = 20, 10, 1000, 20
VAL_STEPS = [5, 10, 15, 20]
OVERRIDES = {"steps": STEPS, "curve_points": CURVE, "init_length": INIT_LEN}
ARM_OPTIONS = {"clean": {"dropout": 0.0, "peephole_order": "graves"},
               "lasagne-0.1": {"dropout": 0.33, "peephole_order": "lasagne-0.1"}}


def run(strategy: str, lr: float, seed: int, test_mse: float, *, val_mse: float | None = None,
        val_mse_init: float = 0.05, test_mse_init: float = 0.05,
        val_curve: list[float] | None = None, val_steps: list[int] | None = None,
        diverged: bool = False, dataset: str = "ar1", arm: str | None = None,
        frac: list[float] | None = None, first: list[int] | None = None,
        trace: list[list[float]] | None = None, sweep_id: str = SWEEP_ID,
        settings: dict[str, Any] | None = None, wall: float = 2.0) -> dict[str, Any]:
    """One row of the run table. ``val_mse`` defaults to ``test_mse``; ``val_curve`` to a
    straight line from 0.04 to ``val_mse`` over the first half of VAL_STEPS, then flat (never
    "still improving": its last two windows are equal); ``arm`` None leaves the column out."""
    options = ARM_OPTIONS.get(arm or "", {})
    cfg = resolve("quick", strategy=strategy, dataset=dataset, lr=lr, seed=seed, **OVERRIDES,
                  **options, **({"settings": settings} if settings else {}))
    layers = len(cfg.sizes) - 1
    val_mse = test_mse if val_mse is None else val_mse
    steps = list(val_steps if val_steps is not None else VAL_STEPS)
    if val_curve is None:
        end = val_mse if math.isfinite(val_mse) else math.nan
        half = (len(steps) + 1) // 2
        val_curve = list(np.linspace(0.04, end, half)) + [end] * (len(steps) - half)
    loss = list(np.linspace(0.08, 0.03, CURVE))
    if diverged:
        loss[CURVE // 2:] = [math.nan] * (CURVE - CURVE // 2)
    row: dict[str, Any] = {
        "key": f"{strategy}-{dataset}-{arm}-{lr:g}-{seed}", "sweep_id": sweep_id,
        "strategy": strategy, "dataset": dataset, "profile": "quick", "lr": lr, "seed": seed,
        "diverged": diverged, "diverged_step": STEPS // 2 if diverged else -1,
        "val_mse_init": val_mse_init, "val_mse": val_mse, "test_mse_init": test_mse_init,
        "test_mse": test_mse, "test_variance": VAR, "variance": VAR, "bayes_mse": BAYES,
        "persistence_mse": PERS,
        "init_nonfinite_frac": frac if frac is not None else [-4.7e-8] * layers,
        "init_first_nonfinite": first if first is not None else [-1] * layers,
        "init_max_h": [0.3] * layers, "init_max_c": [0.5] * layers,
        "init_h_trace": trace if trace is not None else [[0.3] * TRACE] * layers,
        "loss_curve": loss, "val_curve": [float(v) for v in val_curve], "val_steps": steps,
        "chunk_wall_s": wall, "chunk_runs": 9,
    }
    if arm is not None:
        row["arm"] = arm
    for k, v in cfg.to_dict().items():  # as bench.record.RunRecord.row spells the config
        if k in ("strategy", "dataset", "lr", "seed", "profile", "arm"):
            continue
        if k == "settings":
            row.update({f"cfg.settings.{n}": sv for n, sv in v.items()})
        else:
            row[f"cfg.{k}"] = v
    return row


def table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def row(summary: pd.DataFrame, strategy: str, dataset: str = "ar1",
        arm: str = "default") -> pd.Series:
    sel = summary[(summary["strategy"] == strategy) & (summary["dataset"] == dataset)
                  & (summary["arm"] == arm)]
    assert len(sel) == 1, sel
    return sel.iloc[0]


def shown(summary: pd.DataFrame, strategy: str, label: str, arm: str = "default") -> str:
    """The report's text for ``strategy``'s column ``label``."""
    t = display_table(summary[summary["arm"] == arm])
    return t.loc[t["strategy"] == strategy, label].iloc[0]


LRS = (1e-3, 3e-3, 1e-2)


def stable_then_diverges(arm: str | None = None) -> list[dict]:
    """Every seed usable at 1e-3 and 3e-3; seed 1 diverges at 1e-2."""
    out = []
    for lr, mses in zip(LRS, ([0.029, 0.0295, 0.0298], [0.027, 0.028, 0.029],
                              [0.026, 0.040, 0.027]), strict=True):
        for seed, m in enumerate(mses):
            out.append(run("stable", lr, seed, m, diverged=(lr == 1e-2 and seed == 1), arm=arm))
    return out


def above_persistence() -> list[dict]:
    """Finite everywhere and better than at init (0.05), but above persistence (0.03)."""
    return [run("above", lr, s, 0.031 + 0.001 * s, test_mse_init=0.05) for lr in LRS
            for s in range(3)]


# ------------------------------------------------------------------------------ per run


def test_usable_means_beating_persistence_on_test() -> None:
    df = table([
        run("a", 1e-3, 0, 0.029, test_mse_init=0.020),  # worse than at init, below persistence
        run("a", 1e-3, 1, 0.031, test_mse_init=0.050),  # better than at init, above persistence
        run("a", 1e-3, 2, 0.030),  # exactly persistence: not below it
        run("a", 1e-2, 0, 0.028, diverged=True),  # diverged in training
        run("a", 1e-2, 1, math.nan),  # non-finite test MSE
        run("a", 1e-2, 2, 0.026, test_mse_init=math.nan),  # non-finite at init: irrelevant
    ])
    f = sm.run_flags(df)
    assert f["finite"].tolist() == [True, True, True, False, False, True]
    assert f["usable"].tolist() == [True, False, False, False, False, True]
    assert "improved" not in f.columns
    assert f["test_ratio"].iloc[0] == pytest.approx(1.16)  # 0.029 / 0.025
    assert f["gap_closed"].iloc[0] == pytest.approx(0.2)  # (0.03 - 0.029) / 0.005
    assert f["gap_closed"].iloc[1] == pytest.approx(-0.2)  # (0.03 - 0.031) / 0.005
    df2 = table([run("b", 1e-3, 0, 0.029, val_mse=0.0275)])
    assert sm.run_flags(df2)["val_ratio"].iloc[0] == pytest.approx(1.1)  # 0.0275 / 0.025
    assert set(sm.FLAG_COLUMNS) <= set(f.columns)
    assert (f["arm"] == "default").all()  # no arm column: one arm, "default"


def test_run_flags_rejects_an_old_protocol_table() -> None:
    old = table([run("a", 1e-3, 0, 0.03)]).rename(
        columns={"test_mse": "eval_mse", "test_mse_init": "eval_mse_init",
                 "test_variance": "eval_variance"}).drop(columns=["val_mse", "val_mse_init",
                                                                  "val_curve", "val_steps"])
    with pytest.raises(ValueError) as e:
        sm.run_flags(old)
    text = str(e.value)
    assert "\n" not in text
    for col in ("test_mse", "test_mse_init", "val_mse", "val_mse_init", "val_curve",
                "val_steps"):
        assert col in text, col
    assert "older protocol" in text


def test_val_curve_and_val_steps_must_have_the_same_length() -> None:
    bad = table([run("a", 1e-3, 0, 0.03, val_curve=[0.04, 0.03], val_steps=[10, 20, 30])])
    with pytest.raises(ValueError, match=r"\(default, ar1, a, lr 0.001, seed 0\).*2 points"):
        sm.run_flags(bad)


def test_steps_to_targets() -> None:
    # targets: 50 % -> 0.0275, 90 % -> 0.0255
    df = table([
        # seed 0: 0.027 at step 15 is the first <= 0.0275; 0.0254 at step 20 the first <= 0.0255
        run("s", 1e-3, 0, 0.026, val_curve=[0.04, 0.028, 0.027, 0.0254]),
        # seed 1: at init already 0.027 <= 0.0275 -> 0; never <= 0.0255 -> censored (NaN)
        run("s", 1e-3, 1, 0.026, val_mse_init=0.027, val_curve=[0.029, 0.027, 0.026, 0.0256]),
        # seed 2: never reaches either; a NaN point (diverged) does not count as reached
        run("s", 1e-3, 2, 0.029, val_curve=[0.04, 0.035, math.nan, math.nan]),
    ])
    f = sm.run_flags(df)
    assert f["steps_to_50"].iloc[0] == 15 and f["steps_to_90"].iloc[0] == 20
    assert f["steps_to_50"].iloc[1] == 0 and math.isnan(f["steps_to_90"].iloc[1])
    assert math.isnan(f["steps_to_50"].iloc[2]) and math.isnan(f["steps_to_90"].iloc[2])
    r = row(sm.summarize(df), "s")
    # steps_to_50 over seeds: [15, 0, censored] -> sorted [0, 15, inf] -> median 15
    assert r["steps_to_50_median"] == 15 and not r["steps_to_50_censored"]
    # steps_to_90: [20, censored, censored] -> median inf -> censored, shown "> 20"
    assert math.isnan(r["steps_to_90_median"]) and r["steps_to_90_censored"]
    assert r["steps"] == STEPS
    t = sm.summary_table(df)
    assert shown(t, "s", "steps to 90 % of gap (val)") == "> 20"
    assert shown(t, "s", "steps to 50 % of gap (val)") == "15"


def test_val_auc() -> None:
    df = table([
        # flat at 0.03 / 0.025 = 1.2 from init to the end -> AUC 1.2
        run("flat", 1e-3, 0, 0.03, val_mse_init=0.03, val_curve=[0.03] * 4),
        # (0, 2.0), (10, 1.2), (20, 1.0): ((2.0 + 1.2) / 2 * 10 + (1.2 + 1.0) / 2 * 10) / 20
        #   = (16 + 11) / 20 = 1.35
        run("two", 1e-3, 0, 0.025, val_mse_init=0.05, val_curve=[0.03, 0.025],
            val_steps=[10, 20]),
        # a non-finite point -> NaN
        run("nan", 1e-3, 0, 0.03, val_curve=[0.03, math.nan, 0.03, 0.03]),
        run("nan", 1e-3, 1, 0.03, val_mse_init=math.inf),
    ])
    f = sm.run_flags(df).set_index(["strategy", "seed"])["val_auc"]
    assert f[("flat", 0)] == pytest.approx(1.2)
    assert f[("two", 0)] == pytest.approx(1.35)
    assert math.isnan(f[("nan", 0)]) and math.isnan(f[("nan", 1)])
    assert sm.curve_auc([0.03, 0.025], [10, 20], 0.05, BAYES) == pytest.approx(1.35)
    s = sm.summarize(df)
    assert row(s, "flat")["val_auc_median"] == pytest.approx(1.2)
    assert row(s, "nan")["val_auc_median"] == math.inf  # NaN counts as +inf in the median


def test_val_auc_median_over_seeds() -> None:
    df = table([
        run("m", 1e-3, 0, 0.03, val_mse_init=0.03, val_curve=[0.03] * 4),  # 1.2
        run("m", 1e-3, 1, 0.025, val_mse_init=0.05, val_curve=[0.03, 0.025],
            val_steps=[10, 20]),  # 1.35
        run("m", 1e-3, 2, 0.03, val_curve=[0.03, math.nan, 0.03, 0.03]),  # NaN -> +inf
    ])
    # sorted [1.2, 1.35, inf] -> 1.35
    assert row(sm.summarize(df), "m")["val_auc_median"] == pytest.approx(1.35)


def test_still_improving() -> None:
    ten = [10 * i for i in range(1, 11)]  # S = 100: last window (80, 100], before (60, 80]
    # last window: steps 90, 100; before: 70, 80
    down = [0.05, 0.045, 0.04, 0.035, 0.033, 0.032, 0.031, 0.030, 0.0298, 0.0296]
    # mean(0.0298, 0.0296) = 0.0297 < 0.99 * mean(0.031, 0.030) = 0.030195 -> improving
    flat = down[:6] + [0.0300, 0.0300, 0.0299, 0.0298]
    # 0.02985 > 0.99 * 0.0300 = 0.0297 -> not
    noisy = down[:6] + [0.0300, 0.0300, 0.0290, 0.0305]
    # one low point alone would say "improving"; mean 0.02975 > 0.0297 -> not
    df = table([
        run("i", 1e-3, 0, 0.0296, val_curve=down, val_steps=ten),
        run("i", 1e-3, 1, 0.0298, val_curve=flat, val_steps=ten),
        # steps 30, 60, 90, 100: last window {90, 100} mean 0.0295, before {} (60 < s <= 80)
        # is empty... so use 20, 40, ..., 100: last {100}? (80, 100] = {100}, before {80}
        run("i", 1e-3, 2, 0.029, val_curve=[0.04, 0.035, 0.031, 0.030, 0.029],
            val_steps=[20, 40, 60, 80, 100]),  # 0.029 < 0.99 * 0.030 = 0.0297 -> improving
        # the same curve, but the run diverged -> False
        run("i", 1e-2, 0, 0.029, val_curve=[0.04, 0.035, 0.031, 0.030, 0.029],
            val_steps=[20, 40, 60, 80, 100], diverged=True),
        # a non-finite last point -> False
        run("i", 1e-2, 1, 0.029, val_curve=down[:9] + [math.nan], val_steps=ten),
        # steps 10, 100: the window before the last is empty -> False
        run("i", 1e-2, 2, 0.029, val_curve=[0.05, 0.029], val_steps=[10, 100]),
    ])
    assert not sm.still_improving(noisy, ten)
    assert not sm.still_improving([0.04, 0.035, 0.030, 0.029], [30, 60, 90, 100])  # (60, 80]
    f = sm.run_flags(df)
    assert f["still_improving"].tolist() == [True, False, True, False, False, False]
    assert sm.still_improving(down, ten) and not sm.still_improving(flat, ten)
    r = row(sm.summarize(df), "i")
    assert r["best_lr"] == 1e-3  # 1e-2 has a diverged seed
    assert r["still_improving_frac"] == pytest.approx(2 / 3)
    flags = sm.run_flags(df)
    sentence = still_improving_sentence(sm.summarize(df), flags)
    assert "`i` (2 of 3 seeds)" in sentence and "too short" in sentence
    calm = table([run("c", 1e-3, s, 0.029) for s in range(2)])
    assert still_improving_sentence(sm.summarize(calm), sm.run_flags(calm)).startswith(
        "No best-LR run was still improving")


# ------------------------------------------------------------------------- per strategy


def test_max_usable_lr_stops_below_a_diverging_seed() -> None:
    r = row(sm.summarize(table(stable_then_diverges())), "stable")
    assert r["max_usable_lr"] == 3e-3 and not r["max_usable_censored"]  # 1e-2 was run, failed
    ratios = np.array([0.027, 0.028, 0.029]) / BAYES  # 1.08, 1.12, 1.16
    assert r["usable_ratio_median"] == pytest.approx(1.12)
    assert r["usable_ratio_q25"] == pytest.approx(np.quantile(ratios, 0.25))  # 1.10
    assert r["usable_ratio_q75"] == pytest.approx(1.14)
    assert r["usable_spread"] == pytest.approx((0.029 - 0.027) / 0.028)
    assert r["divergence_rate"] == pytest.approx(1 / 9)
    assert r["stable_frac"] == pytest.approx(8 / 9)
    assert r["usable_frac"] == pytest.approx(8 / 9)
    # best: the smallest median val_ratio (val = test here) among LRs with every seed finite:
    # 1e-3 -> 0.0295, 3e-3 -> 0.028, 1e-2 excluded (a diverged seed) -> 3e-3
    assert r["best_lr"] == 3e-3
    assert r["best_ratio_median"] == pytest.approx(1.12)
    assert r["best_gap_closed"] == pytest.approx(0.4)  # (0.03 - 0.028) / 0.005
    assert (r["runs"], r["seeds"], r["lrs"]) == (9, 3, 3)


def test_collapsed_rate_counts_runs_stopped_as_collapsed_only() -> None:
    recs = [run("s", lr, seed, 0.028, diverged=(lr, seed) == (1e-3, 1))
            for lr in (1e-3, 1e-2) for seed in range(2)]
    # collapsed; diverged (stopped, but not collapsed); trained to its budget; collapsed
    for r, reason in zip(recs, ["collapsed", "diverged", "", "collapsed"], strict=True):
        r["stopped_reason"] = reason
        r["cfg.stop_collapsed"] = 0.5
    assert row(sm.summarize(table(recs)), "s")["collapsed_rate"] == pytest.approx(2 / 4)
    # the rule off for every run (the default), or a table from before runs could stop: NaN,
    # and the report leaves the blank column out
    off = table([run("o", 1e-3, s, 0.028) | {"stopped_reason": ""} for s in range(2)])
    older = table([run("o", 1e-3, 0, 0.028)]).drop(columns="stopped_reason", errors="ignore")
    for t in (off, older):
        summary = sm.summarize(t)
        assert np.isnan(row(summary, "o")["collapsed_rate"])
        assert "stopped as collapsed" not in display_table(summary).columns
    assert "stopped as collapsed" in display_table(sm.summarize(table(recs))).columns


def test_max_usable_lr_has_no_holes() -> None:
    mses = {1e-3: 0.028, 3e-3: 0.031, 1e-2: 0.027}  # usable at 1e-3 and 1e-2, not at 3e-3
    recs = [run("holey", lr, s, m) for lr, m in mses.items() for s in range(2)]
    recs[2]["test_mse"] = 0.029  # one seed at 3e-3 is below persistence, the other is not
    r = row(sm.summarize(table(recs)), "holey")
    assert r["max_usable_lr"] == 1e-3 and not r["max_usable_censored"]
    assert r["usable_ratio_median"] == pytest.approx(1.12)  # 0.028 / 0.025
    assert r["usable_frac"] == pytest.approx(5 / 6)


def test_lrs_below_the_usable_block_are_not_holes() -> None:
    """An LR too small to beat persistence within the budget is below the usable block, not a
    hole in it: usable at 3e-3 and 1e-2 (the top) gives 1e-2, censored."""
    mses = {1e-3: 0.031, 3e-3: 0.028, 1e-2: 0.027}
    r = row(sm.summarize(table([run("slow", lr, s, m) for lr, m in mses.items()
                                for s in range(2)])), "slow")
    assert r["max_usable_lr"] == 1e-2 and r["max_usable_censored"]


def test_censored_largest_usable_lr() -> None:
    lrs = (1e-3, 3e-3, 1e-2, 3e-2)
    recs = [run("all", lr, s, 0.028) for lr in lrs for s in range(2)]  # usable at every LR
    recs += [run("top", lr, s, 0.028 if lr < 3e-2 else 0.035) for lr in lrs for s in range(2)]
    recs += [run("none", lr, s, 0.031) for lr in lrs for s in range(2)]  # never usable
    t = sm.summary_table(table(recs))
    a, top, none = row(t, "all"), row(t, "top"), row(t, "none")
    assert a["max_usable_lr"] == 3e-2 and a["max_usable_censored"]
    assert top["max_usable_lr"] == 1e-2 and not top["max_usable_censored"]
    assert math.isnan(none["max_usable_lr"]) and pd.isna(none["max_usable_censored"])
    assert shown(t, "all", "largest usable LR") == "≥ 0.03"
    assert shown(t, "top", "largest usable LR") == "0.01"
    assert shown(t, "none", "largest usable LR") == "none"
    assert shown(t, "Bayes floor (reference)", "largest usable LR") == ""
    labels = list(display_table(t).columns)
    assert "largest usable LR censored" not in labels and "steps per run" not in labels


def test_best_lr_is_chosen_on_validation_not_test() -> None:
    recs = []
    for s in range(3):
        recs.append(run("v", 1e-3, s, 0.029, val_mse=0.027))  # best on validation
        recs.append(run("v", 1e-2, s, 0.026, val_mse=0.028))  # best on test
        # best on validation of all, but one seed diverged -> not a candidate
        recs.append(run("v", 3e-2, s, 0.026, val_mse=0.0255, diverged=s == 0))
    r = row(sm.summarize(table(recs)), "v")
    assert r["best_lr"] == 1e-3
    assert r["best_ratio_median"] == pytest.approx(1.16)  # the test ratio there, 0.029 / 0.025
    assert r["best_gap_closed"] == pytest.approx(0.2)


def test_best_lr_takes_the_smaller_lr_on_a_validation_tie() -> None:
    recs = [run("tie", lr, s, t, val_mse=0.027) for lr, t in ((1e-3, 0.029), (1e-2, 0.026))
            for s in range(2)]
    r = row(sm.summarize(table(recs)), "tie")
    assert r["best_lr"] == 1e-3 and r["best_ratio_median"] == pytest.approx(1.16)


def test_all_runs_diverged() -> None:
    recs = [run("dead", lr, s, math.nan, diverged=True) for lr in LRS for s in range(2)]
    r = row(sm.summarize(table(recs)), "dead")
    assert r["divergence_rate"] == 1 and r["stable_frac"] == 0
    assert math.isnan(r["max_usable_lr"]) and math.isnan(r["best_ratio_median"])
    assert math.isnan(r["best_lr"]) and math.isnan(r["still_improving_frac"])
    assert math.isnan(r["steps_to_50_median"]) and pd.isna(r["steps_to_50_censored"])


def test_one_lr_one_seed() -> None:
    r = row(sm.summarize(table([run("solo", 1e-3, 0, 0.028)])), "solo")
    assert r["max_usable_lr"] == 1e-3 and r["max_usable_censored"] and r["best_lr"] == 1e-3
    assert r["usable_spread"] == 0
    assert r["usable_ratio_q25"] == r["usable_ratio_median"] == r["usable_ratio_q75"]
    assert (r["runs"], r["seeds"], r["lrs"]) == (1, 1, 1)


def test_nan_rate_init_uses_the_last_layer_and_ignores_round_off() -> None:
    recs = []
    for lr in (1e-3, 1e-2):  # the init diagnostics repeat for every LR of a seed
        recs += [
            run("n", lr, 0, 0.028, frac=[0.0, 0.2, 0.5], first=[-1, 700, 400]),
            run("n", lr, 1, 0.028, frac=[-4e-8, -4e-8, 1e-8], first=[-1, -1, -1]),
            run("n", lr, 2, 0.028, frac=[0.1, 0.0, -4e-8], first=[900, -1, -1]),
            run("n", lr, 3, 0.028, frac=[0.0, 0.0, 1.0], first=[-1, -1, 0]),
        ]
    r = row(sm.summarize(table(recs)), "n")
    assert r["nan_rate_init"] == pytest.approx((0.5 + 0 + 0 + 1.0) / 4)
    assert r["init_nonfinite_any"] == pytest.approx(3 / 4)
    frac, bad = sm.layer_nonfinite([-4e-8, 0.3], [-1, 5])
    assert frac.tolist() == [0.0, 0.3] and bad.tolist() == [False, True]
    frac, bad = sm.layer_nonfinite(np.array([0.0, 0.25]))  # without first_nonfinite
    assert bad.tolist() == [False, True]


def test_grouping_by_arm() -> None:
    recs = [run("g", 1e-3, s, 0.028, arm="clean") for s in range(2)]
    recs += [run("g", 1e-3, s, 0.031, arm="lasagne-0.1") for s in range(2)]
    t = sm.summary_table(table(recs))
    strategies = t[t["kind"] == "strategy"]
    assert list(zip(strategies["arm"], strategies["strategy"], strict=True)) == [
        ("clean", "g"), ("lasagne-0.1", "g")]  # the same strategy: one row per arm
    assert row(t, "g", arm="clean")["max_usable_lr"] == 1e-3
    assert math.isnan(row(t, "g", arm="lasagne-0.1")["max_usable_lr"])
    assert row(t, "g", arm="lasagne-0.1")["best_ratio_median"] == pytest.approx(1.24)
    assert list(t["arm"]) == ["clean"] * 4 + ["lasagne-0.1"] * 4  # references per arm
    assert list(t.columns[:4]) == ["arm", "dataset", "strategy", "kind"]
    options = arm_options(sm.run_flags(table(recs)))
    assert options == {"clean": "dropout=0, peephole_order=graves",
                       "lasagne-0.1": "dropout=0.33, peephole_order=lasagne-0.1"}
    # a strategy's own setting, run in one arm only, is not an option of that arm
    chrono = run("chrono", 1e-3, 0, 0.028, arm="clean", settings={"t_max": 256.0})
    assert arm_options(sm.run_flags(table([*recs, chrono]))) == options
    assert arm_options(sm.run_flags(table(recs[:2]))) == {"clean": ""}


def test_reference_rows() -> None:
    df = table(stable_then_diverges() + [run("x", 1e-3, 0, 0.03, dataset="ar2")])
    refs = sm.reference_rows(df)
    assert len(refs) == 6 and set(refs["kind"]) == {"reference"}
    ar1 = refs[refs["dataset"] == "ar1"].set_index("strategy")
    assert list(ar1.index) == ["Bayes floor", "persistence", "mean predictor"]
    assert (ar1["arm"] == "default").all()
    assert ar1.loc["Bayes floor", "usable_ratio_median"] == 1.0
    assert ar1.loc["persistence", "usable_ratio_median"] == pytest.approx(1.2)  # 0.03 / 0.025
    assert ar1.loc["mean predictor", "best_ratio_median"] == pytest.approx(2.5)  # 0.0625/0.025
    assert ar1.loc["mean predictor", "val_auc_median"] == pytest.approx(2.5)
    assert ar1.loc["persistence", "best_gap_closed"] == 0.0
    assert ar1.loc["Bayes floor", "best_gap_closed"] == 1.0
    assert ar1.loc["mean predictor", "best_gap_closed"] == pytest.approx(-6.5)  # -0.0325/0.005


def test_sort_rule() -> None:
    recs = []
    for name, m in (("zz", 0.0275), ("aa", 0.0275), ("mid", 0.029)):  # usable everywhere
        recs += [run(name, lr, s, m) for lr in LRS for s in range(2)]
    # no usable LR (seed 0 diverges at 1e-3 and 1e-2; at 3e-3 seed 1 is above persistence
    # 0.03), yet the lowest best ratio of all (median of 0.020 and 0.032 = 0.026, / 0.025 =
    # 1.04 at 3e-3): it still goes after every strategy with a usable LR
    recs += [run("never", lr, s, (0.020 if s == 0 else 0.032) if lr == 3e-3 else 0.026,
                 diverged=lr != 3e-3 and s == 0) for lr in LRS for s in range(2)]
    # no usable LR and no best ratio (NaN last, despite its name)
    recs += [run("a-dead", lr, s, math.nan, diverged=True) for lr in LRS for s in range(2)]
    # a second arm is sorted on its own, after the first (alphabetical)
    recs += [run("b", 1e-3, s, 0.028, arm="lasagne-0.1") for s in range(2)]
    for r in recs:
        r.setdefault("arm", "clean")
    out = sm.summarize(table(recs))
    assert list(out["strategy"]) == ["aa", "zz", "mid", "never", "a-dead", "b"]
    assert row(out, "never", arm="clean")["best_ratio_median"] == pytest.approx(1.04)
    assert list(out["arm"]) == ["clean"] * 5 + ["lasagne-0.1"]


def test_summary_table_groups_references_after_strategies() -> None:
    df = table(stable_then_diverges() + [run("x", 1e-3, 0, 0.028, dataset="ar2")])
    t = sm.summary_table(df)
    assert list(t["dataset"]) == ["ar1"] * 4 + ["ar2"] * 4
    assert list(t["kind"]) == (["strategy"] + ["reference"] * 3) * 2
    assert list(t.columns) == list(sm.SUMMARY_COLUMNS)
    shown_t = display_table(t[t["dataset"] == "ar1"])
    assert shown_t.iloc[0]["largest usable LR"] == "0.003"
    assert shown_t.iloc[1]["strategy"] == "Bayes floor (reference)"


def test_registry_defines_every_metric() -> None:
    metrics, errors = sm.metric_registry()
    assert errors == {}
    names = [m.name for m in metrics]
    assert names == ["max_usable_lr", "max_usable_censored", "usable_ratio_median",
                     "usable_spread", "best_lr", "best_ratio_median",
                     "best_pooled_ratio_median", "best_gap_closed",
                     "steps_to_50_median", "steps_to_50_censored", "steps_to_90_median",
                     "steps_to_90_censored", "val_auc_median", "still_improving_frac",
                     "divergence_rate", "collapsed_rate", "stable_frac", "usable_frac",
                     "nan_rate_init", "init_nonfinite_any", "growth_init", "jac_radius_init",
                     "memory_horizon_init", "saturation_init", "growth_trained",
                     "jac_radius_trained", "nonfinite_trained", "runs", "seeds", "lrs", "steps"]
    by_column = {c: m for m in metrics for c in m.columns}
    for col in sm.SUMMARY_COLUMNS:
        if col not in sm.KEY_COLUMNS:
            m = by_column[col]
            assert m.description.strip() and m.label.strip(), col
            assert m.direction in ("lower", "higher", "none")
    assert by_column["best_ratio_q25"].name == "best_ratio_median"
    assert [name for name, _ in sm.RUN_DEFINITIONS] == list(sm.FLAG_COLUMNS)
    assert "usable LR first" in sm.SORT_RULE and "(arm, dataset)" in sm.SORT_RULE
    text = sm.definitions_markdown(metrics)
    for col in sm.SUMMARY_COLUMNS[4:]:
        assert f"`{col}`" in text, col
    for word in ("eval_", "improved"):
        assert word not in text, word


def test_metrics_doc_is_generated() -> None:
    doc = REPO / "docs" / "metrics.md"
    assert doc.read_text() == sm.metrics_markdown(), "run `python -m bench docs`"
    assert "## Adding a metric" in doc.read_text()


def test_table_markdown_escapes_pipes() -> None:
    md = table_markdown(pd.DataFrame({"a": ["x|y", "z"], "b": ["1e-04", "22"]}))
    lines = md.splitlines()
    assert len(lines) == 4 and "x\\|y" in lines[2]
    assert "1e-04" in lines[2]  # text stays as formatted, not re-parsed as a number
    assert lines[1].startswith("|:") and lines[1].endswith(":|")


# ------------------------------------------------------------------------------- report


def results_dir(root: Path, rows: list[dict], failures: dict[str, str]) -> Path:
    """A results directory holding ``runs.parquet`` (no ``runs/`` folder), ``sweep.json`` and
    ``failures.json``."""
    root.mkdir(parents=True, exist_ok=True)
    table(rows).to_parquet(root / "runs.parquet", index=False)
    spec = {"profile": "quick", "strategies": "all", "datasets": ["ar1"], "lrs": list(LRS),
            "seeds": 3, "overrides": OVERRIDES, "max_runs": 64}
    env = {"python": "3.11", "jax": "0.0", "optax": "0.0", "numpy": "2", "platform": "test",
           "device": "cpu:cpu", "device_count": 1, "cpu_count": 2, "git_commit": "abc1234"}
    last = {"ran": len(rows), "skipped": 0, "failures": failures, "corrupt": [],
            "wall_s": 12.5, "table": "runs.parquet"}
    write_json(root / "sweep.json", {"sweep_id": SWEEP_ID, "spec": spec, "environment": env,
                                     "last_run": last})
    write_json(root / "failures.json", failures)
    return root


def blowup_runs(arm: str | None = None) -> list[dict]:
    """Non-finite at init from t = 600 in every layer; every run diverges."""
    grow = [min(10.0 ** (i / 2), 1e30) for i in range(TRACE)]
    trace = [grow[:12] + [math.inf] * (TRACE - 12)] * 3
    return [run("blowup", lr, s, math.nan, diverged=True, frac=[0.4, 0.4, 0.4],
                first=[600, 600, 600], trace=trace, arm=arm,
                val_curve=[0.04, math.nan, math.nan, math.nan]) for lr in LRS for s in range(3)]


def improving_runs(arm: str | None = None) -> list[dict]:
    """Usable at every LR (0.0285 < 0.03: censored); still improving at every LR (the first
    step at or after 0.8 × 20 = 16 has 0.03, the last 0.0285 < 0.99 × 0.03); never reaches the
    targets 0.0275 and 0.0255."""
    curve = [0.04, 0.032, 0.03, 0.0285]
    return [run("improving", lr, s, 0.0285, val_curve=curve, val_steps=[5, 10, 16, 20],
                arm=arm) for lr in LRS for s in range(3)]


def test_write_report(tmp_path: Path) -> None:
    failures = {"broken": "strategies/broken.py: init_params raised ZeroDivisionError: boom"}
    recs = []
    for arm in ("clean", "lasagne-0.1"):
        recs += stable_then_diverges(arm) + blowup_runs(arm) + improving_runs(arm)
        recs += [dict(r, arm=arm) for r in above_persistence()]
    for r in recs:  # the arms' options, as a sweep would record them
        r.update({f"cfg.{k}": v for k, v in ARM_OPTIONS[r["arm"]].items()})
    root = results_dir(tmp_path / "res", recs, failures)
    md_path, html_path = write_report(root)
    assert (md_path, html_path) == (root / "report.md", root / "report.html")
    md, page = md_path.read_text(), html_path.read_text()
    n_figures = len(list((Path(sm.__file__).parent / "figures").glob("[!_]*.py")))
    assert n_figures == 9  # the built-in figure modules
    assert page.count("data:image/png;base64,") == n_figures
    assert not re.search(r'src="(?!data:)', page)  # nothing fetched from elsewhere
    assert len(page) < 1_500_000
    for name in ("stable", "above", "blowup", "improving", "broken", "ZeroDivisionError: boom"):
        assert name in md and name in page, name
    figures = re.findall(r"\]\((figures/[\w.-]+\.png)\)", md)
    assert len(figures) == n_figures and "figures/validation_curves.png" in figures
    for f in figures:
        assert (root / f).read_bytes().startswith(b"\x89PNG"), f
    assert "runs.parquet" in md and "abc1234" in md
    assert "| stable " in md and "Bayes floor (reference)" in md
    assert "max_usable_lr" in md and "still_improving" in md  # the definitions are in
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## Findings", "## Summary", "## Paired comparisons", "## More figures",
                     "## Failures", "## What was run", "## Metric definitions",
                     "## Environment and wall time"]  # no "Per channel": no channel values
    assert md.index("## Findings") < md.index("figures/lr_sensitivity.png") < md.index("## Summary")
    findings = md[md.index("## Findings"):md.index("## Summary")]
    summary = md[md.index("## Summary"):md.index("## Paired comparisons")]
    clean = "### Arm `clean`: dropout=0, peephole_order=graves"
    lasagne = "### Arm `lasagne-0.1`: dropout=0.33, peephole_order=lasagne-0.1"
    for part in (findings, summary):
        assert part.index(clean) < part.index("#### Dataset `ar1`") < part.index(lasagne)
    assert "`blowup` (100% of seeds)" in findings  # non-finite at init
    assert "No usable learning rate" in findings and "`above`" in findings
    assert "`improving` (≥ 0.01)" in findings  # censored largest usable LR
    # improving: 16 >= 0.8 * 20 is the point compared with the last: 0.0285 < 0.99 * 0.03
    assert "`improving` (3 of 3 seeds)" in findings and "too short" in findings
    assert "did not close 90 %" in findings  # 0.0285 > 0.0255 at every point
    assert "paired over 3 seeds" in findings and "intervals are wide" in findings
    # 3 seeds never resolve a difference (compare.MIN_SEEDS): everything is "not resolved"
    assert "Not resolved against `" in findings and "Closer to the floor" not in findings
    for claim in ("Lowest", "best strategy", "better than"):
        assert claim not in findings, claim
    assert "Budget: 20 training steps per run." in summary
    assert "≥ 0.01" in summary and "> 20" in summary
    assert "`steps`: 20" in md  # every config field, labelled by its name
    assert "`dropout` (per arm): clean: 0, lasagne-0.1: 0.33" in md
    csv = pd.read_csv(root / "summary.csv")
    assert list(csv.columns) == list(sm.SUMMARY_COLUMNS)
    assert set(csv["strategy"]) >= {"stable", "above", "blowup", "improving", "Bayes floor"}
    assert set(csv["arm"]) == {"clean", "lasagne-0.1"}
    assert not list(root.glob(".*.tmp")) and not list((root / "figures").glob(".*.tmp"))


@pytest.mark.parametrize(("budget", "rendered", "chosen"), [
    (4 * 80**2, [80], 80),  # fits at the first DPI
    (4 * 64**2, [80, 64], 64),  # 64 is predicted to fit and does
    (4 * 50**2, [80, 50], 50),  # 64 predicted over: skipped; the last is rendered
    (4 * 10**2, [80, 50], 50),  # nothing fits: the last DPI, rendered once
])
def test_figure_pngs_renders_only_the_dpis_that_can_fit(budget: int, rendered: list[int],
                                                        chosen: int) -> None:
    """Hand-made sizes: two figures of 1.5 (dpi)² bytes each, 4 (dpi)² in base64."""
    calls: list[int] = []

    def render(fig: Any, dpi: int) -> bytes:
        calls.append(dpi)
        return b"x" * int(1.5 * dpi**2)

    dpi, pngs = figure_pngs({"a": None, "b": None}, (80, 64, 50), budget, render)  # type: ignore[dict-item]
    assert (dpi, sorted(set(calls))[::-1], len(calls)) == (chosen, rendered, 2 * len(rendered))
    assert set(pngs) == {"a", "b"} and len(pngs["a"]) == int(1.5 * chosen**2)


def test_figure_pngs_keeps_a_dpi_the_square_law_does_not_rule_out() -> None:
    """Sizes that grow slower than (dpi)² (as PNGs of line art do): 64 would be skipped by a
    linear prediction from 80, but the square law keeps it, and it fits."""
    sizes = {80: 1000, 64: 700, 50: 500}
    dpi, _ = figure_pngs({"a": None}, (80, 64, 50), 700 * 4 / 3,  # type: ignore[dict-item]
                         lambda fig, d: b"x" * sizes[d])
    assert dpi == 64


def test_write_report_one_lr_one_seed_and_other_sweeps(tmp_path: Path) -> None:
    root = tmp_path / "res"
    recs = [run("solo", 1e-3, 0, 0.028, settings={"t_max": 256.0}),
            run("dead", 1e-3, 0, math.nan, diverged=True)]
    stale = run("solo", 1e-3, 0, 0.5, sweep_id="an-older-sweep")  # same cell, another sweep
    other = run("gone", 1e-3, 0, 0.028, sweep_id="an-older-sweep")
    results_dir(root, [*recs, stale, other], {})
    res = load_results(root)
    assert sorted(res.runs["strategy"]) == ["dead", "solo"]
    assert float(res.runs.loc[res.runs["strategy"] == "solo", "test_mse"].iloc[0]) == 0.028
    md_path, html_path = write_report(root)
    md = md_path.read_text()
    assert "2 record(s) of other sweeps" in md and SWEEP_ID in md
    assert "None: every strategy ran." in md
    assert "### Arm `default` (the only arm)" in md
    assert "data:image/png;base64," in html_path.read_text()
    assert "| solo " in md and "| dead " in md and "gone" not in md
    assert "`settings.t_max` (per strategy): solo: 256" in md
    figures = sorted(p.name for p in (root / "figures").iterdir())
    # rerunning overwrites in place (the report, every figure), leaving no temporary file
    assert write_report(root) == (md_path, html_path)
    assert sorted(p.name for p in (root / "figures").iterdir()) == figures
    assert not list(root.glob(".*.tmp")) and md_path.read_text().count("| solo ") == md.count(
        "| solo ")


def test_records_without_sweep_ids_and_duplicates(tmp_path: Path) -> None:
    """A runs.parquet without a sweep_id column (and no runs/ folder)."""
    root = tmp_path / "res"
    root.mkdir()
    recs = [run("a", 1e-3, s, 0.028) for s in range(2)]
    recs.append(dict(recs[0], key="ffff" + recs[0]["key"], test_mse=0.029))  # same cell
    table(recs).drop(columns="sweep_id").to_parquet(root / "runs.parquet", index=False)
    res = load_results(root)
    assert len(res.runs) == 2
    assert any("predate sweep ids" in n for n in res.notes)
    assert any("no `runs/` folder" in n for n in res.notes)
    assert any("1 duplicate" in n for n in res.notes)
    kept = res.runs.loc[res.runs["seed"] == 0, "test_mse"].iloc[0]
    assert kept == 0.029  # the last one by key
    assert (res.runs["arm"] == "default").all()


def test_the_same_cell_in_two_arms_is_no_duplicate(tmp_path: Path) -> None:
    root = tmp_path / "res"
    root.mkdir()
    recs = [run("a", 1e-3, 0, 0.028, arm="clean"), run("a", 1e-3, 0, 0.029, arm="lasagne-0.1")]
    table(recs).to_parquet(root / "runs.parquet", index=False)
    res = load_results(root)
    assert sorted(res.runs["arm"]) == ["clean", "lasagne-0.1"]
    assert not any("duplicate" in n for n in res.notes)


def test_report_of_an_old_protocol_table_says_what_is_missing(tmp_path: Path) -> None:
    root = tmp_path / "old"
    root.mkdir()
    old = table([run("a", 1e-3, 0, 0.028)]).rename(columns={"test_mse": "eval_mse"})
    old.to_parquet(root / "runs.parquet", index=False)
    with pytest.raises(ValueError, match="lacks column.*test_mse.*older protocol"):
        write_report(root)


def test_write_report_without_runs(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    (root / "runs").mkdir(parents=True)
    (root / "failures.json").write_text(json.dumps({"broken": "import failed"}))
    md_path, html_path = write_report(root)
    assert "No run records found." in md_path.read_text()
    assert "import failed" in html_path.read_text()


def test_the_committed_sample_summary_is_what_its_records_give() -> None:
    """results/sample/summary.csv (written by the report when the sample was made) equals the
    summary computed now from the sample's runs.parquet: a change of any definition that moves
    a committed number fails here until the sample is regenerated."""
    import io

    root = Path(__file__).resolve().parent.parent / "results" / "sample"
    now = io.StringIO()
    sm.summary_table(pd.read_parquet(root / "runs.parquet")).to_csv(now, index=False)
    now.seek(0)
    pd.testing.assert_frame_equal(pd.read_csv(now), pd.read_csv(root / "summary.csv"),
                                  check_exact=False, rtol=1e-12)


def test_test_ratio_is_the_geometric_mean_of_channel_ratios() -> None:
    """Two channels, floors 1.0 and 0.01, MSEs 1.1 and 0.04: channel ratios 1.1 and 4, so
    test_ratio = sqrt(1.1 * 4) = 2.0976…, while the pooled ratio (1.1 + 0.04) / (1.0 + 0.01)
    = 1.1287… hides the channel that is 4× its floor."""
    base = run("g", 1e-3, 0, 0.57)
    base.update(test_mse=0.57, bayes_mse=0.505, test_mse_channels=[1.1, 0.04],
                bayes_channels=[1.0, 0.01], persistence_channels=[1.2, 0.05])
    one = run("g", 1e-3, 1, 0.57)
    one.update(test_mse=0.57, bayes_mse=0.505, test_mse_channels=[1.1, -0.0],
               bayes_channels=[1.0, 0.01], persistence_channels=[1.2, 0.05])
    f = sm.run_flags(table([base, one]))
    assert f["test_ratio"].iloc[0] == pytest.approx(math.sqrt(1.1 * 4.0), rel=1e-12)
    assert f["test_ratio_pooled"].iloc[0] == pytest.approx(0.57 / 0.505, rel=1e-12)
    assert math.isnan(f["test_ratio"].iloc[1])  # a zero channel ratio has no log
    plain = sm.run_flags(table([run("g", 1e-3, 0, 0.03)]))  # no per-channel values: pooled
    assert plain["test_ratio"].iloc[0] == plain["test_ratio_pooled"].iloc[0]


def test_why_sentence_links_growth_to_the_first_nonfinite_step() -> None:
    """A strategy growing ×5.6 per 1 000 steps whose seeds go non-finite at steps 3 700, 3 800
    and 3 900 (last layer) is described as "grows ×5.6 … → non-finite from step ≈ 3800 (3 of 3
    seeds)" with its fastest-growing unit; a bounded one is listed as bounded."""
    from bench.report import why_sentences

    culprit = [[{"unit": 4, "growth_h": 9.0, "b_ingate": 0.0, "b_forgetgate": 10.0,
                 "b_cell": 0.0, "b_outgate": 0.0}], []]
    runs = pd.DataFrame([
        {"strategy": "blowup", "seed": s, "init_first_nonfinite": [-1, step],
         "init_culprits": culprit, "init_growth_h": [5.6, 1.0]}
        for s, step in enumerate((3700, 3800, 3900))]
        + [{"strategy": "calm", "seed": 0, "init_first_nonfinite": [-1, -1],
            "init_culprits": [[], []], "init_growth_h": [1.0, 1.0]}])
    t = pd.DataFrame([
        {"strategy": "blowup", "growth_init": 5.6, "nan_rate_init": 0.6, "jac_radius_init":
         math.nan, "saturation_init": 0.1},
        {"strategy": "calm", "growth_init": 1.01, "nan_rate_init": 0.0, "jac_radius_init": 0.7,
         "saturation_init": 0.0}])
    items = why_sentences(t, runs)
    assert items[0].startswith("`blowup`: max |h| grows ×5.6 per 1 000 steps at init → "
                               "non-finite from step ≈ 3800 (3 of 3 seeds)")
    assert "unit 4 (×9; b_forgetgate 10)" in items[0] and "layer 1" in items[0]
    assert items[1].startswith("Bounded at init") and "`calm`" in items[1]
