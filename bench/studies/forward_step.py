"""``python -m bench.studies.forward_step``: the cost of one step of the forward-only LSTM pass.

Evaluation (:func:`bench.train.eval_mse`) and the pass at init
(:func:`bench.diagnostics.dynamics`) run the layer's forward scan without keeping anything for
a backward pass (the primal of :func:`bench.lstm._recurrence`); training runs the forward rule
that also saves the gates (``_recurrence_fwd``). This study times one layer of each, per time
step, with the engine's packed parameters, a Graves peephole cell and tanh nonlinearities, on
one JAX CPU device, and looks at what XLA makes of the step's elementwise part:

=====================  =====================================================================
forward-only           the engine's forward-only pass (``bench.lstm.packed_layer``, jitted)
training forward       the engine's forward rule of training (keeps i, f, σ(·)_o, z_c)
matmul only            the same scan with the step's one matmul and no nonlinearity: what the
                       step costs without its gates (a lower bound, not the same numbers)
barrier on z           candidate: ``lax.optimization_barrier`` between the matmul and the gates
sigmoid on [z_i, z_f]  candidate: one sigmoid over the materialised (batch, 2H) block of the
                       input and forget gates instead of one per gate
barrier after gates    candidate: ``lax.optimization_barrier`` on (i, f, g) before c_t is formed
=====================  =====================================================================

Every candidate computes the same equations as :mod:`bench.lstm` in another arrangement; the
table says whether its h and c are bit-identical to the engine's forward-only pass. Rounds
alternate the variants (each round runs every variant once) so a change of the host's load
hits all of them alike; the table shows the minimum and the median per step over the rounds.

The census part compiles the forward-only layer with XLA's dump switched on and reads the
optimised LLVM IR of each elementwise fusion kernel: how many instructions work on vectors of
floats (``<8 x float>`` and the like) against scalar ones, and whether the kernel keeps a scalar
fallback loop (LLVM's runtime alias check chooses between the vector loop and it).

The result goes to ``--out`` (Markdown, default ``results/forward-step.md``) and stdout. Speed
is never asserted by a test.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DUMP_MODULE = "forward_only_layer"  # the jitted function whose XLA kernels the census reads
VARIANTS = ("forward-only", "training forward", "matmul only", "barrier on z",
            "sigmoid on [z_i, z_f]", "barrier after gates")
CANDIDATES = VARIANTS[3:]


def parse_layers(text: str) -> list[tuple[int, int]]:
    """``"7x64,64x32"`` → ``[(7, 64), (64, 32)]`` (n_in × H per layer); ``ValueError`` on bad
    input."""
    out = []
    for part in text.split(","):
        n_in, sep, n_hid = part.strip().partition("x")
        if not sep or not n_in.isdigit() or not n_hid.isdigit() or min(int(n_in), int(n_hid)) < 1:
            raise ValueError(f"layer {part.strip()!r}: expected N_INxH, e.g. 7x64")
        out.append((int(n_in), int(n_hid)))
    return out


def _variants(n_in: int, n_hid: int, batch: int, length: int, seed: int = 0) -> tuple:
    """The jitted variants (name → (function, arguments)) for one layer size and batch."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from bench import lstm

    rng = np.random.default_rng(seed)
    packed = {"W": jnp.asarray(rng.normal(0, 0.2, (n_in + n_hid, 4 * n_hid)), jnp.float32),
              "b": jnp.asarray(rng.normal(0, 0.1, 4 * n_hid), jnp.float32)}
    packed.update({f"W_cell_to_{g}": jnp.asarray(rng.normal(0, 0.1, n_hid), jnp.float32)
                   for g in lstm.PEEPHOLE_GATES})
    x = jnp.asarray(rng.normal(0, 0.25, (batch, length, n_in)), jnp.float32)
    sig = jax.nn.sigmoid

    def forward_only_layer(p: dict, x: Any) -> Any:
        return lstm.packed_layer(p, x, return_cell=True)

    def training_forward(p: dict, x: Any) -> Any:
        cell, peep = lstm._cell_and_peepholes(p, "tanh", "tanh", "graves")
        (hs, cs), res = lstm._recurrence_fwd(cell, 1, p["W"], p["b"], peep,
                                             jnp.swapaxes(x, 0, 1), None)
        return jnp.swapaxes(hs, 0, 1), jnp.swapaxes(cs, 0, 1), res[-1]

    def scan(step: Callable) -> Callable:
        def run(p: dict, x: Any) -> Any:
            zeros = jnp.zeros((batch, n_hid), jnp.float32)

            def body(carry: tuple, x_t: Any) -> tuple:
                c_prev, h_prev = carry
                z = jnp.concatenate([x_t, h_prev], axis=-1) @ p["W"] + p["b"]
                c, h = step(p, z, c_prev)
                return (c, h), (h, c)

            _, (hs, cs) = jax.lax.scan(body, (zeros, zeros), jnp.swapaxes(x, 0, 1))
            return jnp.swapaxes(hs, 0, 1), jnp.swapaxes(cs, 0, 1)

        return run

    def finish(p: dict, i: Any, f: Any, g: Any, z_o: Any, c_prev: Any) -> tuple:
        c = f * c_prev + i * g
        o = sig(z_o + c * p["W_cell_to_outgate"])
        return c, o * jnp.tanh(c)

    def matmul_only(p: dict, z: Any, c_prev: Any) -> tuple:
        return z[:, :n_hid], z[:, n_hid: 2 * n_hid]

    def barrier_z(p: dict, z: Any, c_prev: Any) -> tuple:
        z_i, z_f, z_c, z_o = jnp.split(jax.lax.optimization_barrier(z), 4, axis=-1)
        i = sig(z_i + c_prev * p["W_cell_to_ingate"])
        f = sig(z_f + c_prev * p["W_cell_to_forgetgate"])
        return finish(p, i, f, jnp.tanh(z_c), z_o, c_prev)

    def sigmoid_block(p: dict, z: Any, c_prev: Any) -> tuple:
        peep = jnp.concatenate([p["W_cell_to_ingate"], p["W_cell_to_forgetgate"]])
        s = sig(z[:, : 2 * n_hid] + jnp.concatenate([c_prev, c_prev], axis=-1) * peep)
        return finish(p, s[:, :n_hid], s[:, n_hid:], jnp.tanh(z[:, 2 * n_hid: 3 * n_hid]),
                      z[:, 3 * n_hid:], c_prev)

    def barrier_gates(p: dict, z: Any, c_prev: Any) -> tuple:
        z_i, z_f, z_c, z_o = jnp.split(z, 4, axis=-1)
        i = sig(z_i + c_prev * p["W_cell_to_ingate"])
        f = sig(z_f + c_prev * p["W_cell_to_forgetgate"])
        i, f, g = jax.lax.optimization_barrier((i, f, jnp.tanh(z_c)))
        return finish(p, i, f, g, z_o, c_prev)

    fns = dict(zip(VARIANTS, (forward_only_layer, training_forward, scan(matmul_only),
                              scan(barrier_z), scan(sigmoid_block), scan(barrier_gates)),
                   strict=True))
    compiled = {name: jax.jit(fn).lower(packed, x).compile() for name, fn in fns.items()}
    return compiled, (packed, x)


def measure(n_in: int, n_hid: int, batch: int, length: int, rounds: int) -> dict[str, dict]:
    """Per variant: ``us_min`` / ``us_median`` (µs per time step over ``rounds`` alternating
    rounds) and ``identical`` (h and c bit-identical to the forward-only pass; None for the
    matmul-only ablation, which computes other numbers)."""
    import jax
    import numpy as np

    compiled, args = _variants(n_in, n_hid, batch, length)
    outs = {name: [np.asarray(a) for a in jax.block_until_ready(fn(*args))[:2]]
            for name, fn in compiled.items()}
    base = outs["forward-only"]
    times: dict[str, list[float]] = {name: [] for name in compiled}
    for _ in range(rounds):
        for name, fn in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append((time.perf_counter() - t0) / length * 1e6)
    return {name: {"us_min": min(ts), "us_median": statistics.median(ts),
                   "identical": None if name == "matmul only" else all(
                       np.array_equal(a, b) for a, b in zip(outs[name], base, strict=True))}
            for name, ts in times.items()}


_VEC = re.compile(r"<(\d+) x float>")


def census(dump: Path) -> list[dict[str, Any]]:
    """Per elementwise fusion kernel of the last dumped forward-only layer: its name, the count of
    IR lines that use float vectors of each width (width 1 = scalar code in vector form), and
    whether it has a scalar fallback loop (``scalar.ph``)."""
    rows = []
    files = sorted(dump.glob(f"*{DUMP_MODULE}*fusion*ir-with-opt.ll"))
    last = max((f.name.split(".", 1)[0] for f in files), default="")  # module_NNNN: the last
    for f in (f for f in files if f.name.startswith(last + ".")):
        text = f.read_text(errors="replace")
        widths: dict[int, int] = {}
        for line in text.splitlines():
            for w in {int(m) for m in _VEC.findall(line)}:
                widths[w] = widths.get(w, 0) + 1
        if not widths and "float" not in text:
            continue  # copies, slices, integer work
        kernel = f.name.split(f"{DUMP_MODULE}.", 1)[-1].split(".ir-with-opt")[0]
        rows.append({"kernel": kernel, "widths": dict(sorted(widths.items())),
                     "scalar_fallback": "scalar.ph" in text})
    return rows


def _census_text(rows: Sequence[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["No fusion kernels' LLVM IR found in XLA's dump (another backend or XLA "
                "version names them otherwise)."]
    lines = ["| kernel | IR lines using float vectors, by width | scalar fallback loop |",
             "|---|---|---|"]
    for r in rows:
        widths = ", ".join(f"<{w} x float>: {n}" for w, n in r["widths"].items()) or "none"
        lines.append(f"| {r['kernel']} | {widths} | {'yes' if r['scalar_fallback'] else 'no'} |")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, write ``--out``, print it."""
    p = argparse.ArgumentParser(prog="python -m bench.studies.forward_step", allow_abbrev=False,
                                description=__doc__.splitlines()[0])
    p.add_argument("--layers", default="7x64,64x32",
                   help="layer sizes N_INxH, comma-separated (default 7x64,64x32: the standard "
                        "profile's first two layers)")
    p.add_argument("--batches", default="2,16",
                   help="batch sizes, comma-separated (default 2,16: the pass at init's and "
                        "a training batch)")
    p.add_argument("--length", type=int, default=2000, help="time steps per call (default 2000)")
    p.add_argument("--rounds", type=int, default=15, help="alternating rounds (default 15)")
    p.add_argument("--out", default="results/forward-step.md", help="Markdown file to write")
    args = p.parse_args(argv)
    try:
        layers = parse_layers(args.layers)
        batches = [int(b) for b in args.batches.split(",") if b.strip()]
        if not batches or min(batches) < 1 or args.length < 1 or args.rounds < 1:
            raise ValueError("--batches, --length and --rounds must be >= 1")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if "jax" in sys.modules:
        print("error: run as a fresh process (XLA's dump must be set before JAX starts)",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-forward-step-") as tmp:
        os.environ["XLA_FLAGS"] = " ".join(filter(None, [
            os.environ.get("XLA_FLAGS"), f"--xla_dump_to={tmp}",
            f"--xla_dump_hlo_module_re=.*{DUMP_MODULE}.*"]))
        os.environ.setdefault("JAX_PLATFORMS", "cpu")
        os.environ.setdefault("JAX_NUM_CPU_DEVICES", "1")
        import jax

        jax.config.update("jax_enable_compilation_cache", False)  # the dump needs a compile
        results = {(n_in, n_hid, b): measure(n_in, n_hid, b, args.length, args.rounds)
                   for n_in, n_hid in layers for b in batches}
        kernels = census(Path(tmp))
    lines = ["# One step of the forward-only LSTM pass", "",
             "`python -m bench.studies.forward_step` (bench/studies/forward_step.py): µs per "
             f"time step of one layer, {args.length} steps per call, {args.rounds} alternating "
             "rounds; identical = h and c bit-identical to the engine's forward-only pass.", "",
             "| layer | batch | variant | µs/step (min) | µs/step (median) | identical |",
             "|---|---:|---|---:|---:|---|"]
    for (n_in, n_hid, b), res in results.items():
        for name, r in res.items():
            same = "–" if r["identical"] is None else ("yes" if r["identical"] else "no")
            lines.append(f"| {n_in}→{n_hid} | {b} | {name} | {r['us_min']:.2f} | "
                         f"{r['us_median']:.2f} | {same} |")
    lines += ["", "## The forward-only layer's elementwise kernels", "",
              "Optimised LLVM IR from XLA's dump of the last compile of the forward-only layer "
              f"({layers[-1][0]}→{layers[-1][1]}, batch {batches[-1]}).", "",
              *_census_text(kernels), "",
              "## Settings", "",
              f"- host: {platform.machine()}, {os.cpu_count()} logical CPUs, one JAX CPU "
              f"device; jax {jax.__version__}, python {platform.python_version()}",
              f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
              ""]
    text = "\n".join(lines)
    from bench.store import write_atomic

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, text.encode("utf-8"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
