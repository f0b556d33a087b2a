"""Peer trainers for ``python -m bench perf``: plain scripts, each run in its own subprocess.

Every peer trains the same stacked model as the engine (input → dropout → LSTM → dropout →
LSTM → … → LSTM(C), one-step MSE, Adam with global-norm clipping 1.0) on the same training
pool, and prints one JSON line with its timings. They import nothing from ``bench`` so a
missing or broken framework can never break the engine; :mod:`bench.studies.perf` reports it as
skipped instead.

- ``torch_peer.py --mode custom``: a hand-written Graves peephole cell, Python loop over time.
- ``torch_peer.py --mode fused``: ``torch.nn.LSTM`` per layer (no peepholes).
- ``lasagne_peer.py``: Theano 1.0.5 + Lasagne 0.1 ``LSTMLayer``, run by ``.venv-lasagne``.
"""
