"""Metric definitions (bench.summary and its bench/metrics/ registry) on hand-built run tables,
the committed sample's summary, docs/metrics.md, and the report end to end."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import summary as sm
from bench.config import resolve
from bench.record import RunRecord
from bench.report import display_table, load_results, table_markdown, write_report
from bench.store import Store, write_json

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "results" / "sample"
SWEEP_ID = "sweep-test-0001"
VAR, BAYES, PERS = 0.0625, 0.025, 0.03
STEPS, CURVE, INIT_LEN, TRACE = 20, 10, 1000, 20
OVERRIDES = {"steps": STEPS, "curve_points": CURVE, "init_length": INIT_LEN}


def record(strategy: str, lr: float, seed: int, eval_mse: float, *, eval_mse_init: float = 0.05,
           diverged: bool = False, dataset: str = "ar1", frac: list[float] | None = None,
           first: list[int] | None = None, trace: list[list[float]] | None = None,
           wall: float = 2.0) -> dict:
    """One run record with every field that bench.sweep.run_chunk writes."""
    cfg = resolve("quick", strategy=strategy, dataset=dataset, lr=lr, seed=seed, **OVERRIDES)
    layers = len(cfg.sizes) - 1
    curve = list(np.linspace(0.08, max(eval_mse, 1e-3) if math.isfinite(eval_mse) else 0.05,
                             CURVE))
    if diverged:
        curve[CURVE // 2:] = [math.nan] * (CURVE - CURVE // 2)
    return {
        "key": cfg.key(), "strategy": strategy, "dataset": dataset, "profile": "quick",
        "lr": lr, "seed": seed, "config": cfg.to_dict(),
        "init_nonfinite_frac": frac if frac is not None else [-4.7e-8] * layers,
        "init_first_nonfinite": first if first is not None else [-1] * layers,
        "init_max_h": [0.3] * layers, "init_max_c": [0.5] * layers,
        "init_h_trace": trace if trace is not None else [[0.3] * TRACE] * layers,
        "loss_curve": curve, "diverged": diverged, "diverged_step": STEPS // 2 if diverged else -1,
        "eval_mse_init": eval_mse_init, "eval_mse": eval_mse, "variance": VAR, "eval_variance": VAR,
        "bayes_mse": BAYES, "persistence_mse": PERS, "ratio_bayes": eval_mse / BAYES,
        "ratio_persistence": eval_mse / PERS,
        "gap_closed": (PERS - eval_mse) / (PERS - BAYES), "chunk_wall_s": wall, "chunk_runs": 9,
        "sweep_id": SWEEP_ID,
    }


def table(records: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(records)


def row(summary: pd.DataFrame, strategy: str, dataset: str = "ar1") -> pd.Series:
    sel = summary[(summary["strategy"] == strategy) & (summary["dataset"] == dataset)]
    assert len(sel) == 1, sel
    return sel.iloc[0]


LRS = (1e-3, 3e-3, 1e-2)


def stable_then_diverges() -> list[dict]:
    """Every seed usable at 1e-3 and 3e-3; seed 1 diverges at 1e-2."""
    out = []
    for lr, mses in zip(LRS, ([0.030, 0.032, 0.034], [0.028, 0.029, 0.031],
                              [0.027, 0.040, 0.028]), strict=True):
        for seed, m in enumerate(mses):
            out.append(record("stable", lr, seed, m, diverged=(lr == 1e-2 and seed == 1)))
    return out


def worse_than_init() -> list[dict]:
    """Finite everywhere, but eval_mse above eval_mse_init at every LR."""
    return [record("worse", lr, s, 0.045 + 0.001 * s + lr, eval_mse_init=0.04)
            for lr in LRS for s in range(3)]


# ------------------------------------------------------------------------------ per run


def test_run_flags() -> None:
    df = table([
        record("a", 1e-3, 0, 0.03),  # usable
        record("a", 1e-3, 1, 0.03, diverged=True),  # not finite
        record("a", 1e-3, 2, math.nan),  # not finite
        record("a", 3e-3, 0, 0.06, eval_mse_init=0.07),  # improved on init, but 0.06 < 0.0625
        record("a", 3e-3, 1, 0.063, eval_mse_init=0.07),  # worse than the mean predictor
        record("a", 3e-3, 2, 0.05, eval_mse_init=0.04),  # worse than init
        record("a", 1e-2, 0, 0.04, eval_mse_init=math.nan),  # non-finite init counts as +inf
        record("a", 1e-2, 1, 0.04, eval_mse_init=math.inf),
        record("a", 1e-2, 2, 0.07, eval_mse_init=math.nan),  # ... but must beat the variance
    ])
    f = sm.run_flags(df)
    assert f["finite"].tolist() == [True, False, False, True, True, True, True, True, True]
    assert f["improved"].tolist() == [True, True, False, True, False, False, True, True, False]
    assert f["usable"].tolist() == [True, False, False, True, False, False, True, True, False]
    assert f["eval_ratio"].iloc[0] == pytest.approx(0.03 / BAYES)
    assert f["gap_closed"].iloc[0] == pytest.approx((PERS - 0.03) / (PERS - BAYES))


def test_run_flags_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="eval_mse_init"):
        sm.run_flags(table([record("a", 1e-3, 0, 0.03)]).drop(columns="eval_mse_init"))


# ------------------------------------------------------------------------- per strategy


def test_max_usable_lr_stops_below_a_diverging_seed() -> None:
    r = row(sm.summarize(table(stable_then_diverges())), "stable")
    assert r["max_usable_lr"] == 3e-3
    ratios = np.array([0.028, 0.029, 0.031]) / BAYES
    assert r["eval_ratio_median"] == pytest.approx(np.median(ratios))
    assert r["eval_ratio_q25"] == pytest.approx(np.quantile(ratios, 0.25))
    assert r["eval_ratio_q75"] == pytest.approx(np.quantile(ratios, 0.75))
    assert r["eval_spread"] == pytest.approx((0.031 - 0.028) / 0.029)
    assert r["divergence_rate"] == pytest.approx(1 / 9)
    assert r["stable_frac"] == pytest.approx(8 / 9)
    assert r["usable_frac"] == pytest.approx(8 / 9)
    # best: only LRs where every seed is finite (1e-2 has a diverged seed) -> 3e-3
    assert r["best_lr"] == 3e-3
    assert r["best_ratio_median"] == pytest.approx(0.029 / BAYES)
    assert r["best_gap_closed"] == pytest.approx((PERS - 0.029) / (PERS - BAYES))
    assert (r["runs"], r["seeds"], r["lrs"]) == (9, 3, 3)


def test_no_usable_lr_when_worse_than_init_everywhere() -> None:
    r = row(sm.summarize(table(worse_than_init())), "worse")
    assert math.isnan(r["max_usable_lr"])
    for c in ("eval_ratio_median", "eval_ratio_q25", "eval_ratio_q75", "eval_spread"):
        assert math.isnan(r[c]), c
    assert r["usable_frac"] == 0 and r["stable_frac"] == 1 and r["divergence_rate"] == 0
    assert r["best_lr"] == 1e-3  # still finite, so it has a best ratio
    assert r["best_ratio_median"] == pytest.approx(0.047 / BAYES)


def test_nonfinite_init_counts_as_infinite() -> None:
    recs = [record("nan-init", 1e-3, s, 0.04, eval_mse_init=v)
            for s, v in enumerate((math.nan, math.inf, -math.inf))]
    r = row(sm.summarize(table(recs)), "nan-init")
    assert r["max_usable_lr"] == 1e-3


def test_all_runs_diverged() -> None:
    recs = [record("dead", lr, s, math.nan, diverged=True) for lr in LRS for s in range(2)]
    r = row(sm.summarize(table(recs)), "dead")
    assert r["divergence_rate"] == 1 and r["stable_frac"] == 0
    assert math.isnan(r["max_usable_lr"]) and math.isnan(r["best_ratio_median"])
    assert math.isnan(r["best_lr"])


def test_best_ratio_takes_the_smallest_median_and_the_smaller_lr_on_ties() -> None:
    meds = {1e-4: 0.040, 1e-3: 0.030, 1e-2: 0.030, 1e-1: 0.026}
    recs = []
    for lr, m in meds.items():
        for s, d in enumerate((-0.001, 0.0, 0.004)):
            # at 1e-1 one seed diverges: excluded although its median would be smallest
            recs.append(record("b", lr, s, m + d, diverged=(lr == 1e-1 and s == 2)))
    r = row(sm.summarize(table(recs)), "b")
    assert r["best_lr"] == 1e-3
    assert r["best_ratio_median"] == pytest.approx(0.030 / BAYES)
    assert r["best_ratio_q25"] == pytest.approx(np.quantile([0.029, 0.030, 0.034], 0.25) / BAYES)
    assert r["max_usable_lr"] == 1e-2


def test_one_lr_one_seed() -> None:
    r = row(sm.summarize(table([record("solo", 1e-3, 0, 0.03)])), "solo")
    assert r["max_usable_lr"] == 1e-3 and r["best_lr"] == 1e-3
    assert r["eval_spread"] == 0
    assert r["eval_ratio_q25"] == r["eval_ratio_median"] == r["eval_ratio_q75"]
    assert (r["runs"], r["seeds"], r["lrs"]) == (1, 1, 1)


def test_nan_rate_init_uses_the_last_layer_and_ignores_round_off() -> None:
    recs = []
    for lr in (1e-3, 1e-2):  # the init diagnostics repeat for every LR of a seed
        recs += [
            record("n", lr, 0, 0.03, frac=[0.0, 0.2, 0.5], first=[-1, 700, 400]),
            record("n", lr, 1, 0.03, frac=[-4e-8, -4e-8, 1e-8], first=[-1, -1, -1]),
            record("n", lr, 2, 0.03, frac=[0.1, 0.0, -4e-8], first=[900, -1, -1]),
            record("n", lr, 3, 0.03, frac=[0.0, 0.0, 1.0], first=[-1, -1, 0]),
        ]
    r = row(sm.summarize(table(recs)), "n")
    assert r["nan_rate_init"] == pytest.approx((0.5 + 0 + 0 + 1.0) / 4)
    assert r["init_nonfinite_any"] == pytest.approx(3 / 4)
    frac, bad = sm.layer_nonfinite([-4e-8, 0.3], [-1, 5])
    assert frac.tolist() == [0.0, 0.3] and bad.tolist() == [False, True]
    frac, bad = sm.layer_nonfinite(np.array([0.0, 0.25]))  # without first_nonfinite
    assert bad.tolist() == [False, True]


def test_reference_rows() -> None:
    df = table(stable_then_diverges() + [record("x", 1e-3, 0, 0.03, dataset="ar2")])
    refs = sm.reference_rows(df)
    assert len(refs) == 6 and set(refs["kind"]) == {"reference"}
    ar1 = refs[refs["dataset"] == "ar1"].set_index("strategy")
    assert list(ar1.index) == ["Bayes floor", "persistence", "mean predictor"]
    assert ar1.loc["Bayes floor", "eval_ratio_median"] == 1.0
    assert ar1.loc["persistence", "eval_ratio_median"] == pytest.approx(PERS / BAYES)
    assert ar1.loc["mean predictor", "best_ratio_median"] == pytest.approx(VAR / BAYES)
    assert ar1.loc["persistence", "best_gap_closed"] == 0.0
    assert ar1.loc["Bayes floor", "best_gap_closed"] == 1.0


def test_sort_rule() -> None:
    recs = stable_then_diverges() + worse_than_init()
    # usable at 1e-3 everywhere, no divergence, ratio 1.4 -> before "stable" (which diverges)
    recs += [record("calm", lr, s, 0.035) for lr in LRS for s in range(3)]
    # same divergence and usability as calm but a better ratio -> before calm
    recs += [record("calm-better", lr, s, 0.026) for lr in LRS for s in range(3)]
    # never usable, never diverges: after every strategy with a usable LR
    recs += [record("dead", lr, s, math.nan, diverged=True) for lr in LRS for s in range(3)]
    out = sm.summarize(table(recs))
    assert list(out["strategy"]) == ["calm-better", "calm", "stable", "worse", "dead"]


def test_summary_table_groups_references_after_strategies() -> None:
    df = table(stable_then_diverges() + [record("x", 1e-3, 0, 0.03, dataset="ar2")])
    t = sm.summary_table(df)
    assert list(t["dataset"]) == ["ar1"] * 4 + ["ar2"] * 4
    assert list(t["kind"]) == (["strategy"] + ["reference"] * 3) * 2
    assert set(sm.SUMMARY_COLUMNS) <= set(t.columns)
    shown = display_table(t[t["dataset"] == "ar1"])
    assert shown.iloc[0]["largest usable LR"] == "0.003"
    assert shown.iloc[1]["strategy"] == "Bayes floor (reference)"


def test_registry_defines_every_metric() -> None:
    metrics, errors = sm.metric_registry()
    assert errors == {}
    names = [m.name for m in metrics]
    assert names == ["max_usable_lr", "eval_ratio_median", "eval_spread", "best_lr",
                     "best_ratio_median", "best_gap_closed", "divergence_rate", "stable_frac",
                     "usable_frac", "nan_rate_init", "init_nonfinite_any", "runs", "seeds", "lrs"]
    by_column = {c: m for m in metrics for c in m.columns}
    for col in sm.SUMMARY_COLUMNS:
        if col not in sm.KEY_COLUMNS:
            m = by_column[col]
            assert m.description.strip() and m.label.strip(), col
            assert m.direction in ("lower", "higher", "none")
    assert by_column["best_ratio_q25"].name == "best_ratio_median"
    assert [name for name, _ in sm.RUN_DEFINITIONS] == ["finite", "improved", "usable",
                                                        "eval_ratio", "gap_closed"]
    assert "usable LR first" in sm.SORT_RULE
    text = sm.definitions_markdown(metrics)
    for col in sm.SUMMARY_COLUMNS[3:]:
        assert f"`{col}`" in text, col


def test_sample_summary_is_unchanged() -> None:
    """The committed sample's summary.csv (written by the code before the metric registry)."""
    got = sm.summary_table(pd.read_parquet(SAMPLE / "runs.parquet"))
    want = pd.read_csv(SAMPLE / "summary.csv")
    assert list(got.columns) == list(want.columns)
    for c in got.columns:
        kind = str if c in sm.KEY_COLUMNS else float
        got[c], want[c] = got[c].astype(kind), want[c].astype(kind)
    pd.testing.assert_frame_equal(got, want, rtol=1e-12)


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


def write_records(root: Path, records: list[dict]) -> None:
    store = Store(root)
    for r in records:
        store.write(RunRecord.from_json(r))
    store.write_table()


def results_dir(root: Path, records: list[dict], failures: dict[str, str]) -> Path:
    write_records(root, records)
    spec = {"profile": "quick", "strategies": "all", "datasets": ["ar1"], "lrs": list(LRS),
            "seeds": 3, "overrides": OVERRIDES, "max_runs": 64}
    env = {"python": "3.11", "jax": "0.0", "optax": "0.0", "numpy": "2", "platform": "test",
           "device": "cpu:cpu", "device_count": 1, "cpu_count": 2, "git_commit": "abc1234"}
    last = {"ran": len(records), "skipped": 0, "failures": failures, "corrupt": [],
            "wall_s": 12.5, "table": "runs.parquet"}
    write_json(root / "sweep.json", {"sweep_id": SWEEP_ID, "spec": spec, "environment": env,
                                     "last_run": last})
    write_json(root / "failures.json", failures)
    return root


def blowup_records() -> list[dict]:
    """Non-finite at init from t = 600 in every layer; every run diverges."""
    grow = [min(10.0 ** (i / 2), 1e30) for i in range(TRACE)]
    trace = [grow[:12] + [math.inf] * (TRACE - 12)] * 3
    return [record("blowup", lr, s, math.nan, diverged=True, frac=[0.4, 0.4, 0.4],
                   first=[600, 600, 600], trace=trace) for lr in LRS for s in range(3)]


def test_write_report(tmp_path: Path) -> None:
    failures = {"broken": "strategies/broken.py: init_params raised ZeroDivisionError: boom"}
    recs = stable_then_diverges() + worse_than_init() + blowup_records()
    root = results_dir(tmp_path / "res", recs, failures)
    md_path, html_path = write_report(root)
    assert (md_path, html_path) == (root / "report.md", root / "report.html")
    md, page = md_path.read_text(), html_path.read_text()
    assert page.count("data:image/png;base64,") == 5
    assert not re.search(r'src="(?!data:)', page)  # nothing fetched from elsewhere
    assert len(page) < 1_500_000
    for name in ("stable", "worse", "blowup", "broken", "ZeroDivisionError: boom"):
        assert name in md and name in page, name
    figures = re.findall(r"\]\((figures/[\w.-]+\.png)\)", md)
    assert len(figures) == 5
    for f in figures:
        data = (root / f).read_bytes()
        assert data.startswith(b"\x89PNG"), f
    assert "runs.parquet" in md and "abc1234" in md
    assert "| stable " in md and "Bayes floor (reference)" in md
    assert "max_usable_lr" in md  # the definitions are in
    heads = [line for line in md.splitlines() if line.startswith("## ")]
    assert heads == ["## Findings", "## Summary", "## More figures", "## Failures",
                     "## What was run", "## Metric definitions", "## Environment and wall time"]
    assert md.index("## Findings") < md.index("figures/lr_sensitivity.png") < md.index("## Summary")
    findings = md[md.index("## Findings"):md.index("## Summary")]
    assert "`blowup` (100% of seeds)" in findings  # non-finite at init
    assert "No usable learning rate" in findings and "`blowup`" in findings
    assert "`stable`, 1.16 [1.14, 1.2]" in findings  # lowest best ratio, with its IQR
    assert "3 seeds" in findings and "not tested for significance" in findings
    assert "`steps`: 20" in md  # every config field, labelled by its name
    csv = pd.read_csv(root / "summary.csv")
    assert list(csv.columns) == list(sm.SUMMARY_COLUMNS)
    assert set(csv["strategy"]) >= {"stable", "worse", "blowup", "Bayes floor"}
    assert not list(root.glob(".*.tmp")) and not list((root / "figures").glob(".*.tmp"))
    # rerunning overwrites in place
    assert write_report(root) == (md_path, html_path)


def test_write_report_one_lr_one_seed_and_other_sweeps(tmp_path: Path) -> None:
    root = tmp_path / "res"
    recs = [record("solo", 1e-3, 0, 0.03), record("dead", 1e-3, 0, math.nan, diverged=True)]
    recs[0]["config"]["settings"] = {"t_max": 256.0}  # a strategy's own setting
    results_dir(root, recs, {})
    stale = record("solo", 1e-3, 0, 0.5) | {"sweep_id": "an-older-sweep"}
    stale["key"] = "0000stale0000000"  # same (dataset, strategy, lr, seed), another sweep
    other = record("gone", 1e-3, 0, 0.03) | {"sweep_id": "an-older-sweep"}
    other["key"] = "0000other0000000"
    write_records(root, [stale, other])
    res = load_results(root)
    assert sorted(res.runs["strategy"]) == ["dead", "solo"]
    assert float(res.runs.loc[res.runs["strategy"] == "solo", "eval_mse"].iloc[0]) == 0.03
    md_path, html_path = write_report(root)
    md = md_path.read_text()
    assert "2 record(s) of other sweeps" in md and SWEEP_ID in md
    assert "None: every strategy ran." in md
    assert "data:image/png;base64," in html_path.read_text()
    assert "| solo " in md and "| dead " in md and "gone" not in md
    assert "`settings.t_max` (per strategy): solo: 256" in md


def test_records_without_sweep_ids_and_duplicates(tmp_path: Path) -> None:
    """Older results: a runs.parquet without a sweep_id column (and no runs/ folder)."""
    root = tmp_path / "res"
    root.mkdir()
    recs = [record("a", 1e-3, s, 0.03) for s in range(2)]
    recs.append(dict(recs[0], key="ffff" + recs[0]["key"][4:], eval_mse=0.04))  # same cell
    rows = pd.DataFrame([RunRecord.from_json(r).row() for r in recs]).drop(columns="sweep_id")
    rows.to_parquet(root / "runs.parquet", index=False)
    res = load_results(root)
    assert len(res.runs) == 2
    assert any("predate sweep ids" in n for n in res.notes)
    assert any("1 duplicate" in n for n in res.notes)
    kept = res.runs.loc[res.runs["seed"] == 0, "eval_mse"].iloc[0]
    assert kept == 0.04  # the last one by key


def test_report_from_runs_parquet_alone(tmp_path: Path) -> None:
    """The committed sample has runs.parquet but no runs/ folder."""
    root = tmp_path / "sample"
    root.mkdir()
    for name in ("runs.parquet", "sweep.json", "failures.json"):
        (root / name).write_bytes((SAMPLE / name).read_bytes())
    res = load_results(root)
    assert len(res.runs) == len(pd.read_parquet(SAMPLE / "runs.parquet"))
    assert any("no `runs/` folder" in n for n in res.notes)
    assert any("predate sweep ids" in n for n in res.notes)


def test_write_report_without_runs(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    (root / "runs").mkdir(parents=True)
    (root / "failures.json").write_text(json.dumps({"broken": "import failed"}))
    md_path, html_path = write_report(root)
    assert "No run records found." in md_path.read_text()
    assert "import failed" in html_path.read_text()
