"""Theano 1.0.5 + Lasagne 0.1 peer for ``python -m bench perf``; prints one JSON line.

Runs only under the reference venv (``bash bench/studies/oracle/setup.sh`` builds it) and
loads Theano/Lasagne through ``bench/studies/oracle/compat.py``::

    .venv-lasagne/bin/python bench/studies/peers/lasagne_peer.py --pool POOL.npy
        [--hidden 64,32] [--batch 16] [--window 128] [--steps 3] [--repeats 3] [--lr 1e-3]
        [--floatX float32]
    .venv-lasagne/bin/python bench/studies/peers/lasagne_peer.py --task forward --inputs X.npy
        [--hidden 64,32] [--repeats 3] [--floatX float32]

The model is what a Lasagne user writes for the benchmark's stack: ``InputLayer`` →
``DropoutLayer`` → ``LSTMLayer`` (peepholes, tanh, Glorot-uniform gate weights) → dropout →
``LSTMLayer`` → … → ``LSTMLayer(C)``; the one-step MSE of the (non-deterministic, i.e. dropout
on) output; ``lasagne.updates.adam`` on gradients rescaled by
``lasagne.updates.total_norm_constraint(grads, 1.0)``. One compiled ``theano.function`` does a
whole training step; each step gets a fresh batch of random windows drawn with numpy.
``--task forward`` compiles the deterministic output (``get_output(..., deterministic=True)``:
dropout off) and its per-channel one-step MSE into one ``theano.function`` instead, and calls
it on the whole of ``--inputs``.

Timing: the ``theano.function`` build is the compile time; one warm-up call of ``steps``
steps is excluded; then ``repeats`` timed calls. Lasagne 0.1's output peephole sits after
the sigmoid (Lasagne issue #448, https://github.com/Lasagne/Lasagne/issues/448); that
changes no cost. Imports nothing from ``bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "oracle"))
import compat  # noqa: E402  (../oracle/compat.py: sets THEANO_FLAGS before theano loads)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import (  # noqa: E402
    forward_record,
    parse_peer_args,
    peer_parser,
    timed_calls,
    timing_record,
)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = peer_parser(__doc__.splitlines()[0], steps=3, clip_help="total_norm_constraint bound")
    p.add_argument("--floatX", choices=("float32", "float64"), default="float32")
    return parse_peer_args(p, argv)


def _cache_entries(path: str) -> int:
    try:
        return sum(1 for e in os.scandir(path) if e.is_dir())
    except OSError:
        return 0


def _network(args: argparse.Namespace, lasagne, channels: int):
    """The stack (dropout before every ``LSTMLayer``) for ``channels`` inputs and outputs."""
    L = lasagne.layers
    sizes = (channels, *(int(h) for h in args.hidden.split(",") if h.strip()), channels)
    lasagne.random.set_rng(np.random.RandomState(args.seed))
    glorot = lasagne.init.GlorotUniform()

    def gate(nonlinearity, peephole=True):
        w_cell = lasagne.init.Normal(0.1) if peephole else None
        return L.Gate(W_in=glorot, W_hid=glorot, W_cell=w_cell, nonlinearity=nonlinearity)

    sig, tanh = lasagne.nonlinearities.sigmoid, lasagne.nonlinearities.tanh
    net = L.InputLayer((None, None, channels))
    for n_hid in sizes[1:]:
        net = L.DropoutLayer(net, p=args.dropout)
        net = L.LSTMLayer(net, n_hid, ingate=gate(sig), forgetgate=gate(sig),
                          cell=gate(tanh, peephole=False), outgate=gate(sig),
                          nonlinearity=tanh, peepholes=True)
    return net


def _versions(theano, lasagne) -> dict[str, str]:
    return {"theano": theano.__version__, "lasagne": lasagne.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def run_forward(args: argparse.Namespace) -> dict:
    """Inference over ``--inputs``: build, compile, warm up and time; return the JSON record."""
    theano, lasagne = compat.load(floatX=args.floatX)
    T, L = theano.tensor, lasagne.layers
    floatX = theano.config.floatX
    inputs = np.load(args.inputs).astype(floatX)
    batch, length, channels = inputs.shape
    if length < 2:
        raise SystemExit(f"inputs have {length} steps; the one-step MSE needs 2")
    net = _network(args, lasagne, channels)
    x = T.tensor3("x")
    pred = L.get_output(net, x, deterministic=True)  # dropout off, as in evaluation
    mse = T.mean((pred[:, :-1] - x[:, 1:]) ** 2, axis=(0, 1))  # per channel
    cached = _cache_entries(theano.config.compiledir)
    t0 = time.perf_counter()
    forward_fn = theano.function([x], mse)
    compile_s = time.perf_counter() - t0

    def call():
        return forward_fn(inputs)

    warmup, times, last = timed_calls(call, args.repeats)
    cache_note = (f"Theano C cache had {cached} modules" if cached
                  else "Theano C cache was empty")
    return forward_record(
        contender="lasagne-forward", device="cpu", batch=int(batch), length=int(length),
        warmup=warmup, times=times, compile_s=compile_s, compile_how="theano.function build",
        device_mb=None, mse=float(np.mean(last)), versions=_versions(theano, lasagne),
        notes=(f"floatX={floatX}; get_output(deterministic=True); scan's Python loop "
               f"(compat.py); {cache_note}"),
    )


def run(args: argparse.Namespace) -> dict:
    """Build, compile, warm up and time; return the JSON record."""
    if args.task == "forward":
        return run_forward(args)
    theano, lasagne = compat.load(floatX=args.floatX)
    T, L = theano.tensor, lasagne.layers
    floatX = theano.config.floatX
    pool = np.load(args.pool).astype(floatX)
    n_seq, length, channels = pool.shape
    if length < args.window + 1:
        raise SystemExit(f"pool sequences have {length} steps, need window + 1 = {args.window + 1}")
    net = _network(args, lasagne, channels)

    x = T.tensor3("x")
    pred = L.get_output(net, x)  # deterministic=False: dropout is on, as in training
    loss = T.mean((pred[:, :-1] - x[:, 1:]) ** 2)
    params = L.get_all_params(net, trainable=True)
    grads = T.grad(loss, params)
    if args.clip:
        grads = lasagne.updates.total_norm_constraint(grads, args.clip)
    updates = lasagne.updates.adam(grads, params, learning_rate=args.lr)
    cached = _cache_entries(theano.config.compiledir)
    t0 = time.perf_counter()
    train_fn = theano.function([x], loss, updates=updates)
    compile_s = time.perf_counter() - t0

    rng = np.random.RandomState(args.seed + 1)
    offsets = np.arange(args.window + 1)

    def call() -> float:
        for _ in range(args.steps):
            seq = rng.randint(n_seq, size=args.batch)
            start = rng.randint(length - args.window, size=args.batch)
            value = train_fn(pool[seq[:, None], start[:, None] + offsets])
        return float(value)

    warmup, times, last = timed_calls(call, args.repeats)
    cache_note = (f"Theano C cache had {cached} modules" if cached
                  else "Theano C cache was empty")
    return timing_record(
        args, contender="lasagne", device="cpu", runs=1, warmup=warmup, times=times,
        compile_s=compile_s, compile_how="theano.function build", device_mb=None,
        final_loss=last,
        versions=_versions(theano, lasagne),
        notes=(f"floatX={floatX}; scan's Python loop (compat.py); {cache_note}; "
               f"{args.steps} steps per call"),
    )


def main(argv: list[str] | None = None) -> int:
    record = run(_parse(argv))
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
