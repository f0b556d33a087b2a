"""bench.studies.lasagne_nans: the original network's recipe at a small size, its diagnostics,
and its command line (``lasagne-nans`` and the deprecated ``seed-repro``).

Sizes: hidden 64, length 5000, batch 5 (no Lasagne needed). Why these still blow up: the
growth comes from the forget-bias-+10 integrators and a recurrent gain of GlorotNormal(gain
0.01), whose spectral radius is about 0.01 at any width, so the time to overflow hardly depends
on H. With random seed 0 at H = 64 the lasagne-0.1 order overflows well inside 5000 steps while
the Graves order is still finite there, so both claims are testable; the tests below check
exactly that.
"""

import argparse
import json
import math
import sys

import numpy as np
import pytest

from bench.errors import UserError
from bench.studies import lasagne_nans as ln

H, T, B, SEED = 64, 5000, 5, 0


@pytest.fixture(scope="module")
def report():
    return ln.run_recipe(SEED, H, T, B, lasagne=False)


def _rows(report, name):
    return report["variants"][name]["sequences"]


def test_lasagne_order_blows_up_and_nan_count_is_whole_steps(report):
    """Once a step is all NaN every later step is (a NaN anywhere in h reaches every unit through
    W_hid at the next step), so the count is whole steps of H units from there on, plus the few
    units of the overflow's transition. How many units overflow first, and so whether the
    transition lasts one step or two, depends on float32 rounding at the overflow (the compiled
    code: one step at XLA's default CPU optimisation level, two at level 0, which the tests use)."""
    for name in (ln.ENGINE_01, ln.ENGINE_01_DROPOUT):
        for r in _rows(report, name):
            first, all_nan = r["first_nonfinite_step"], r["first_all_nan_step"]
            assert first is not None and 0 < first < T, (name, r)
            assert first < all_nan <= first + 2, (name, r)
            # the steps from all_nan on are NaN; before them, fewer than H units per step are
            assert (T - all_nan) * H <= r["nan"] < (T - first) * H, (name, r)
            assert 0 < r["inf"] < (all_nan - first) * H, (name, r)
            assert math.isfinite(r["max_abs_h_before"]) and r["max_abs_h_before"] > 1e6


def test_infs_only_between_the_overflow_and_the_first_all_nan_step():
    """The non-finite values start with an overflow (±inf, no NaN before it); the infs are
    confined to the steps before the first all-NaN step, and every step from there on is NaN."""
    params, cell_nl, nl = ln.first_layer("identity-bias", SEED, H)
    x = ln.make_input(SEED, B, T)
    h, c = ln.engine_forward(params, x, nonlinearity=nl, cell_nonlinearity=cell_nl,
                             peephole_order="lasagne-0.1")
    assert h.dtype == np.float32 and h.shape == (B, T, H)
    for b in range(B):
        first = np.flatnonzero(~np.isfinite(h[b]).all(axis=1))[0]
        all_nan = np.flatnonzero(np.isnan(h[b]).all(axis=1))[0]
        inf_steps = np.flatnonzero(np.isinf(h[b]).any(axis=1))
        assert first < all_nan <= first + 2
        assert inf_steps[0] == first and inf_steps[-1] < all_nan
        assert np.isnan(h[b, all_nan:]).all()


def test_graves_order_is_finite_here_but_grows(report):
    for r in _rows(report, ln.ENGINE_GRAVES):
        assert r["nan"] == 0 and r["inf"] == 0 and r["first_nonfinite_step"] is None
        assert r["max_abs_h_before"] > 100  # unbounded growth, not the identity's |h| < 1
    g = report["variants"][ln.ENGINE_GRAVES]["growth"]
    assert g["factor_per_1000_steps"] > 2
    assert g["max_abs_h"][-1] > 100 * g["max_abs_h"][0]


def test_fixed_strategy_is_finite_and_bounded(report):
    for r in _rows(report, ln.FIXED):
        assert r["nan"] == 0 and r["inf"] == 0 and r["first_nonfinite_step"] is None
        assert r["max_abs_h_before"] < 1.0  # tanh output, gate ≤ 1
        assert r["max_abs_c_before"] < 2.0


def test_first_step_dropout_versus_deterministic(report):
    fs = report["first_step"]
    on = np.abs(fs["mismatch_dropout_on"])
    off = np.abs(fs["mismatch_deterministic"])
    assert (on > off).all()
    assert on.mean() > 10 * off.mean()
    # deterministic: |h − x| ≤ |w_co| + W_in noise, far below what dropout does
    assert off.max() < 0.05
    x = np.asarray(fs["x"])
    for b, kept in enumerate(fs["kept"]):
        want = x[b] / (1 - ln.DROPOUT_P) - x[b] if kept else -x[b]
        assert fs["mismatch_dropout_on"][b] == pytest.approx(want, abs=0.05)


def test_first_step_terms_add_up_and_have_the_expected_sizes(report):
    fs = report["first_step"]
    t = {k: np.asarray(v) for k, v in fs["terms_deterministic"].items()}
    # the telescoped terms reproduce the engine's float32 first output
    assert fs["max_abs_term_vs_engine"] < 1e-6
    assert np.allclose(t["total"], fs["mismatch_deterministic"], atol=1e-6)
    assert np.all(t["dropout"] == 0)
    sigma10 = 1 / (1 + math.exp(-10))
    assert np.allclose(t["sigma_i"], sigma10, atol=1e-6)
    assert np.allclose(t["sigma_o"], sigma10, atol=1e-6)
    assert np.allclose(t["ingate"], (sigma10 - 1) * t["x"], rtol=0.05, atol=1e-6)
    # the 0.1 bug's extra term is w_co·c² with c ≈ x
    assert np.allclose(t["peephole_bug"], t["w_co"] * t["x"] ** 2, rtol=0.05, atol=1e-6)
    d = {k: np.asarray(v) for k, v in fs["terms_dropout_on"].items()}
    assert np.allclose(d["total"], fs["mismatch_dropout_on"], atol=1e-6)


def test_sequence_stats_on_a_hand_made_array():
    h = np.zeros((2, 5, 3), np.float32)
    h[0, 1] = [1.0, -4.0, 2.0]
    h[0, 2, 1] = np.inf
    h[0, 3:] = np.nan
    h[1, 4, 0] = np.nan
    rows = ln.sequence_stats(h)
    assert rows[0] == {"nan": 6, "inf": 1, "first_nonfinite_step": 2, "first_all_nan_step": 3,
                       "max_abs_h_before": 4.0, "max_abs_c_before": None}
    assert rows[1]["first_nonfinite_step"] == 4 and rows[1]["first_all_nan_step"] is None
    assert ln.nan_relation_holds(rows[:1], length=5, hidden=3)
    assert not ln.nan_relation_holds(rows, length=5, hidden=3)  # a lone NaN is not whole steps


def test_lasagne_skipped_with_a_note(report, monkeypatch, tmp_path):
    assert report["notes"][ln.LASAGNE].startswith("skipped")
    assert ln.LASAGNE not in report["variants"]
    monkeypatch.setattr(ln, "LASAGNE_PYTHON", tmp_path / "missing" / "python")
    hid, note = ln.run_lasagne({}, np.zeros((1, 1, 7), np.float32))
    assert hid is None and note.startswith("skipped")


def test_explanation_names_the_three_causes(report):
    text = ln.explanation()
    for needle in ("forget bias +10", "after the sigmoid", "determistic", "1/0.67"):
        assert needle in text
    measured = report["explanation"]
    assert measured.startswith(text) and "Measured in this run" in measured
    assert ln.ENGINE_GRAVES in measured and ln.FIXED in measured


class _Parser(argparse.ArgumentParser):
    """One-line errors and exit status 2, as the command line's parser."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"error: {self.prog}: {message}", file=sys.stderr)
        raise SystemExit(2)


def _parser():
    p = _Parser(prog="python -m bench", allow_abbrev=False)
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    ln.add_parser(sub)
    return p


@pytest.mark.parametrize("command", ["lasagne-nans", "seed-repro"])
@pytest.mark.parametrize("argv", [
    ["--determistic"],
    ["--hid", "64"],  # abbreviations are refused
    ["--hidden", "0"],
    ["--length", "ten"],
    ["--seed", "-1"],
])
def test_bad_options_exit_2(command, argv, capsys):
    with pytest.raises(SystemExit) as e:
        _parser().parse_args([command, *argv])
    assert e.value.code == 2
    assert capsys.readouterr().err.startswith("error:")


def test_add_parser_sets_func_and_the_old_name_says_it_is_deprecated(monkeypatch, capsys):
    p = _parser()
    new = p.parse_args(["lasagne-nans", "--hidden", "8"])
    old = p.parse_args(["seed-repro", "--hidden", "8"])
    assert new.func is ln.cmd
    assert vars(new) | {"command": None, "func": None} == vars(old) | {"command": None,
                                                                       "func": None}
    seen = []
    monkeypatch.setattr(ln, "run_recipe", lambda *a, **k: seen.append(a) or {"wall_s": 0.0})
    assert new.func(new) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert old.func(old) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "note: 'seed-repro' is deprecated; use 'lasagne-nans'"
    assert seen == [(0, 8, 10_000, 5)] * 2


def test_cli_registration_rejects_unknown_options(capsys):
    from bench import cli

    try:
        status = cli.main(["lasagne-nans", "--determistic"])
    except SystemExit as e:  # main may let argparse's exit through or return its code
        status = e.code
    assert status == 2
    assert "--determistic" in capsys.readouterr().err


def test_cmd_writes_strict_json(tmp_path, capsys):
    out = tmp_path / "r.json"
    args = _parser().parse_args(["lasagne-nans", "--hidden", "16", "--length", "300",
                                 "--batch", "2", "--no-lasagne", "--json", str(out)])
    assert ln.cmd(args) == 0
    printed = capsys.readouterr().out
    assert "== " + ln.ENGINE_01 in printed and "Measured in this run" in printed

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    data = json.loads(out.read_text(), parse_constant=no_constants)
    assert data["hidden"] == 16 and data["length"] == 300
    assert data["question_nan_per_sequence"] == list(ln.QUESTION_NAN_PER_SEQUENCE)
    assert [k for k in data if "seed" in k] == ["seed"]  # "seed" is the random seed only
    assert set(data["variants"]) == {ln.ENGINE_01, ln.ENGINE_01_DROPOUT, ln.ENGINE_GRAVES,
                                     ln.FIXED}


def test_cmd_rejects_json_in_a_missing_folder(tmp_path):
    args = argparse.Namespace(seed=0, hidden=8, length=10, batch=1, no_lasagne=True,
                              json=str(tmp_path / "nope" / "r.json"))
    with pytest.raises(UserError, match="does not exist"):
        ln.cmd(args)
