"""Studies: code built on the core library that the core never imports.

The core (:mod:`bench.lstm`, :mod:`bench.model`, :mod:`bench.init`, :mod:`bench.config`,
:mod:`bench.data`, :mod:`bench.train`, :mod:`bench.sweep`, :mod:`bench.store`,
:mod:`bench.registry`, :mod:`bench.summary`, :mod:`bench.report`, ...) defines and runs the
benchmark. A study uses it to answer one question of its own, and may depend on things the core
must not (other frameworks, another virtualenv, long-running subprocesses):

- :mod:`bench.studies.perf` with :mod:`bench.studies.peers`: training and forward-only
  throughput of the engine against Theano + Lasagne and PyTorch (``python -m bench perf``);
- :mod:`bench.studies.forward_step`: what one step of the forward-only LSTM pass costs and what
  XLA makes of its elementwise part (``python -m bench.studies.forward_step``);
- :mod:`bench.studies.lasagne_nans`: why the original network (7 → 1024 → 128 → 7, the
  ``large`` profile) gives NaNs under Lasagne 0.1, reproduced and taken apart
  (``python -m bench lasagne-nans``);
- :mod:`bench.studies.oracle`: real Theano 1.0.5 + Lasagne 0.1 in ``.venv-lasagne``, the
  reference the engine's equations are checked against (``tests/reference``).

A study module that adds a sub-command exposes ``add_parser(subparsers) -> None``: it
registers its sub-command(s) and sets ``func`` (``args -> exit status``) as the parser's
default; the command line calls ``args.func(args)``. Studies report bad input as
:class:`bench.errors.UserError` and never import :mod:`bench.cli`.
"""
