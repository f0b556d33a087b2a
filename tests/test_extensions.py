"""Adding a metric or a figure is one new file: a module exposed through an entry point (here a
fake installed distribution on PYTHONPATH) shows up in the report, summary.csv and the figures
with no edit elsewhere; a broken one is reported and the others still work."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import helpers
import numpy as np
import pandas as pd
import pytest
from plugin_site import install

from bench import summary as sm
from bench.errors import PluginError
from bench.figures import KIND as FIGURES
from bench.metrics import Metric

REPO = Path(__file__).resolve().parent.parent
BUILT_IN_FIGURES = sorted(p.stem for p in (REPO / "bench" / "figures").glob("[!_]*.py"))

METRIC_MODULE = '''
from bench.metrics import Cell, Metric


def compute(cell: Cell) -> float:
    return float(cell.runs["test_mse"].max())


METRIC = Metric(name="my_metric", compute=compute, label="largest test MSE (plugin)",
                direction="lower", format="num", position=1000,
                description="the largest `test_mse` of the cell (plugin).")
'''

FIGURE_MODULE = '''
from matplotlib.figure import Figure

from bench.figures import FigureSpec, ResultsContext


def draw(ctx: ResultsContext) -> Figure:
    fig = Figure(figsize=(4, 3))
    ax = fig.subplots()
    t = ctx.summary[ctx.summary["kind"] == "strategy"]
    ax.bar(t["strategy"], t["my_metric"].astype(float),  # the plugin metric is in the summary
           color=[ctx.colors[s] for s in t["strategy"]])
    return fig


FIGURE = FigureSpec(name="my_fig", caption="Plugin figure: largest test MSE per strategy.",
                    draw=draw, position=1000)
'''

BROKEN_IMPORT = "raise RuntimeError('this metric module is broken')\n"

CRASHING_METRIC = '''
from bench.metrics import Metric

METRIC = Metric(name="crashing", compute=lambda cell: 1 / 0, label="crash", direction="none",
                format="num", position=5, description="always fails.")
'''

CRASHING_FIGURE = '''
from bench.figures import FigureSpec


def draw(ctx):
    raise ValueError("cannot draw this")


FIGURE = FigureSpec(name="bad_fig", caption="never shown", draw=draw, position=1)
'''


def runs_table() -> pd.DataFrame:
    """A small run table of protocol v2: two strategies in two arms, two LRs, two seeds."""
    rows = []
    for arm in ("clean", "lasagne-0.1"):
        for strategy, base in (("glorot", 0.027), ("identity-bias", 0.029)):
            for lr in (1e-3, 1e-2):
                for seed in range(2):
                    mse = base + 0.001 * seed + (0.002 if lr == 1e-2 else 0.0)
                    rows.append({
                        "arm": arm, "dataset": "ar1", "strategy": strategy, "lr": lr,
                        "seed": seed, "diverged": False, "diverged_step": -1,
                        "test_mse": mse, "test_mse_init": 0.05, "test_variance": 0.0625,
                        "val_mse": mse, "val_mse_init": 0.05,
                        "val_curve": list(np.linspace(0.04, mse, 4)),
                        "val_steps": [5, 10, 15, 20], "variance": 0.0625, "bayes_mse": 0.025,
                        "persistence_mse": 0.03, "init_nonfinite_frac": [0.0, 0.0, 0.0],
                        "init_first_nonfinite": [-1, -1, -1], "init_max_h": [0.3] * 3,
                        "init_max_c": [0.5] * 3, "init_h_trace": [[0.3] * 10] * 3,
                        "loss_curve": list(np.linspace(0.08, 0.03, 5)), "cfg.steps": 20,
                        "cfg.dropout": 0.0 if arm == "clean" else 0.33,
                        "cfg.hidden": [64, 32], "cfg.channels": 7, "key": f"k{len(rows)}",
                        "sweep_id": "s-1",
                    })
    return pd.DataFrame(rows)


def small_results(tmp: Path) -> Path:
    """A results directory holding only :func:`runs_table` as runs.parquet."""
    root = tmp / "res"
    root.mkdir()
    runs_table().to_parquet(root / "runs.parquet", index=False)
    (root / "sweep.json").write_text('{"sweep_id": "s-1"}')
    return root


def write_report_with(site: Path, root: Path) -> None:
    code = "import sys; from bench.report import write_report; write_report(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-c", code, str(root)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def plugin_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One report (rendered in a subprocess that sees the fake distribution) with a working
    metric and figure beside broken ones: a module that fails to import, a metric that raises,
    one whose name clashes with a built-in, and a figure that raises. Read only."""
    tmp = tmp_path_factory.mktemp("plugins")
    site = install(tmp, {"my_metric_mod": METRIC_MODULE, "my_fig_mod": FIGURE_MODULE,
                         "broken_mod": BROKEN_IMPORT, "crashing_mod": CRASHING_METRIC,
                         "bad_fig_mod": CRASHING_FIGURE}, """\
        [lstm_init_bench.metrics]
        my_metric = my_metric_mod
        broken = broken_mod
        crashing = crashing_mod
        max_usable_lr = crashing_mod

        [lstm_init_bench.figures]
        my_fig = my_fig_mod
        bad_fig = bad_fig_mod
        """)
    root = small_results(tmp)
    write_report_with(site, root)
    return root


def failures_section(md: str) -> str:
    """The report's ``## Failures`` section, without its heading."""
    return md[md.index("## Failures") + len("## Failures"):md.index("## What was run")]


def test_a_metric_and_a_figure_are_one_file_each(plugin_report: Path) -> None:
    root = plugin_report
    md, page = (root / "report.md").read_text(), (root / "report.html").read_text()
    csv = pd.read_csv(root / "summary.csv")
    assert list(csv.columns)[-1] == "my_metric"  # position 1000: the last column
    runs = pd.read_parquet(root / "runs.parquet")
    for arm in ("clean", "lasagne-0.1"):  # one value per (arm, dataset, strategy)
        glorot = csv[(csv["strategy"] == "glorot") & (csv["arm"] == arm)].iloc[0]
        want = runs.loc[(runs["strategy"] == "glorot") & (runs["arm"] == arm), "test_mse"].max()
        assert glorot["my_metric"] == pytest.approx(want)
    assert csv["my_metric"].notna().sum() == 4
    assert "largest test MSE (plugin)" in md  # the column label
    assert "the largest `test_mse` of the cell (plugin)." in md  # the definition
    assert "](figures/my_fig.png)" in md and "Plugin figure: largest test MSE" in md
    assert (root / "figures" / "my_fig.png").read_bytes().startswith(b"\x89PNG")
    assert page.count("data:image/png;base64,") == len(BUILT_IN_FIGURES) + 1  # and my_fig
    assert 'id="figure-my_fig"' in page and "Plugin figure: largest test MSE" in page
    failures = failures_section(md)
    bullets = [ln for ln in failures.splitlines() if ln.strip()]
    # only the broken plugins of the fixture are listed: no strategy, not the working plugins
    assert len(bullets) == 4 and all(b.startswith(("- **metric ", "- **figure ")) for b in bullets)
    assert "my_metric" not in failures and "my_fig" not in failures


def test_broken_plugins_are_reported_and_the_others_work(plugin_report: Path) -> None:
    root = plugin_report
    md = (root / "report.md").read_text()
    failures = failures_section(md)
    assert "metric broken" in failures and "RuntimeError: this metric module is broken" in failures
    assert "metric crashing" in failures and "ZeroDivisionError" in failures
    assert "clashes with a built-in" in failures  # max_usable_lr stays the built-in one
    assert "figure bad_fig" in failures and "ValueError: cannot draw this" in failures
    csv = pd.read_csv(root / "summary.csv")
    assert "crashing" not in csv.columns and "broken" not in csv.columns
    # every built-in metric is there, and the working plugin's
    assert list(csv.columns) == [*sm.summary_columns(), "my_metric"]
    assert "largest usable LR" in md and "never shown" not in md
    pngs = sorted(p.stem for p in (root / "figures").glob("*.png"))
    assert pngs == sorted([*BUILT_IN_FIGURES, "my_fig"])


def module(**attrs: object) -> types.ModuleType:
    m = types.ModuleType("fake")
    m.__dict__.update(attrs)
    return m


def test_invalid_declarations_name_the_module() -> None:
    good = Metric(name="x", compute=len, label="x", direction="lower", format="num",
                  position=1, description="x.")
    assert sm.KIND.load("x", module(METRIC=good), "bench/metrics/x.py") is good
    with pytest.raises(PluginError, match="bench/metrics/y.py: METRIC.name is 'x'"):
        sm.KIND.load("y", module(METRIC=good), "bench/metrics/y.py")
    with pytest.raises(PluginError, match="defines no METRIC"):
        sm.KIND.load("x", module(), "bench/metrics/x.py")
    bad = Metric(name="x", compute=len, label="x", direction="down", format="pounds",
                 position=1, description="x.")
    with pytest.raises(PluginError, match="direction 'down'.*format 'pounds'"):
        sm.KIND.load("x", module(METRIC=bad), "bench/metrics/x.py")
    with pytest.raises(PluginError, match="defines no FIGURE"):
        FIGURES.load("f", module(), "bench/figures/f.py")


def test_summarize_leaves_out_a_failing_metric_with_a_warning() -> None:
    runs = runs_table()
    runs = runs[runs["strategy"] == "glorot"]
    metrics = sm.metric_registry()[0]
    crash = Metric(name="crash", compute=lambda cell: 1 / 0, label="c", direction="none",
                   format="num", position=0, description="fails.")
    with pytest.warns(RuntimeWarning, match="metric 'crash' failed"):
        out = sm.summarize(runs, [crash, *metrics])
    assert list(out.columns) == list(sm.summary_columns(metrics))
    errors: dict[str, str] = {}
    sm.summarize(runs, [crash, *metrics], errors)
    assert list(errors) == ["crash"]


def test_the_docs_example_metric_is_valid() -> None:
    doc = (REPO / "docs" / "metrics.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0].replace("<name>", "largest_mse")
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/metrics.md", "exec"), namespace)
    metric = sm.KIND.load("largest_mse", module(**namespace), "docs/metrics.md")
    runs = runs_table()
    runs = runs[(runs["strategy"] == "glorot") & (runs["arm"] == "clean")]
    out = sm.summarize(runs, [metric])
    # 0.027 + 0.001 (seed 1) + 0.002 (lr 1e-2)
    assert out["largest_mse"].iloc[0] == pytest.approx(0.030)


def test_the_docs_example_figure_draws_on_a_table_with_arms() -> None:
    """docs/extending.md's figure (``ctx.strategy_rows(ds)``, written before arms) still draws:
    the selectors take the dataset first and the arm as an optional second argument."""
    import re

    from matplotlib.figure import Figure

    from bench.figures import ResultsContext

    text = (REPO / "docs" / "extending.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "FIGURE =" in b)
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/extending.md", "exec"), namespace)
    runs = runs_table()
    ctx = ResultsContext.build(sm.run_flags(runs), sm.summary_table(runs))
    assert ctx.panels == [("clean", "ar1"), ("lasagne-0.1", "ar1")]
    assert len(ctx.strategy_rows("ar1")) == 4 and len(ctx.strategy_rows("ar1", "clean")) == 2
    assert ctx.references("ar1", "clean")["persistence"] == pytest.approx(1.2)  # 0.03 / 0.025
    assert isinstance(namespace["draw"](ctx), Figure)


def docs_example(doc: str, language: str = "python") -> str:
    """The first ``language`` code block of ``docs/<doc>``."""
    import re

    text = (REPO / "docs" / doc).read_text()
    m = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert m, f"docs/{doc} lost its example"
    return m.group(1)


def test_a_dataset_a_metric_and_a_figure_reach_a_real_sweep_and_its_report(tmp_path):
    """The three extension points at once, through ``python -m bench run``: the docs' example
    dataset is trained on, its exact floors are stored with each run, and the plugin metric and
    figure appear in the report of that sweep."""
    site = install(tmp_path, {"white_noise_mod": docs_example("datasets.md"),
                              "my_metric_mod": METRIC_MODULE, "my_fig_mod": FIGURE_MODULE}, """\
        [lstm_init_bench.datasets]
        white = white_noise_mod

        [lstm_init_bench.metrics]
        my_metric = my_metric_mod

        [lstm_init_bench.figures]
        my_fig = my_fig_mod
        """)
    sets = helpers.set_args({k: v for k, v in helpers.TINY.items() if k != "steps"})
    out = tmp_path / "r"
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{REPO}", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, "-m", "bench", "run", "--strategies", "glorot",
                           "--data", "white,ar1", "--lrs", "1e-3", "--seeds", "1", "--steps",
                           "2", "--arms", "none", "--no-extend", "--no-controls", *sets,
                           "--out", str(out), "--no-progress"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    runs = pd.read_parquet(out / "runs.parquet").set_index("dataset")
    scale2 = 0.25 ** 2  # the default data_scale: white noise has bayes = variance = scale²
    assert runs.loc["white", "bayes_mse"] == pytest.approx(scale2)
    assert runs.loc["white", "persistence_mse"] == pytest.approx(2 * scale2)
    md = (out / "report.md").read_text()
    assert "Dataset `white`" in md and "Dataset `ar1`" in md
    assert "largest test MSE (plugin)" in md and "](figures/my_fig.png)" in md
    assert set(runs["arm"]) == {"default"}
    assert {int(s[-1]) for s in runs["val_steps"]} == {2}  # the last point is the budget
    csv = pd.read_csv(out / "summary.csv")
    assert set(csv.loc[csv["kind"] == "strategy", "dataset"]) == {"white", "ar1"}
    assert csv["my_metric"].notna().sum() == 2
