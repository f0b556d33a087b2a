"""Faults injected at exact points (bench.faults), then the same command again: nothing lost,
nothing doubled, no temporary file left, and the final table equals an uninterrupted run's.
Two sweeps on one results directory split the chunks (bench.claims), also when one is killed."""

import os
import re
import signal
import subprocess
import sys

import helpers
import pandas as pd
import pytest

from bench import faults
from bench.cli import main
from bench.errors import UserError
from bench.store import abandoned
from bench.sweep import SweepSpec, run_sweep

SMALL = helpers.TINY
STRATEGIES, LRS, SEEDS, MAX_RUNS = "glorot,chrono", (1e-3, 1e-2), 2, 2
N_RUNS = 8  # 2 strategies x 2 LRs x 2 seeds, in 4 chunks of 2
# the command line's profile (quick) maps a chunk's runs with vmap: the same programs here
SPEC = SweepSpec(strategies=STRATEGIES, lrs=LRS, seeds=SEEDS, overrides=SMALL,
                 max_runs=MAX_RUNS, extend=False, controls=False, runs_axis="vmap")


def _command(out, *extra):
    return [sys.executable, "-m", "bench", "run", "--strategies", STRATEGIES,
            "--lrs", ",".join(map(str, LRS)), "--seeds", str(SEEDS), "--max-runs", str(MAX_RUNS),
            "--data", "ar1", "--arms", "none", "--no-extend", "--no-controls",
            *helpers.set_args(SMALL), "--out", str(out), "--no-progress", "--no-report", *extra]


def _env(fault=""):
    env = dict(os.environ)
    env.pop("BENCH_FAULT", None)
    if fault:
        env["BENCH_FAULT"] = fault
    return env


def _numbers(df):
    """Every column but the timings, one row per key."""
    keep = [c for c in df.columns if not c.startswith("chunk_")]
    return df[keep].set_index("key").sort_index()


def _leftovers(out):
    """Temporary files and claim files anywhere under ``out``."""
    return sorted(p.name for p in out.rglob("*") if p.name.endswith((".tmp", ".claim")))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted table (read only)."""
    out = tmp_path_factory.mktemp("uninterrupted")
    summary = run_sweep(SPEC, out, progress=False, log=lambda m: None)
    assert summary["ran"] == N_RUNS
    return _numbers(pd.read_parquet(out / "runs.parquet"))


def _resume_and_compare(out, reference):
    rerun = run_sweep(SPEC, out, progress=False, log=lambda m: None)
    assert rerun["failures"] == {}
    assert _leftovers(out) == [], "temporary or claim files left behind"
    table = pd.read_parquet(out / "runs.parquet")
    assert len(table) == N_RUNS and table["key"].is_unique
    pd.testing.assert_frame_equal(_numbers(table), reference, check_exact=True)
    return rerun


# (fault, records whole and visible after it, temporary files left by it)
KILLS = [("kill:after-record:1", 1, 0), ("kill:after-record:5", 5, 0),
         ("kill:before-rename:1", 0, 1), ("kill:before-rename:6", 5, 1),
         ("kill:mid-chunk:2", 2, 0)]  # dies holding the claim of its second chunk


@pytest.mark.parametrize("fault,visible,tmp", KILLS, ids=[k[0] for k in KILLS])
def test_kill_at_a_point_then_rerun_equals_uninterrupted(tmp_path, reference, fault, visible,
                                                         tmp):
    out = tmp_path / "killed"
    # one worker: chunk 2 starts only after chunk 1's records are stored, so mid-chunk:2 is exact
    proc = subprocess.run(_command(out, "--workers", "1"), env=_env(fault), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    records = sorted((out / "runs").glob("*.json"))
    assert len(records) == visible
    for f in records:  # every visible record is whole
        pd.read_json(f, typ="series")
    assert len(list((out / "runs").glob(".*.tmp"))) == tmp
    # the claim of the chunk being stored (or trained) when the kill came is left behind; the
    # operating system dropped its lock, so the rerun takes it over
    assert len(list((out / "claims").glob("*.claim"))) == 1
    rerun = _resume_and_compare(out, reference)
    assert rerun["skipped"] == visible - visible % MAX_RUNS  # only whole chunks are kept
    assert rerun["ran"] == N_RUNS - rerun["skipped"]


def test_full_disk_is_one_error_line_and_the_rerun_completes(tmp_path, reference, monkeypatch,
                                                             capsys):
    out = tmp_path / "full"
    monkeypatch.setenv("BENCH_FAULT", "enospc:record-write:4")
    assert main(_command(out)[3:]) == 2  # the arguments after "python -m bench"
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: --out {out}: cannot write ")
    assert "No space left on device" in lines[0] and ".json" in lines[0]
    assert len(list((out / "runs").glob("*.json"))) == 3  # written before the full disk: kept
    assert list(out.rglob("*.tmp")) == []
    monkeypatch.delenv("BENCH_FAULT")
    _resume_and_compare(out, reference)


def _trained(stdout):
    m = re.search(r"^(\d+) runs trained", stdout, re.M)
    assert m, stdout
    return int(m.group(1))


def test_two_sweeps_on_one_folder_split_the_chunks(tmp_path, reference):
    """A second process and this one, on one folder at the same time: every chunk is trained
    once (the counts add up to the runs), and each ends with the whole table."""
    out = tmp_path / "shared"
    other = subprocess.Popen(_command(out, "--workers", "1"), env=_env(), text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    here = run_sweep(SPEC, out, progress=False, log=lambda m: None, workers=1, poll_s=0.2)
    stdout, stderr = other.communicate(timeout=600)
    assert other.returncode == 0, stderr
    assert here["failures"] == {}
    assert here["ran"] + _trained(stdout) == N_RUNS  # no chunk trained twice
    table = pd.read_parquet(out / "runs.parquet")
    pd.testing.assert_frame_equal(_numbers(table), reference, check_exact=True)
    assert _leftovers(out) == []


@pytest.mark.parametrize("text,needle", [
    ("kill:after-record", "expected ACTION:POINT:K"),
    ("kil:after-record:1", "unknown action 'kil'"),
    ("kill:after-recrod:1", "unknown point 'after-recrod'"),
    ("kill:after-record:0", "K must be an integer >= 1"),
    ("enospc:mid-chunk:1", "enospc applies to record-write only"),
])
def test_a_misspelled_fault_is_an_error_naming_it(text, needle):
    with pytest.raises(UserError, match=re.escape(needle)):
        faults.parse(text)


def test_a_misspelled_fault_stops_the_cli_before_any_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BENCH_FAULT", "kill:after-recrod:1")
    assert main(_command(tmp_path / "x")[3:]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: BENCH_FAULT 'kill:after-recrod:1': unknown point 'after-recrod' (one of "
        "after-record, before-rename, record-write, mid-chunk)"]
    assert not (tmp_path / "x" / "runs").exists()


def test_parse_reads_every_fault():
    assert faults.parse("kill:after-record:3, enospc:record-write:2,kill:after-record:7") == {
        "after-record": [("kill", 3), ("kill", 7)], "record-write": [("enospc", 2)]}
    assert faults.parse("") == {}


def test_abandoned_temporary_files(tmp_path):
    import socket

    host = socket.gethostname().replace(".", "-")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    cases = {f".k.json.{host}.{os.getpid()}.ab12.tmp": False,  # this live process
             f".k.json.{host}.{dead}.ab12.tmp": True,  # its writer has exited
             ".k.json.ab12.tmp": True,  # an older version's name: no writer to ask
             f".runs.parquet.other-host.{os.getpid()}.x_9.tmp": False}  # fresh, another host
    for name, expected in cases.items():
        path = tmp_path / name
        path.write_bytes(b"")
        assert abandoned(path) is expected, name
    old = tmp_path / f".runs.parquet.other-host.{os.getpid()}.x_9.tmp"
    assert abandoned(old, now=old.stat().st_mtime + 25 * 3600) is True
