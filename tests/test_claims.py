"""Chunk claims (bench.claims): the locking contract, and a sweep that ends on an error leaves
no claim behind, not even one a late worker thread asks for after the sweep has returned.

``flock`` locks belong to an open file, so two :class:`Claims` objects in one process see each
other exactly as two processes do; the tests use that instead of timing a second process.
"""

import types

import helpers
import pytest

from bench.claims import Claims
from bench.sweep import SweepSpec, job_id, run_sweep

SPEC = SweepSpec(strategies="glorot,chrono", lrs=(1e-3, 1e-2), seeds=2, max_runs=2,
                 extend=False, controls=False, runs_axis="vmap",
                 overrides=helpers.TINY)


def test_a_claim_excludes_others_until_released(tmp_path):
    mine, theirs = Claims(tmp_path), Claims(tmp_path)
    assert mine.acquire("c1")
    assert not mine.acquire("c1")  # held already, by this one
    assert theirs.held_elsewhere("c1") and not theirs.acquire("c1")
    assert not mine.held_elsewhere("c1")
    assert not theirs.held_elsewhere("c2") and theirs.acquire("c2")
    mine.release("c1")
    assert not (tmp_path / "claims" / "c1.claim").exists()
    assert not theirs.held_elsewhere("c1") and theirs.acquire("c1")


def test_after_release_all_no_claim_is_taken(tmp_path):
    mine, theirs = Claims(tmp_path), Claims(tmp_path)
    assert mine.acquire("c1") and mine.acquire("c2")
    mine.release_all()
    assert sorted((tmp_path / "claims").glob("*.claim")) == []
    assert not mine.acquire("c3")  # a late worker thread's request
    assert not theirs.held_elsewhere("c3") and theirs.acquire("c3")


def test_a_sweep_ending_on_a_full_disk_leaves_no_claim(tmp_path, monkeypatch):
    """The first record write fails (ENOSPC). A worker thread that asks for the next chunk
    after the sweep has returned is refused, so a second sweep in the same process finds every
    chunk free (before this, it waited forever for the leaked claim)."""
    seen = {}

    def executor(jobs, claim):
        seen.update(jobs=jobs, claim=claim)
        assert claim(jobs[0])
        yield jobs[0], [types.SimpleNamespace(key="k0", to_json=lambda: {"key": "k0"})]

    monkeypatch.setenv("BENCH_FAULT", "enospc:record-write:1")
    with pytest.raises(OSError, match="No space left"):
        run_sweep(SPEC, tmp_path, progress=False, log=lambda m: None, executor=executor)
    assert len(seen["jobs"]) == 4
    assert not seen["claim"](seen["jobs"][1])  # the late request
    assert sorted((tmp_path / "claims").glob("*.claim")) == []
    other = Claims(tmp_path)
    assert not any(other.held_elsewhere(job_id(j)) for j in seen["jobs"])
