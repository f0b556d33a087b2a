"""``python -m bench.studies.stopping_check ON OFF``: what the collapse rule changes.

Two results directories of the same sweep, ``ON`` run with ``--set stop_collapsed=F`` (F > 0)
and ``OFF`` with the default 0, are compared run by run, matched on (arm, dataset, strategy,
lr, seed):

- how many runs of ON stopped, and why (``stopped_reason``);
- how many runs that ON did *not* stop as collapsed have the same test MSE, bit for bit, as in
  OFF (the rule must not touch them);
- of the runs ON stopped as collapsed, how many OFF trained to a finite or a usable end
  (finite and below persistence on test, :func:`bench.summary.run_flags`): those are the runs
  the rule took from the measurement;
- every summary cell (arm, dataset, strategy; :func:`bench.summary.summarize`) whose value of
  a metric differs between ON and OFF;
- the training steps the rule saved, and the summed ``train`` phase and wall time of each
  sweep's chunks (:mod:`bench.timing`), to say whether the saving shows.

The result is a Markdown file (``--out``, default ``results/stopping-check.md``). The core
never imports this module.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bench import summary as sm
from bench import timing
from bench.report import load_results

KEY = ["arm", "dataset", "strategy", "lr", "seed"]


@dataclass(frozen=True)
class Check:
    """The comparison of one sweep with the collapse rule on (``on``) and off (``off``)."""

    runs: pd.DataFrame  # one row per matched run: stopped_reason, stopped_step, steps, both
    #                     test MSEs, finite/usable under each, test_ratio under each
    cells: pd.DataFrame  # one row per (cell, metric) that differs: arm, dataset, strategy,
    #                      metric, on, off
    train_s: tuple[float, float]  # summed train phase of the distinct chunks (on, off)
    wall_s: tuple[float, float]  # summed chunk wall time (on, off)
    rule: float = float("nan")  # the largest stop_collapsed of the runs with the rule on


def _same(a: pd.Series, b: pd.Series) -> pd.Series:
    """Elementwise: equal, or both missing."""
    return (a == b) | (a.isna() & b.isna())


def _train_and_wall(runs: pd.DataFrame) -> tuple[float, float]:
    """The ``train`` phase and the wall time summed over the chunks of a run table
    (:func:`bench.timing.sweep_phases`, :func:`bench.timing.sweep_wall`); NaN when the records
    hold no timings."""
    wall, chunks = timing.sweep_wall(runs)
    return (timing.sweep_phases(runs).get("train", float("nan")),
            wall if chunks else float("nan"))


def compare(on: pd.DataFrame, off: pd.DataFrame) -> Check:
    """Compare two run tables (``bench.report.load_results(...).runs``) of one sweep."""
    fon, foff = sm.run_flags(on), sm.run_flags(off)
    cols = ["test_mse", "finite", "usable", "test_ratio"]
    runs = fon[[*KEY, *cols, "stopped_reason", "stopped_step", "cfg.steps"]].merge(
        foff[[*KEY, *cols]], on=KEY, suffixes=("_on", "_off"), validate="one_to_one")
    runs = runs.rename(columns={"cfg.steps": "steps"})
    runs["same"] = _same(runs["test_mse_on"], runs["test_mse_off"])
    son, soff = sm.summarize(on), sm.summarize(off)
    keys = ["arm", "dataset", "strategy"]
    both = son.merge(soff, on=keys, suffixes=("_on", "_off"))
    rows = []
    for m in sm.metric_registry()[0]:
        for col in m.columns:
            if f"{col}_on" not in both.columns or col == "collapsed_rate":
                continue
            a, b = both[f"{col}_on"], both[f"{col}_off"]
            for i in np.flatnonzero(~_same(a, b).to_numpy()):
                rows.append({**both.iloc[i][keys].to_dict(), "metric": col,
                             "on": a.iloc[i], "off": b.iloc[i]})
    cells = pd.DataFrame(rows, columns=[*keys, "metric", "on", "off"])
    t_on, t_off = _train_and_wall(on), _train_and_wall(off)
    return Check(runs=runs, cells=cells,
                 train_s=(t_on[0], t_off[0]), wall_s=(t_on[1], t_off[1]),
                 rule=float(pd.to_numeric(on.get("cfg.stop_collapsed", pd.Series([np.nan])),
                                          errors="coerce").max()))


def _num(v: object) -> str:
    """A summary value as the table shows it: 7 significant digits for a number."""
    return f"{v:.7g}" if isinstance(v, float | np.floating) else str(v)


def _s(seconds: float) -> str:
    return "not recorded" if np.isnan(seconds) else f"{seconds:,.0f} s"


def markdown(check: Check, on: str, off: str) -> str:
    """The report of :func:`compare` as Markdown."""
    r = check.runs
    n = len(r)
    collapsed = r[r["stopped_reason"] == "collapsed"]
    kept = r[r["stopped_reason"] != "collapsed"]
    taken = collapsed[collapsed["usable_off"]]
    steps_total = float(r["steps"].sum())
    saved = float((collapsed["steps"] - collapsed["stopped_step"]).sum())
    reasons = r["stopped_reason"].replace("", "trained to its budget").value_counts()
    lines = [
        "# The collapse rule: the same sweep with it on and off",
        "",
        f"`python -m bench.studies.stopping_check {on} {off}`: the rule on in `{on}` "
        f"(`--set stop_collapsed={check.rule:g}`), off in `{off}` (the default); {n:,} runs "
        "matched on (arm, dataset, strategy, lr, seed).",
        "",
        "## Runs",
        "",
        "- runs by how they ended with the rule on: "
        + ", ".join(f"{k} {v:,}" for k, v in reasons.items()),
        f"- runs not stopped as collapsed whose test MSE is the same bit for bit with the rule "
        f"off: {int(kept['same'].sum()):,} of {len(kept):,}",
        f"- runs stopped as collapsed that, with the rule off, ended finite: "
        f"{int(collapsed['finite_off'].sum()):,} of {len(collapsed):,}; usable (finite and "
        f"below persistence on test): {len(taken):,}",
    ]
    if len(taken):
        lines += ["", "Runs the rule took from the measurement (usable with it off):", "",
                  "| arm | dataset | strategy | lr | seed | stopped at step | test/floor on "
                  "| test/floor off |", "|---|---|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {t.arm} | {t.dataset} | {t.strategy} | {t.lr:g} | {t.seed} | "
                  f"{t.stopped_step} | {t.test_ratio_on:.4g} | {t.test_ratio_off:.4g} |"
                  for t in taken.itertuples()]
    changed = kept[~kept["same"]]
    if len(changed):
        lines += ["", f"Runs not stopped as collapsed whose test MSE differs: {len(changed)}, "
                  "in the cells " + ", ".join(
                      sorted({f"{a}/{d}/{s}" for a, d, s in
                              changed[["arm", "dataset", "strategy"]].itertuples(index=False)}))]
    lines += ["", "## Summary cells that differ", ""]
    if check.cells.empty:
        lines.append("None: every metric of every (arm, dataset, strategy) is the same.")
    else:
        lines += ["| arm | dataset | strategy | metric | rule on | rule off |",
                  "|---|---|---|---|---:|---:|"]
        lines += [f"| {c.arm} | {c.dataset} | {c.strategy} | `{c.metric}` | {_num(c.on)} | "
                  f"{_num(c.off)} |" for c in check.cells.itertuples()]
    lines += [
        "", "## Compute", "",
        f"- training steps the rule saved: {saved:,.0f} of {steps_total:,.0f} "
        f"({saved / steps_total:.1%})" if steps_total else "- no training steps",
        f"- `train` phase summed over the chunks: {_s(check.train_s[0])} on, "
        f"{_s(check.train_s[1])} off",
        f"- chunk wall time summed: {_s(check.wall_s[0])} on, {_s(check.wall_s[1])} off",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.studies.stopping_check",
                                description=__doc__.splitlines()[0], allow_abbrev=False)
    p.add_argument("on", help="results directory of the sweep with stop_collapsed > 0")
    p.add_argument("off", help="results directory of the same sweep with stop_collapsed = 0")
    p.add_argument("--out", default="results/stopping-check.md", help="Markdown file to write")
    args = p.parse_args(argv)
    tables = {}
    for name in ("on", "off"):
        path = getattr(args, name)
        try:
            tables[name] = load_results(path).runs
        except (OSError, ValueError) as e:
            print(f"error: {name} results {path}: {e}", file=sys.stderr)
            return 2
    on_rule = pd.to_numeric(tables["on"].get("cfg.stop_collapsed"), errors="coerce")
    if on_rule is None or not (on_rule > 0).any():
        print(f"error: on results {args.on}: no run has stop_collapsed > 0", file=sys.stderr)
        return 2
    text = markdown(compare(tables["on"], tables["off"]), args.on, args.off)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
