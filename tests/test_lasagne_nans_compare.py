"""The engine-versus-Lasagne comparison of ``python -m bench lasagne-nans`` on hand-made hidden
sequences (no Theano needed): :func:`compare`'s numbers, :func:`growth`, and the text of
:func:`format_agreement` / :func:`format_variant`, each against values worked out by hand.
(tests/test_lasagne_nans.py covers the recipe's variants, ``sequence_stats`` and the CLI.)"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench.studies import lasagne_nans as ln

INF, NAN = np.inf, np.nan

# (batch 3, length 6, H 2), float32 as both sides produce
ENGINE = np.array([
    # seq 0: overflows at step 4, all NaN from step 5
    [[0.1, 0.0], [0.2, -0.1], [0.4, 0.2], [0.8, 0.3], [INF, 1.0], [NAN, NAN]],
    # seq 1: finite throughout
    [[0.0, 0.5], [0.1, 0.5], [-0.2, 0.6], [0.3, 0.7], [0.4, 0.8], [0.5, 0.9]],
    # seq 2: overflows at step 5
    [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 4.0], [-INF, 8.0]],
], np.float32)
LASAGNE = np.array([
    # seq 0: one step later (5); step 2 differs by 0.1 in unit 0
    [[0.1, 0.0], [0.2, -0.1], [0.5, 0.2], [0.8, 0.3], [1.6, 1.0], [INF, 2.0]],
    # seq 1: finite; |h| reaches 2.0 in the first 3 steps (the denominator)
    [[0.0, 0.5], [0.1, 0.5], [-0.2, -2.0], [0.3, 0.7], [0.4, 0.8], [0.5, 0.9]],
    # seq 2: one step earlier (4)
    [[0.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [NAN, NAN], [NAN, NAN]],
], np.float32)


def test_compare_first_nonfinite_steps_and_early_difference():
    a = ln.compare(ENGINE, LASAGNE, steps=3)
    assert a["first_nonfinite_engine"] == [4, None, 5]
    assert a["first_nonfinite_lasagne"] == [5, None, 4]
    assert a["early_steps"] == 3
    # over steps 0-2: the largest |Δh| is seq 1 unit 1 step 2 (0.6 vs -2.0: 2.6), divided by
    # the largest |h_lasagne| there (2.0) -> 1.3
    assert a["max_rel_diff_early"] == pytest.approx(2.6 / 2.0, rel=1e-6)


def test_compare_early_difference_is_none_once_a_side_is_not_finite():
    assert ln.compare(ENGINE, LASAGNE)["max_rel_diff_early"] is None  # steps 1000 > length 6
    assert ln.compare(ENGINE, LASAGNE, steps=5)["max_rel_diff_early"] is None  # seq 0 step 4
    assert ln.compare(ENGINE, LASAGNE, steps=4)["early_steps"] == 4


def test_compare_of_identical_sequences_is_zero():
    a = ln.compare(ENGINE[1:2], ENGINE[1:2].copy(), steps=6)
    assert a["max_rel_diff_early"] == 0.0
    assert a["first_nonfinite_engine"] == a["first_nonfinite_lasagne"] == [None]


def test_growth_of_a_doubling_sequence():
    # max|h| over the batch doubles every 100 steps: ×2^10 = 1024 per 1000 steps
    t = np.arange(1200)
    h = (0.5 * 2.0 ** (t / 100.0)).reshape(1, -1, 1).repeat(2, axis=0)
    g = ln.growth(h, points=4)
    assert g["steps"] == [0, 400, 799, 1199]
    np.testing.assert_allclose(g["max_abs_h"], 0.5 * 2.0 ** (np.array(g["steps"]) / 100.0))
    assert g["factor_per_1000_steps"] == pytest.approx(1024.0, rel=1e-9)
    # too short a second half (< 500 steps) or a non-finite run: no factor
    assert ln.growth(h[:, :900])["factor_per_1000_steps"] is None
    h[0, 3, 0] = np.nan
    assert ln.growth(h)["factor_per_1000_steps"] is None


def _report(agreement: dict) -> dict:
    """A report as run_recipe builds it for the Lasagne variant, every number by hand."""
    rows = [
        {"nan": 4, "inf": 1, "first_nonfinite_step": 4, "first_all_nan_step": 5,
         "max_abs_h_before": 0.8, "max_abs_c_before": None},
        {"nan": 0, "inf": 0, "first_nonfinite_step": None, "first_all_nan_step": None,
         "max_abs_h_before": 2.0, "max_abs_c_before": None},
    ]
    return {"outputs_per_sequence": 8,  # length 4 × H 2
            "variants": {ln.LASAGNE: {
                "sequences": rows, "seconds": math.nan,
                "growth": {"steps": [0, 3], "max_abs_h": [0.1, math.nan],
                           "factor_per_1000_steps": None},
                "nan_equals_steps_after_first_all_nan_times_h": False,
                "agreement": agreement}}}


def test_format_agreement_text():
    agreement = {"first_nonfinite_engine": [6, None], "first_nonfinite_lasagne": [4, 9],
                 "early_steps": 3, "max_rel_diff_early": 0.0123}
    text = ln.format_agreement(_report(agreement))
    lines = text.splitlines()
    assert lines[0] == "" and lines[1] == f"== {ln.LASAGNE}"
    header = lines[2].split()
    assert header[:4] == ["seq", "NaN", "NaN", "share"]
    assert lines[3].split() == ["0", "4", "50.0%", "1", "4", "5", "0.8", "–"]
    assert lines[4].split() == ["1", "0", "0.0%", "0", "none", "none", "2", "–"]
    assert ("   NaN count = (length − first all-NaN step) × H does NOT hold for every sequence"
            in text)
    assert "   max|h| over the batch at step 0: 0.1, 3: –" in lines
    assert "engine time" not in text  # seconds NaN: no timing line for Lasagne
    # engine − Lasagne: 6 − 4 = +2; the second has no engine step: –
    assert ("   engine − Lasagne first non-finite step per sequence: +2, –; max |Δh| / max|h| "
            "over the first 3 steps: 0.012") in lines
    assert lines[-1].startswith("   (near the blow-up the float32 summation order")


def test_format_agreement_of_a_non_finite_early_window_and_negative_offsets():
    agreement = ln.compare(ENGINE, LASAGNE, steps=6)
    text = ln.format_agreement(_report(agreement))
    assert ("engine − Lasagne first non-finite step per sequence: -1, –, +1; max |Δh| / max|h| "
            "over the first 6 steps: –") in text


def test_format_variant_says_the_nan_relation_holds_and_shows_the_growth_factor():
    report = _report({})
    v = report["variants"][ln.LASAGNE]
    v["nan_equals_steps_after_first_all_nan_times_h"] = True
    v["growth"]["factor_per_1000_steps"] = 3.14159
    v["seconds"] = 2.25
    lines = ln.format_variant(ln.LASAGNE, report).splitlines()
    assert any(line.startswith("   NaN count = (length − first all-NaN step) × H holds for every")
               for line in lines)
    assert lines[-2] == ("   max|h| over the batch at step 0: 0.1, 3: –; ×3.14 per 1000 steps over "
                         "the second half")
    assert lines[-1] == "   engine time 2.2 s"  # 2.25 rounds half to even
