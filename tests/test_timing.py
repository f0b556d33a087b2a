"""Where a sweep's time went (bench.timing), on a hand-made run table: a chunk shared by two
strategies must count once."""

from __future__ import annotations

import pandas as pd
import pytest

from bench import timing


def _table() -> pd.DataFrame:
    # chunk A: 4 runs, 2 strategies, 10 s wall (train 6 s, compile 2 s); chunk B: 2 runs of a
    # third strategy, 6 s wall (train 3 s, compile 1 s)
    a = [{"strategy": s, "chunk_wall_s": 10.0, "chunk_runs": 4, "chunk_phase_s.train": 6.0,
          "chunk_phase_s.compile": 2.0} for s in ("glorot", "glorot", "chrono", "chrono")]
    b = [{"strategy": "lsuv", "chunk_wall_s": 6.0, "chunk_runs": 2, "chunk_phase_s.train": 3.0,
          "chunk_phase_s.compile": 1.0}] * 2
    return pd.DataFrame(a + b)


def test_a_shared_chunk_counts_once_in_wall_time_and_phases():
    assert timing.sweep_wall(_table()) == (pytest.approx(16.0), 2)
    assert timing.sweep_phases(_table()) == {"compile": pytest.approx(3.0),
                                             "train": pytest.approx(9.0)}
    text = timing.breakdown({"compile": 3.0, "train": 9.0})
    assert text == "compile 3 s (25 %), train 9 s (75 %)"


def test_damaged_chunk_fields_are_left_out():
    t = _table()
    t.loc[0, "chunk_runs"] = 0  # would divide by zero
    t.loc[1, "chunk_wall_s"] = float("nan")
    t.loc[4, "chunk_runs"] = None
    # chunk A keeps runs 2 and 3 (2 × 10 / 4 s, half a chunk), chunk B run 5 (6 / 2 s)
    assert timing.sweep_wall(t) == (pytest.approx(8.0), 1)


def test_a_table_without_chunk_times_has_none():
    assert timing.sweep_wall(pd.DataFrame({"strategy": ["glorot"]})) == (0.0, 0)
    assert timing.sweep_phases(pd.DataFrame({"strategy": ["glorot"]})) == {}
