"""The report of a results directory: ``report.md`` (figures as ``figures/*.png`` next to it) and
a self-contained ``report.html`` (the same figures embedded as base64 PNG).

The metrics come from :mod:`bench.summary`; this module only loads, formats and draws. Figures are
drawn on :class:`matplotlib.figure.Figure` objects (the Agg renderer; pyplot's global state and
the session's backend are left alone) with seaborn styles applied through context managers.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from bench import summary as sm
from bench.figures import (
    LOSS_CAP,
    RATIO_CAP,
    fig_h_trace,
    fig_lr_sensitivity,
    fig_nan_at_init,
    fig_training_curves,
    fig_usable_lr,
    fmt_pct,
    palette,
    png_bytes,
)
from bench.store import Store, write_atomic

DPIS = (80, 64, 50)  # tried in turn until the embedded figures fit HTML_BUDGET
HTML_BUDGET = 1_400_000  # bytes of base64 figure data in report.html
CONFIG_FIELDS = ("optimizer", "steps", "batch_size", "window", "clip_norm", "grad_clipping",
                 "dropout", "peephole_order", "data_scale", "train_sequences", "eval_sequences",
                 "eval_length", "init_sequences", "init_length", "curve_points", "t_max")


# ----------------------------------------------------------------------------------- loading


@dataclass
class Results:
    """Everything the report shows, loaded from one results directory."""

    root: Path
    runs: pd.DataFrame
    sweep: dict[str, Any]
    failures: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def spec(self) -> dict[str, Any]:
        return self.sweep.get("spec") or {}

    @property
    def environment(self) -> dict[str, Any]:
        return self.sweep.get("environment") or {}

    @property
    def last_run(self) -> dict[str, Any]:
        return self.sweep.get("last_run") or {}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _same_protocol(runs: pd.DataFrame, spec: dict[str, Any]) -> pd.Series | None:
    """Which records were made with the spec's profile and overrides (their key is the key the
    sweep would give them now); None when the spec cannot be resolved."""
    from bench.config import resolve

    try:
        profile, overrides = spec["profile"], dict(spec.get("overrides") or {})
        resolve(profile, **overrides)
    except (KeyError, TypeError, ValueError):
        return None

    def ok(r: pd.Series) -> bool:
        try:
            code = r.get("cfg.strategy_code", "")
            cfg = resolve(profile, **{**overrides, "strategy": r["strategy"],
                                      "dataset": r["dataset"], "lr": float(r["lr"]),
                                      "seed": int(r["seed"]),
                                      "strategy_code": "" if pd.isna(code) else str(code)})
        except (TypeError, ValueError):
            return False
        return cfg.key() == r["key"]

    return runs.apply(ok, axis=1).astype(bool)


def load_results(results_dir: str | Path) -> Results:
    """Records (:meth:`Store.table`), ``sweep.json`` and ``failures.json`` of a directory.

    Records made under other settings than ``sweep.json``'s spec (an earlier sweep into the same
    directory) are left out and counted in ``notes``; if that would leave none, all are kept.
    """
    root = Path(results_dir)
    sweep = _read_json(root / "sweep.json")
    sweep = sweep if isinstance(sweep, dict) else {}
    failures = _read_json(root / "failures.json")
    if not isinstance(failures, dict):
        failures = (sweep.get("last_run") or {}).get("failures") or {}
    notes: list[str] = []
    if not sweep:
        notes.append("`sweep.json` is missing or unreadable: settings are taken from the records.")
    store = Store(root)
    runs = store.table()
    notes += [f"corrupt record moved aside: {c}" for c in store.corrupt]
    if not runs.empty and sweep.get("spec"):
        keep = _same_protocol(runs, sweep["spec"])
        if keep is not None and 0 < int(keep.sum()) < len(runs):
            notes.append(f"{len(runs) - int(keep.sum())} record(s) made with other settings than "
                         "`sweep.json`'s spec are left out of this report.")
            runs = runs[keep].reset_index(drop=True)
        elif keep is not None and not keep.any():
            notes.append("no record matches `sweep.json`'s spec exactly; all records are shown.")
    if not runs.empty:
        dup = runs.duplicated(["dataset", "strategy", "lr", "seed"], keep="last")
        if dup.any():
            notes.append(f"{int(dup.sum())} duplicate (dataset, strategy, lr, seed) record(s) "
                         "left out (the last one by key is kept).")
            runs = runs[~dup].reset_index(drop=True)
    return Results(root=root, runs=runs, sweep=sweep,
                   failures={str(k): str(v) for k, v in failures.items()}, notes=notes)


# -------------------------------------------------------------------------------- formatting


def fmt_num(v: Any, digits: int = 3) -> str:
    """``digits`` significant digits; blank for NaN/None."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return ""
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def fmt_lr(v: Any, none: str = "none") -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return none
    return f"{float(v):g}"


def _with_iqr(med: Any, q25: Any, q75: Any) -> str:
    m = fmt_num(med)
    if not m:
        return ""
    if fmt_num(q25) and fmt_num(q75):
        return f"{m} [{fmt_num(q25)}, {fmt_num(q75)}]"
    return m


DISPLAY_COLUMNS = (
    "strategy", "largest usable LR", "eval/Bayes at usable LR: median [IQR]",
    "spread at usable LR", "best eval/Bayes: median [IQR]", "best LR", "gap closed at best LR",
    "diverged", "finite", "usable", "NaN at init (last layer)", "seeds NaN at init (any layer)",
    "runs (LRs × seeds)",
)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`bench.summary.summary_table` rows as strings for Markdown and HTML."""
    rows = []
    for _, r in table.iterrows():
        if r["kind"] == "reference":
            rows.append(dict.fromkeys(DISPLAY_COLUMNS, "") | {
                "strategy": f"{r['strategy']} (reference)",
                "eval/Bayes at usable LR: median [IQR]": fmt_num(r["eval_ratio_median"]),
                "best eval/Bayes: median [IQR]": fmt_num(r["best_ratio_median"]),
                "gap closed at best LR": fmt_num(r["best_gap_closed"]),
            })
            continue
        rows.append({
            "strategy": str(r["strategy"]),
            "largest usable LR": fmt_lr(r["max_usable_lr"]),
            "eval/Bayes at usable LR: median [IQR]": _with_iqr(
                r["eval_ratio_median"], r["eval_ratio_q25"], r["eval_ratio_q75"]),
            "spread at usable LR": fmt_num(r["eval_spread"], 2),
            "best eval/Bayes: median [IQR]": _with_iqr(
                r["best_ratio_median"], r["best_ratio_q25"], r["best_ratio_q75"]),
            "best LR": fmt_lr(r["best_lr"], none="none finite"),
            "gap closed at best LR": fmt_num(r["best_gap_closed"]),
            "diverged": fmt_pct(r["divergence_rate"]),
            "finite": fmt_pct(r["stable_frac"]),
            "usable": fmt_pct(r["usable_frac"]),
            "NaN at init (last layer)": fmt_pct(r["nan_rate_init"]),
            "seeds NaN at init (any layer)": fmt_pct(r["init_nonfinite_any"]),
            "runs (LRs × seeds)": f"{r['runs']} ({r['lrs']} × {r['seeds']})",
        })
    return pd.DataFrame(rows, columns=list(DISPLAY_COLUMNS))


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub Markdown table of string cells (pipes escaped); the first column left-aligned,
    the others right-aligned."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    head = [cell(c) for c in df.columns]
    body = [[cell(v) for v in row] for row in df.itertuples(index=False)]
    widths = [max([len(h), 3, *(len(b[i]) for b in body)]) for i, h in enumerate(head)]
    lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |"]
    lines.append("| " + " | ".join((":" + "-" * (w - 1)) if i == 0 else ("-" * (w - 1) + ":")
                                   for i, w in enumerate(widths)) + " |")
    for b in body:
        lines.append("| " + " | ".join(v.ljust(w) if i == 0 else v.rjust(w)
                                       for i, (v, w) in enumerate(zip(b, widths, strict=True)))
                     + " |")
    return "\n".join(lines)


def _rst_to_md(text: str) -> str:
    """Docstring markup (``x``, :func:`x`) to Markdown code spans."""
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


_INLINE = re.compile(r"`([^`]+)`|\[([^\]]+)\]\(([^)\s]+)\)|\*\*([^*]+)\*\*")


def inline_html(text: str) -> str:
    """Markdown inline code, links and bold to HTML; everything else escaped."""
    out, pos = [], 0
    for m in _INLINE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append(f"<code>{html.escape(m.group(1))}</code>")
        elif m.group(2) is not None:
            out.append(f'<a href="{html.escape(m.group(3))}">{html.escape(m.group(2))}</a>')
        else:
            out.append(f"<strong>{html.escape(m.group(4))}</strong>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return "".join(out)


# ------------------------------------------------------------------------------ the document


@dataclass
class Block:
    """One piece of the document: heading, paragraph, list, table or figure."""

    kind: str  # "h2" | "h3" | "p" | "ul" | "table" | "figure" | "pre"
    text: str = ""
    items: list[str] = field(default_factory=list)
    table: pd.DataFrame | None = None
    name: str = ""  # figure file stem
    figure: Figure | None = None


def render_markdown(title: str, blocks: Sequence[Block]) -> str:
    parts = [f"# {title}"]
    for b in blocks:
        if b.kind in ("h2", "h3"):
            parts.append(("## " if b.kind == "h2" else "### ") + b.text)
        elif b.kind == "p":
            parts.append(b.text)
        elif b.kind == "ul":
            parts.append("\n".join(f"- {i}" for i in b.items))
        elif b.kind == "table" and b.table is not None:
            parts.append(markdown_table(b.table))
        elif b.kind == "figure":
            parts.append(f"![{b.text}](figures/{b.name}.png)\n\n*{b.text}*")
        elif b.kind == "pre":
            parts.append(f"```\n{b.text}\n```")
    return "\n\n".join(parts) + "\n"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;
margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
code{background:#f4f4f4;padding:0 3px;border-radius:3px}
figure{margin:1em 0 2em}figure img{max-width:100%}figcaption{font-size:0.9em;color:#444}
pre{background:#f4f4f4;padding:0.6em;overflow-x:auto}
"""


def render_html(title: str, blocks: Sequence[Block], pngs: dict[str, bytes]) -> str:
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>"]
    for b in blocks:
        if b.kind in ("h2", "h3"):
            parts.append(f"<{b.kind}>{inline_html(b.text)}</{b.kind}>")
        elif b.kind == "p":
            parts.append(f"<p>{inline_html(b.text)}</p>")
        elif b.kind == "ul":
            parts.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in b.items)
                         + "</ul>")
        elif b.kind == "table" and b.table is not None:
            parts.append(b.table.to_html(index=False, escape=True, border=0, na_rep=""))
        elif b.kind == "figure" and b.name in pngs:
            data = base64.b64encode(pngs[b.name]).decode("ascii")
            parts.append(f'<figure><img alt="{html.escape(b.text)}" '
                         f'src="data:image/png;base64,{data}">'
                         f"<figcaption>{inline_html(b.text)}</figcaption></figure>")
        elif b.kind == "pre":
            parts.append(f"<pre>{html.escape(b.text)}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------- sections


def _values(runs: pd.DataFrame, name: str) -> list[Any]:
    """Distinct values of a config field over the records (lists made hashable)."""
    col = f"cfg.{name}"
    if col not in runs.columns:
        return []
    seen: list[Any] = []
    for v in runs[col]:
        v = tuple(v) if isinstance(v, list | np.ndarray) else v
        if v not in seen:
            seen.append(v)
    return seen


def _setup_items(res: Results, runs: pd.DataFrame) -> list[str]:
    spec = res.spec
    items = []
    profile = sorted({str(p) for p in runs["profile"]}) if "profile" in runs else []
    items.append(f"profile: `{', '.join(profile) or spec.get('profile', '?')}`")
    for hidden in _values(runs, "hidden"):
        channels = _values(runs, "channels") or ["?"]
        for c in channels:
            items.append("network (stacked peephole LSTM, layer sizes): "
                         + " → ".join(str(v) for v in (c, *hidden, c)))
    datasets = sorted(runs["dataset"].unique())
    items.append(f"datasets: {', '.join(f'`{d}`' for d in datasets)}")
    lrs = sorted(runs["lr"].unique())
    items.append(f"learning-rate grid: {', '.join(f'{v:g}' for v in lrs)}")
    items.append(f"seeds per (strategy, dataset, LR): {runs['seed'].nunique()} "
                 f"(seeds {', '.join(str(int(s)) for s in sorted(runs['seed'].unique()))})")
    strategies = sorted(runs["strategy"].unique())
    items.append(f"strategies ({len(strategies)}): {', '.join(strategies)}")
    labels = {"optimizer": "optimizer", "steps": "training steps", "batch_size": "batch size",
              "window": "training window (steps)",
              "clip_norm": "global-norm clipping of the update (0 = off)",
              "grad_clipping": "Lasagne-style gradient clipping at the gates (0 = off)",
              "dropout": "dropout", "peephole_order": "peephole order",
              "data_scale": "data scale (stationary std)",
              "train_sequences": "training pool (sequences)",
              "eval_sequences": "evaluation sequences", "eval_length": "evaluation length",
              "init_sequences": "sequences in the forward pass at init",
              "init_length": "length of the forward pass at init",
              "curve_points": "points per stored loss curve", "t_max": "chrono t_max"}
    for name in CONFIG_FIELDS:
        vals = _values(runs, name)
        if vals:
            shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in vals)
            items.append(f"{labels.get(name, name)}: {shown}"
                         + (" (differs between runs)" if len(vals) > 1 else ""))
    if spec.get("overrides"):
        items.append("overrides of the profile: "
                     + ", ".join(f"`{k}={v}`" for k, v in sorted(spec["overrides"].items())))
    return items


def _metric_items() -> list[str]:
    items = []
    for head, text in sm.definitions():
        items.append(f"{_rst_to_md(head)}: {_rst_to_md(text)}")
    return items


def _env_items(res: Results, runs: pd.DataFrame) -> list[str]:
    env = res.environment
    items = []
    for key, label in (("device", "device"), ("device_count", "devices"),
                       ("cpu_count", "CPU cores"), ("platform", "platform"),
                       ("python", "Python"), ("jax", "JAX"), ("optax", "optax"),
                       ("numpy", "NumPy"), ("git_commit", "git commit")):
        if key in env:
            items.append(f"{label}: `{env[key] or 'unknown'}`")
    if not env:
        items.append("environment: not recorded (`sweep.json` missing)")
    if {"chunk_wall_s", "strategy", "dataset"} <= set(runs.columns) and len(runs):
        chunks = runs[["strategy", "dataset", "chunk_wall_s"]].drop_duplicates()
        total = float(chunks["chunk_wall_s"].astype(float).sum())
        items.append(f"training wall time: {total:.1f} s summed over {len(chunks)} distinct "
                     "chunks (programs) of the runs in this report")
    last = res.last_run
    if last:
        items.append(f"last `python -m bench run`: {float(last.get('wall_s', float('nan'))):.1f} "
                     f"s wall, {last.get('ran', '?')} runs trained, "
                     f"{last.get('skipped', '?')} already done")
    return items


def _failure_items(res: Results, runs: pd.DataFrame) -> list[str]:
    items = []
    have = set(runs["strategy"]) if len(runs) else set()
    for name, err in sorted(res.failures.items()):
        extra = "" if name in have else " (no runs recorded)"
        items.append(f"**{name}**{extra}: `{' '.join(str(err).split())}`")
    for c in res.last_run.get("corrupt") or []:
        items.append(f"corrupt record recomputed: `{c}`")
    return items


def build_document(res: Results) -> tuple[str, list[Block]]:
    """Title and blocks of the report (figures as :class:`Figure` objects)."""
    title = f"LSTM initialisation benchmark: {res.root.name or res.root}"
    blocks: list[Block] = []
    runs = res.runs
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    blocks.append(Block("p", f"Written {stamp} from `{res.root}`. Every run is one row of "
                             "[runs.parquet](runs.parquet) (`pandas.read_parquet`; one JSON "
                             "record per run in `runs/`)."))
    if runs.empty:
        blocks += [Block("h2", "What was run"), Block("p", "No run records found.")]
        if res.notes:
            blocks.append(Block("ul", items=res.notes))
        if res.failures:
            blocks += [Block("h2", "Failures"), Block("ul", items=_failure_items(res, runs))]
        blocks += [Block("h2", "Environment and wall time"),
                   Block("ul", items=_env_items(res, runs))]
        return title, blocks

    flags = sm.run_flags(runs)
    table = sm.summary_table(runs)
    datasets = sorted(flags["dataset"].unique())
    colors, markers = palette(flags["strategy"])

    blocks += [Block("h2", "What was run"), Block("ul", items=_setup_items(res, runs))]
    if res.notes:
        blocks.append(Block("ul", items=res.notes))

    blocks += [Block("h2", "Metrics"),
               Block("p", "Definitions (from `bench/summary.py`, where they are computed):"),
               Block("ul", items=_metric_items()),
               Block("p", _rst_to_md(sm.doc_paragraph("Sort rule"))),
               Block("p", _rst_to_md(sm.doc_paragraph("Reference rows")))]

    blocks.append(Block("h2", "Summary"))
    fl = sm.floors(runs).set_index("dataset")
    for ds in datasets:
        f = fl.loc[ds]
        blocks += [Block("h3", f"Dataset `{ds}`"),
                   Block("p", f"Floors (channel means): Bayes MSE {fmt_num(f['bayes'], 4)}, "
                              f"persistence MSE {fmt_num(f['persistence'], 4)}, variance "
                              f"{fmt_num(f['variance'], 4)}. Ratios are eval MSE / Bayes MSE; "
                              "IQR = [25 %, 75 %] over seeds; blank = not defined."),
                   Block("table", table=display_table(table[table["dataset"] == ds]))]

    with sns.axes_style("whitegrid"), sns.plotting_context("notebook", font_scale=0.8), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        figures = [
            ("lr_sensitivity", fig_lr_sensitivity(flags, table, datasets, colors, markers),
             "LR sensitivity: eval MSE / Bayes MSE against learning rate (log-log), median over "
             "seeds with the min–max band over seeds; x at the top edge = a diverged or "
             "non-finite run at that LR; horizontal lines: Bayes floor (1.0), persistence, mean "
             f"predictor. Values above {RATIO_CAP:g} × the mean predictor are drawn at that cap."),
            ("nan_at_init", fig_nan_at_init(table, datasets),
             "Non-finite hidden state in the forward pass at init (before any training): "
             "fraction of the last layer's outputs (mean over seeds) and fraction of seeds with "
             "a non-finite value in any layer."),
            ("usable_lr", fig_usable_lr(table, flags, datasets, colors),
             "Largest learning rate of the grid at which every seed is usable (finite, better "
             "than at init and better than the mean predictor); log scale, grid LRs as grey "
             "lines; 'none usable' = no such LR."),
            ("training_curves", fig_training_curves(flags, table, datasets, colors),
             "Training loss against step at each strategy's largest usable LR (else its best "
             "LR, else its smallest LR), median over seeds with the min–max band; diverged "
             "seeds drop out after their divergence; dashed: Bayes MSE of the eval data; the "
             f"axis ends at {LOSS_CAP:g} × the data variance."),
            ("h_at_init", fig_h_trace(flags, table, datasets, colors),
             "Max |h| over blocks of time in the forward pass at init, first and last layer "
             "(log scale), median over seeds with the min–max band; non-finite values (inf/NaN)"
             " are drawn at the dotted top line, x = where a seed first went non-finite."),
        ]
    blocks.append(Block("h2", "Figures"))
    for name, fig, caption in figures:
        blocks.append(Block("figure", caption, name=name, figure=fig))

    blocks.append(Block("h2", "Failures"))
    items = _failure_items(res, runs)
    blocks.append(Block("ul", items=items) if items else Block("p", "None: every strategy ran."))
    blocks += [Block("h2", "Environment and wall time"), Block("ul", items=_env_items(res, runs))]
    return title, blocks


def write_report(results_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.md`` (with ``figures/*.png``) and ``report.html`` into ``results_dir``;
    return their paths. Every file is written atomically (temporary file, then rename)."""
    res = load_results(results_dir)
    title, blocks = build_document(res)
    figs = [b for b in blocks if b.kind == "figure" and b.figure is not None]
    pngs: dict[str, bytes] = {}
    for dpi in DPIS:
        pngs = {b.name: png_bytes(b.figure, dpi) for b in figs}  # type: ignore[arg-type]
        if sum(len(p) for p in pngs.values()) * 4 / 3 <= HTML_BUDGET:
            break
    root = res.root
    for name, data in pngs.items():
        write_atomic(root / "figures" / f"{name}.png", data)
    md_path, html_path = root / "report.md", root / "report.html"
    write_atomic(md_path, render_markdown(title, blocks).encode("utf-8"))
    write_atomic(html_path, render_html(title, blocks, pngs).encode("utf-8"))
    return md_path, html_path


__all__ = ["write_report", "load_results", "build_document", "display_table", "markdown_table",
           "render_markdown", "render_html", "Results", "Block"]
