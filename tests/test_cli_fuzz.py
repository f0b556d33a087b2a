"""Generated bad input for ``run``, ``report`` and ``forward`` (issue 15, part 5).

The command line's contract (:mod:`bench.cli`): bad input gets exactly one ``error: ...`` line
on stderr and exit status 2, never a traceback. Hypothesis generates the input: real option names
with random values (``nan``, ``inf``, ``1e999``, ``''``, unicode, commas, huge integers),
misspelled, abbreviated and made-up option names, stray positionals, broken results directories
(garbage ``runs.parquet``, garbage or mistyped record JSON) and broken ``.npz``/``.npy`` files
(missing, extra, misshapen or mistyped arrays). Each case must end in

* success: status 0 and no ``error:`` line (for ``run``: the sweep is reached, see below), or
* status 2 and exactly one ``error:`` line (any other stderr line is a ``note:``) that names
  something the user typed or a missing required argument.

No case trains a network: ``run_sweep`` is replaced by a stand-in that validates the spec and
resolves the first run of every strategy × dataset × arm (its config and key), as the real sweep
does before it trains, then stops. Every path a case writes to is inside the test's folder.

The profile is fixed (``derandomize=True``, no example database): every run draws the same
cases, whatever the seed of pytest-randomly. To search further, raise ``max_examples`` and turn
``derandomize`` off locally; ``--hypothesis-show-statistics`` shows the share of successes.
What the generator found is kept as plain cases (``RUN_FOUND``, ``FORWARD_FOUND``,
``REPORT_FOUND``), and bugs found outside the command line as plain cases (``FOUND_OUTSIDE``).
"""

import contextlib
import dataclasses
import io
import json
import math
import os
import shlex
import tempfile
import typing
from pathlib import Path

import jax
import numpy as np
import pytest
from helpers import lasagne_params
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import bench.sweep
from bench.cli import main
from bench.config import FIELDS, PER_RUN, RunConfig
from bench.errors import printable
from bench.record import HINTS, RunRecord

SETTINGS = settings(max_examples=150, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


class Reached(Exception):
    """The stand-in sweep was reached: every argument passed validation."""


def planned_sweep(spec, out, **kwargs):
    """Stands in for :func:`bench.sweep.run_sweep`: validate, select, resolve the first run of
    each strategy × dataset × arm (config and key), then stop before anything is written."""
    from bench.registry import select

    spec.validate()
    strategies, _ = select(spec.strategies)
    one = dataclasses.replace(spec, seeds=1)
    for arm in spec.arms:
        for dataset in spec.datasets:
            for strategy in strategies:
                for cfg in one.configs(strategy, dataset, arm, lrs=(max(spec.lrs),)):
                    cfg.key()
    assert spec.sweep_id
    raise Reached


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A working directory of its own (relative paths and the default --out land there) and no
    training. Function-scoped, but nothing in it needs resetting between examples."""
    monkeypatch.setattr(bench.sweep, "run_sweep", planned_sweep)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(argv):
    """(status, stdout, stderr) of ``main(argv)`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    x64 = jax.config.jax_enable_x64
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                status = main(argv)
            except Reached:
                status = 0
            except SystemExit as e:  # argparse's own exits, if main() let one escape
                status = e.code
    finally:
        jax.config.update("jax_enable_x64", x64)  # forward --float64 flips it
    return status, out.getvalue(), err.getvalue()


def _words(argv):
    """What an error may name: every token, and the parts of NAME=VALUE and --flag=value
    (an error line shows them with :func:`bench.errors.printable`)."""
    for token in argv[1:]:
        yield token
        yield shlex.quote(token)  # how an unrecognized argument is shown
        for sep in ("=", ","):
            yield from token.split(sep)


def check(argv):
    """Assert the contract for one command line; return (status, error line or None)."""
    status, _, err = invoke(argv)
    assert "Traceback" not in err, err
    assert status in (0, 2), f"status {status!r}; stderr: {err!r}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    if currently_in_test_context():  # shown by pytest --hypothesis-show-statistics
        event(f"status {status}")
    if status == 0:
        assert not errors, err
        return status, None
    assert len(errors) == 1, f"expected one error line, got {lines!r}"
    others = [ln for ln in lines if ln is not errors[0]]
    assert all(ln.startswith("note:") for ln in others), f"stray stderr lines: {others!r}"
    line = errors[0]
    named = [w for w in _words(argv) if w.strip() and printable(w.strip()) in line]
    assert named or "required" in line or "argument -" in line, (
        f"the error names nothing the user gave: {line!r}")
    return status, line


# ------------------------------------------------------------------------------ strategies

# Characters a command line can carry: no NUL (argv is C strings), lone surrogates only as
# Python's surrogateescape of undecodable bytes (U+DC80..U+DCFF).
ARG_CHAR = st.one_of(st.characters(codec="utf-8", exclude_characters="\x00"),
                     st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF))
TEXT = st.text(ARG_CHAR, max_size=10)
SPECIAL = ["", " ", "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "-1", "0", "-0", "1",
           "2", "1e999", "-1e999", "1e-320", "0.5", "1.5", "1e-3", "99999999999999999999",
           ",", ",,", "1,2", "1,,2", "64,32", "0,5", "é", "٣", "１", "1_000", "0x10", "true",
           "false", "auto", "none", "all", "default", "glorot", "chrono", "ar1", "co2",
           "clean", "lasagne-0.1", "graves", "adam", "linear", "warmup_cosine", "tanh", "=",
           "--", "-", "\u00a0", "x\udcff"]
NUMBER = st.one_of(st.integers(-(10 ** 30), 10 ** 30).map(str), st.floats().map(repr),
                   st.floats().map("{:g}".format), st.sampled_from(SPECIAL))
ATOM = st.one_of(NUMBER, TEXT)
VALUE = st.one_of(ATOM, st.lists(ATOM, min_size=2, max_size=4).map(",".join))

RUN_OPTIONS = ["--profile", "--strategies", "--data", "--lrs", "--seeds", "--arms", "--axis",
               "--steps", "--set", "--max-runs", "--runs-axis", "--out", "--executor",
               "--workers", "--address", "--gpus-per-task"]
RUN_FLAGS = ["--no-extend", "--no-controls", "--no-report", "--no-progress"]
FORWARD_OPTIONS = ["--params", "--input", "--output", "--mask", "--peephole-order",
                   "--nonlinearity", "--cell-nonlinearity", "--grad-clipping"]
FORWARD_FLAGS = ["--no-peepholes", "--float64"]
STRATEGIES = ["glorot", "chrono", "lsuv", "forget-bias-one", "all", "glorot,chrono"]
DATASETS = ["ar1", "co2", "sunspots", "pink", "ar1,ar2"]
# Values that pass, so that a case gets past its first option to the checks behind it.
PLAUSIBLE = {"--profile": ["quick", "standard", "large", "seed"], "--strategies": STRATEGIES,
             "--data": DATASETS, "--lrs": ["1e-3", "0.1,1", "3"], "--seeds": ["1", "2"],
             "--arms": ["clean", "lasagne-0.1", "none", "clean,lasagne-0.1"],
             "--axis": ["dropout=0,0.5", "hidden=8,16", "optimizer=sgd,adam"],
             "--steps": ["5", "10"], "--max-runs": ["1", "64"], "--runs-axis": ["map", "vmap"],
             "--executor": ["local", "ray"], "--workers": ["0", "1"],
             "--gpus-per-task": ["0", "1"], "--peephole-order": ["graves", "lasagne-0.1"],
             "--nonlinearity": ["tanh", "linear", "leaky_rectify"],
             "--cell-nonlinearity": ["tanh", "sigmoid"], "--grad-clipping": ["0", "1"]}
SET_NAMES = [*FIELDS, "hidden-size", "warmup-steps", "chrono.t_max", "chrono.tmax",
             "glorot.t_max", "nope.x", ".x", "x.", "", " dropout ", "DROPOUT"]


def mangle(option, how, i):
    """A misspelling, abbreviation or other near miss of ``option``."""
    stem = option[2:]
    i = i % max(len(stem), 1)
    return {"drop": "--" + stem[:i] + stem[i + 1:],
            "abbrev": "--" + stem[: max(i, 1)],
            "double": "--" + stem[:i] + stem[i] + stem[i:],
            "upper": option.upper(),
            "underscore": "--" + stem.replace("-", "_"),
            "one-dash": "-" + stem,
            "three-dash": "---" + stem,
            "suffix": option + "s"}[how]


def bad_option(real):
    mangled = st.builds(mangle, st.sampled_from(real),
                        st.sampled_from(["drop", "abbrev", "double", "upper", "underscore",
                                         "one-dash", "three-dash", "suffix"]),
                        st.integers(0, 30)).filter(lambda o: o not in real)
    return st.one_of(mangled, TEXT.map("--{}".format), TEXT.map("-{}".format))


def option_value(options):
    """``[--opt, value]`` or ``[--opt=value]``, the value random or plausible."""
    def value(option):
        plausible = PLAUSIBLE.get(option)
        return st.one_of(VALUE, st.sampled_from(plausible)) if plausible else VALUE

    return st.sampled_from(options).flatmap(
        lambda o: st.tuples(st.just(o), value(o), st.booleans())
    ).map(lambda t: [f"{t[0]}={t[1]}"] if t[2] else [t[0], t[1]])


def run_group():
    set_name = st.one_of(st.sampled_from(SET_NAMES), TEXT)
    return st.one_of(
        option_value(RUN_OPTIONS),
        st.tuples(set_name, VALUE).map(lambda t: ["--set", f"{t[0]}={t[1]}"]),
        st.tuples(st.sampled_from(FIELDS), st.lists(ATOM, max_size=3)).map(
            lambda t: ["--axis", f"{t[0]}={','.join(t[1])}"]),
        st.sampled_from(RUN_FLAGS).map(lambda f: [f]),
        st.tuples(bad_option(RUN_OPTIONS + RUN_FLAGS), st.lists(VALUE, max_size=1)).map(
            lambda t: [t[0], *t[1]]),
        TEXT.map(lambda s: [s]),  # a stray positional
    )


def _default_text(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


# --set NAME=VALUE that passes: each run option at its default (per-run fields excluded).
SET_PLAUSIBLE = [f"{n}={_default_text(getattr(RunConfig(), n))}" for n in FIELDS
                 if n not in PER_RUN] + ["hidden=8", "dropout=0", "optimizer=sgd",
                                         "readout=linear", "chrono.t_max=64", "chrono.t_max=auto"]


def plausible_group():
    return st.one_of(
        st.sampled_from(sorted(PLAUSIBLE)).flatmap(
            lambda o: st.sampled_from(PLAUSIBLE[o]).map(lambda v: [o, v])),
        st.sampled_from(SET_PLAUSIBLE).map(lambda t: ["--set", t]),
        st.sampled_from(RUN_FLAGS).map(lambda f: [f]))


# Mostly plausible options with up to two random groups (which may be plausible too): a case
# gets past its first option to the checks behind it.
RUN_ARGV = st.tuples(st.lists(plausible_group(), max_size=3),
                     st.lists(run_group(), max_size=2)).flatmap(
    lambda t: st.permutations(t[0] + t[1])).map(lambda gs: ["run"] + [x for g in gs for x in g])


# A record that parses: the generator breaks it field by field.
RECORD = RunRecord(key="k0", sweep_id="s1", arm="clean", strategy="glorot",
                   dataset="ar1", profile="quick", lr=1e-3, seed=0,
                   config={"hidden": [8], "steps": 4, "settings": {}}, diverged=False,
                   diverged_step=-1, val_mse_init=0.5, val_mse=0.2, test_mse_init=0.5,
                   test_mse=0.2, test_variance=0.06, variance=0.0625, bayes_mse=0.02,
                   persistence_mse=0.03, loss_curve=[0.3, 0.2], val_curve=[0.3, 0.2],
                   val_steps=[2, 4]).to_json()
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6)


def odd(hint):
    """Values of a record field's type (:data:`bench.record.HINTS`), odd ones included: NaN,
    infinities, negatives, empty and unicode text, lists of any length."""
    kind, args = typing.get_origin(hint) or hint, typing.get_args(hint)
    if kind is float:
        return st.one_of(st.floats(), st.integers(-3, 3))
    if kind is int:
        return st.integers(-(10 ** 20), 10 ** 20)
    if kind is bool:
        return st.booleans()
    if kind is str:
        return TEXT
    if kind is list:
        return st.lists(odd(args[0]), max_size=4)
    return st.dictionaries(TEXT, st.floats(), max_size=3)  # the dict fields


@st.composite
def record_text(draw, i):
    """The text of a runs/*.json file, and its stem: garbage, random JSON, a record with fields
    dropped or replaced by any JSON, or a record that parses with odd values in some fields."""
    kind = draw(st.sampled_from(["bytes", "json", "broken", "odd", "odd"]))
    stem = f"k{i}"
    if kind == "bytes":
        return stem, draw(st.binary(max_size=40))
    if kind == "json":
        return stem, json.dumps(draw(JSON)).encode()
    rec = {**RECORD, "key": stem, "seed": i, "strategy": ["glorot", "chrono", "glorot"][i]}
    names = draw(st.lists(st.sampled_from(sorted(rec)), min_size=1, max_size=3))
    for name in names:
        if kind == "odd":
            if name != "key":
                rec[name] = draw(odd(HINTS[name]).filter(lambda v, n=name: not known_bug(n, v)))
        elif draw(st.booleans()):
            rec.pop(name, None)
        else:
            rec[name] = draw(JSON.filter(lambda v, n=name: not known_bug(n, v)))
    return stem, json.dumps(rec).encode()


def table(n):
    """A run table of ``n`` valid runs, as ``runs.parquet`` holds it."""
    import pandas as pd

    return pd.DataFrame([RunRecord.from_json({**RECORD, "key": f"k{i}", "seed": i}).row()
                         for i in range(n)])


TABLE_COLUMNS = sorted(table(1).columns)
SCALARS = {"float": st.floats(), "int": st.integers(-(10 ** 18), 10 ** 18),
           "text": st.text(st.characters(codec="utf-8"), max_size=5), "bool": st.booleans(),
           "none": st.none(), "floats": st.lists(st.floats(), max_size=3)}


def known_bug(name, value, table=False):
    """A value of a record field (``table``: of a ``runs.parquet`` column) that hit a bug
    outside the command line, since fixed: left out of the generated cases, kept as a plain
    case in ``FOUND_OUTSIDE``."""
    if table and name == "test_mse_channels" and value is None:
        return True
    value = math.nan if value is None else value  # a record's null is NaN
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return (name == "bayes_mse" and value == 0) or (
        name == "lr" and math.isnan(value) and not table)  # the table's lr is checked


def column(n):
    """``n`` values of one kind (a Parquet column has one type), or None: drop the column."""
    return st.one_of(st.none(), st.sampled_from(sorted(SCALARS)).flatmap(
        lambda k: st.lists(SCALARS[k], min_size=n, max_size=n)))


LAYOUT = st.one_of(
    st.sampled_from([("missing",), ("empty",), ("a file",), ("runs.parquet is a folder",),
                     ("runs is a file",)]),
    st.tuples(st.just("parquet"), st.one_of(
        st.binary(max_size=64), st.sampled_from([b"", b"PAR1", b"PAR1" + b"\0" * 8 + b"PAR1"]))),
    st.tuples(st.just("parquet frame"), st.dictionaries(
        st.sampled_from(["strategy", "dataset", "lr", "seed", "arm", "sweep_id", "key",
                         "test_mse", "val_mse", "diverged", "x"]),
        st.lists(st.one_of(st.integers(-5, 5), st.floats(),
                           st.text(st.characters(codec="utf-8"), max_size=5)),
                 min_size=1, max_size=1),
        max_size=6)),
    st.tuples(st.just("table"), st.integers(1, 3).flatmap(lambda n: st.tuples(
        st.just(n), st.lists(st.tuples(st.sampled_from(TABLE_COLUMNS), column(n)).filter(
            lambda c: not any(known_bug(c[0], v, table=True) for v in c[1] or ())),
        max_size=3)))),
    st.tuples(st.just("records"), st.integers(1, 3).flatmap(
        lambda n: st.tuples(*[record_text(i) for i in range(n)]).map(list)),
              st.one_of(st.none(), st.binary(max_size=20), JSON.map(json.dumps))),
)


def make_results(root, layout):
    """A results directory at ``root`` broken as ``layout`` says; return its path as typed."""
    kind = layout[0]
    if kind == "missing":
        return str(root / "nowhere")
    if kind == "a file":
        (root / "f").write_text("not a folder")
        return str(root / "f")
    d = root / "results"
    d.mkdir()
    if kind == "runs.parquet is a folder":
        (d / "runs.parquet").mkdir()
    elif kind == "runs is a file":
        (d / "runs").write_text("")
        (d / "runs.parquet").write_bytes(b"PAR1")
    elif kind == "parquet":
        (d / "runs.parquet").write_bytes(layout[1])
    elif kind == "parquet frame":
        import pandas as pd

        pd.DataFrame(layout[1]).to_parquet(d / "runs.parquet")
    elif kind == "table":
        n, changes = layout[1]
        frame = table(n)
        for name, values in changes:
            if values is None:
                frame = frame.drop(columns=name, errors="ignore")
            else:
                frame[name] = values
        frame.to_parquet(d / "runs.parquet")
    elif kind == "records":
        _, records, sweep = layout
        (d / "runs").mkdir()
        for stem, data in records:
            (d / "runs" / f"{stem}.json").write_bytes(data)
        if sweep is not None:
            (d / "sweep.json").write_bytes(sweep if isinstance(sweep, bytes) else sweep.encode())
    return str(d)


REPORT_CASE = st.tuples(
    LAYOUT,
    st.one_of(st.just([]), st.just([]), st.just([]),  # mostly no stray arguments
              st.lists(st.one_of(bad_option(["--results", "--out"]).map(lambda o: [o]),
                                 TEXT.map(lambda s: [s])), min_size=1, max_size=2)),
    st.sampled_from([False] * 4 + [True]),  # the directory given as a random string instead
    TEXT)


# ------------------------------------------------------------------------ forward's files

def params(n_in, n_hid, peepholes):
    """One layer of standard-normal float32 parameters under Lasagne's names (seed 0)."""
    return lasagne_params(np.random.default_rng(0), n_in, n_hid, peepholes=peepholes, scale=1.0,
                          dtype=np.float32)


DTYPES = ["float32", "float64", "float16", "int32", "bool", "complex64", "<U3", "S2",
          "datetime64[s]", "struct"]


def retype(a, dtype):
    """``a`` as ``dtype`` (a structured dtype for "struct")."""
    if dtype == "struct":
        out = np.zeros(a.shape, dtype=[("a", "f4"), ("b", "i4")])
        out["a"] = a
        return out
    if dtype == "datetime64[s]":
        return np.zeros(a.shape, dtype)
    return a.astype(dtype)


MUTATION = st.one_of(
    st.tuples(st.just("drop"), st.integers(0, 20)),
    st.tuples(st.just("extra"), st.from_regex(r"[A-Za-z_]\w{0,8}", fullmatch=True)),
    st.tuples(st.just("shape"), st.integers(0, 20), st.lists(st.integers(0, 4), max_size=3)),
    st.tuples(st.just("dtype"), st.integers(0, 20), st.sampled_from(DTYPES)),
    st.tuples(st.just("nonfinite"), st.integers(0, 20), st.sampled_from([np.nan, np.inf])),
)
SHAPE = st.lists(st.integers(0, 3), max_size=4).map(tuple)
FILE_KIND = st.sampled_from(["ok"] * 8 + ["missing", "folder", "garbage", "npz instead",
                             "npy instead", "shape", "dtype", "pickled"])


FORWARD_PLAUSIBLE = st.sampled_from(FORWARD_OPTIONS[4:]).flatmap(
    lambda o: st.sampled_from(PLAUSIBLE[o]).map(lambda v: [o, v]))


@st.composite
def forward_case(draw):
    n_in, n_hid = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    return {
        "n_in": n_in, "n_hid": n_hid, "peepholes": draw(st.booleans()),
        "params": draw(FILE_KIND),
        "mutations": draw(st.lists(MUTATION, max_size=1)) if draw(st.booleans()) else [],
        "input": draw(FILE_KIND), "input_shape": draw(SHAPE),
        "input_dtype": draw(st.sampled_from(DTYPES)),
        "mask": draw(st.one_of(st.none(), FILE_KIND)), "mask_shape": draw(SHAPE),
        "mask_dtype": draw(st.sampled_from(DTYPES)),
        "output": draw(st.sampled_from(["ok"] * 4 + ["folder", "no parent", "under a file",
                                                     "fifo", "random"])),
        "output_text": draw(TEXT),
        "extra": draw(st.lists(st.one_of(
            FORWARD_PLAUSIBLE, FORWARD_PLAUSIBLE, FORWARD_PLAUSIBLE,
            st.sampled_from(FORWARD_FLAGS).map(lambda f: [f]),
            option_value(FORWARD_OPTIONS[4:]),
            st.tuples(bad_option(FORWARD_OPTIONS + FORWARD_FLAGS),
                      st.lists(VALUE, max_size=1)).map(lambda t: [t[0], *t[1]]),
            TEXT.map(lambda s: [s])), max_size=2)),
        "drop_option": draw(st.sampled_from([None] * 12 + ["--params", "--input", "--output"])),
    }


def write_file(path, kind, good, shape, dtype, npz):
    """Write ``good`` (an array, or a dict for an .npz) to ``path`` broken as ``kind`` says."""
    if kind == "missing":
        return
    if kind == "folder":
        path.mkdir()
    elif kind == "garbage":
        path.write_bytes(b"\x93NUMPY garbage" if npz else b"PK\x03\x04 garbage")
    elif kind == "npz instead":
        np.savez(path.with_suffix(".tmp.npz"), x=np.zeros(2))
        path.with_suffix(".tmp.npz").rename(path)
    elif kind == "npy instead":
        with open(path, "wb") as f:
            np.save(f, np.zeros((1, 2, 1), np.float32))
    elif kind == "pickled":
        with open(path, "wb") as f:
            if npz:
                np.savez(f, **{k: np.array([v], object) for k, v in good.items()})
            else:
                np.save(f, np.array([None], object), allow_pickle=True)
    elif npz:
        with open(path, "wb") as f:
            np.savez(f, **good)
    else:
        array = good
        if kind == "shape":
            array = np.ones(shape, np.float32)
        elif kind == "dtype":
            array = retype(good, dtype)
        with open(path, "wb") as f:
            np.save(f, array)


def apply(p, mutation):
    names = sorted(p)
    kind, *rest = mutation
    if kind == "drop" and p:
        p.pop(names[rest[0] % len(names)])
    elif kind == "extra":
        p[rest[0]] = np.zeros(1, np.float32)
    elif kind == "shape" and p:
        p[names[rest[0] % len(names)]] = np.ones(tuple(rest[1]), np.float32)
    elif kind == "dtype" and p:
        name = names[rest[0] % len(names)]
        p[name] = retype(p[name], rest[1])
    elif kind == "nonfinite" and p:
        name = names[rest[0] % len(names)]
        p[name] = np.full_like(p[name], rest[1])


def inside(d, text):
    """``text`` as a path under ``d``: a generated path must never reach outside the test's
    folder (``forward --output /dev/null`` run as root replaces the device with a file)."""
    return f"{d}/{text.replace('..', '_.')}"


def forward_argv(d, case):
    p = params(case["n_in"], case["n_hid"], case["peepholes"])
    for m in case["mutations"]:
        apply(p, m)
    write_file(d / "p.npz", case["params"], p, (), "float32", npz=True)
    x = np.random.default_rng(1).normal(size=(2, 3, case["n_in"])).astype(np.float32)
    write_file(d / "x.npy", case["input"], x, case["input_shape"], case["input_dtype"], npz=False)
    args = {"--params": str(d / "p.npz"), "--input": str(d / "x.npy")}
    if case["mask"] is not None:
        mask = np.ones((2, 3), np.float32)
        write_file(d / "m.npy", case["mask"], mask, case["mask_shape"], case["mask_dtype"],
                   npz=False)
        args["--mask"] = str(d / "m.npy")
    output = case["output"]
    if output == "folder":
        (d / "out").mkdir()
        args["--output"] = str(d / "out")
    elif output == "no parent":
        args["--output"] = str(d / "no" / "such" / "h.npy")
    elif output == "fifo":  # a special file, as /dev/null is: never replaced by the output
        os.mkfifo(d / "fifo")
        args["--output"] = str(d / "fifo")
    elif output == "under a file":
        (d / "file").write_text("")
        args["--output"] = str(d / "file" / "h.npy")
    elif output == "random":
        args["--output"] = inside(d, case["output_text"])
    else:
        args["--output"] = str(d / "h.npy")
    args.pop(case["drop_option"], None)
    argv = ["forward", *[t for kv in args.items() for t in kv]]
    return argv + [t for g in case["extra"] for t in g]


# ------------------------------------------------------------------------------ the tests


@SETTINGS
@given(argv=RUN_ARGV)
@example(argv=["run"])
def test_run_generated_arguments(sandbox, argv):
    check(argv)
    assert not (sandbox / "results").exists()  # validation wrote nothing


@settings(SETTINGS, max_examples=40)
@given(case=REPORT_CASE)
def test_report_generated_results_directories(sandbox, case):
    layout, extra, typed, text = case
    with tempfile.TemporaryDirectory(dir=sandbox) as tmp:
        path = inside(Path(tmp), text) if typed else make_results(Path(tmp), layout)
        check(["report", path, *[t for g in extra for t in g]])


@settings(SETTINGS, max_examples=120)
@given(case=forward_case())
def test_forward_generated_files(sandbox, case):
    with tempfile.TemporaryDirectory(dir=sandbox) as tmp:
        check(forward_argv(Path(tmp), case))


# ------------------------------------------------------------- what the generator found

# Each was a traceback, a second stderr line, a wrong flag in the message, or a silently
# accepted bad value; the needle is what the one error line must now name.
RUN_FOUND = [
    (["run", "--\r0"], r"--\r0"),  # a line break in an unknown option split the error line
    (["run", ""], "''"),  # an empty unknown argument was invisible
    (["run", "--axis", "profile=,"], "--axis"),  # was "--arms: no arm given"
    (["run", "--set", "clip_norm=nan"], "clip_norm"),  # NaN passed "< 0" checks: accepted
    (["run", "--set", "grad_clipping=inf"], "grad_clipping"),
    (["run", "--set", "data_scale=nan"], "data_scale"),
    (["run", "--executor", "ray", "--gpus-per-task", "nan"], "--gpus-per-task"),
]


@pytest.mark.parametrize("argv,needle", RUN_FOUND)
def test_run_found_cases(sandbox, argv, needle):
    status, line = check(argv)
    assert status == 2 and needle in line


def fcase(**changes):
    """A forward case whose files are all good, but for ``changes``."""
    return {"n_in": 2, "n_hid": 2, "peepholes": True, "params": "ok", "mutations": [],
            "input": "ok", "input_shape": (), "input_dtype": "float32", "mask": None,
            "mask_shape": (), "mask_dtype": "float32", "output": "ok", "output_text": "",
            "extra": [], "drop_option": None, **changes}


FORWARD_FOUND = [
    (fcase(input="npz instead"), "--input"),  # AttributeError: NpzFile has no ndim
    (fcase(input="dtype", input_dtype="<U3"), "dtype <U3"),  # text silently read as numbers
    (fcase(mask="dtype", mask_dtype="complex64"), "--mask"),  # imaginary part dropped
    (fcase(mutations=[("dtype", 0, "struct")]), "--params"),  # TypeError in jnp.asarray
    (fcase(params="npy instead"), "--params"),  # was a context-manager TypeError, as text
    (fcase(extra=[["--grad-clipping=-1"]]), "--grad-clipping"),  # ValueError in lstm_layer
    (fcase(extra=[["--grad-clipping", "nan"]]), "--grad-clipping"),  # NaN: accepted
    (fcase(output="under a file"), "--output"),  # FileExistsError from write_atomic
    (fcase(output="fifo"), "not a regular file"),  # replaced by a file (/dev/null too)
]


@pytest.mark.parametrize("case,needle", FORWARD_FOUND)
def test_forward_found_cases(sandbox, case, needle):
    status, line = check(forward_argv(sandbox, case))
    assert status == 2 and needle in line
    assert not (sandbox / "h.npy").exists()


def record_json(**fields):
    return json.dumps({**RECORD, **fields}).encode()


REPORT_FOUND = [
    (("parquet", b"garbage"), "not a readable Parquet table"),  # ArrowInvalid
    (("parquet", b"PAR1"), "not a readable Parquet table"),  # OSError from pyarrow
    (("parquet frame", {"strategy": [0]}), "no column(s) dataset"),  # KeyError: 'dataset'
    (("table", (1, [("val_curve", None), ("eval_mse", [0.1])])),  # bench report on
     "an older protocol's table"),  # results/large-gpu: ValueError from summary.run_flags
    (("table", (1, [("bayes_channels", None)])), "'bayes_channels'"),  # report.per_channel
    (("table", (1, [("lr", ["1e-3"])])), "column 'lr'"),  # text: refused with the rest
    (("table", (2, [("variance", ["a", ""])])), "column 'variance'"),  # TypeError in floors
    (("table", (1, [("dataset", [None])])), "column 'dataset'"),  # KeyError: 'None'
    (("table", (2, [("seed", [None, None])])), "column 'seed'"),  # TypeError: int(None)
    (("table", (1, [("lr", [math.nan])])), "column 'lr'"),  # KeyError, as for records
    (("table", (1, [("chunk_wall_s", [[0.1]])])), "column 'chunk_wall_s'"),  # unhashable
    (("records", [("k0", record_json(val_curve=[]))], None), "val_curve has 0 points"),
]


@pytest.mark.parametrize("layout,needle", REPORT_FOUND)
def test_report_found_cases(sandbox, layout, needle):
    status, line = check(["report", make_results(sandbox, layout)])
    assert status == 2 and needle in line
    assert not (sandbox / "results" / "report.md").exists()


def test_report_of_an_empty_path_quotes_it(sandbox):
    status, line = check(["report", ""])
    assert status == 2 and line.startswith("error: '': not a results directory")


# Bugs the generator found outside the command line (bench/summary.py, bench/report.py,
# bench/record.py), fixed there; the generator still leaves these values out (known_bug), so
# each is kept here as a plain case with its expected outcome.
FOUND_OUTSIDE = [
    # summary.reference_rows divided Python floats (p / b): ZeroDivisionError; now inf ratios
    pytest.param(("records", [("k0", record_json(bayes_mse=0.0))], None), 0,
                 id="zero-bayes-floor"),
    # a null lr was read as NaN and summary.summarize raised KeyError; now the record is invalid
    # (RunRecord.from_json) and the report leaves it out
    pytest.param(("records", [("k0", record_json(lr=None))], None), 0, id="lr-null"),
    # report.per_channel took len() of a null test_mse_channels cell; now the cell is skipped
    pytest.param(("table", (1, [("test_mse_channels", [None])])), 0,
                 id="null-per-channel-cell"),
]


@pytest.mark.parametrize("layout,expected", FOUND_OUTSIDE)
def test_report_cases_found_outside_the_cli(sandbox, layout, expected):
    status, _ = check(["report", make_results(sandbox, layout)])
    assert status == expected
