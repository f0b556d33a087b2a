"""The command-line options every peer script shares (plain argparse: peers run in their own
environments, e.g. ``.venv-lasagne``, and import nothing else from ``bench``)."""

from __future__ import annotations

import argparse


def peer_parser(description: str, steps: int, clip_help: str) -> argparse.ArgumentParser:
    """A parser with the model, data and timing options of a peer; add peer-specific ones."""
    p = argparse.ArgumentParser(description=description, allow_abbrev=False)
    p.add_argument("--pool", required=True, help=".npy training pool (sequences, length, C)")
    p.add_argument("--hidden", default="64,32", help="hidden sizes, comma-separated")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--window", type=int, default=128)
    p.add_argument("--steps", type=int, default=steps, help="training steps per timed call")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--dropout", type=float, default=0.33)
    p.add_argument("--clip", type=float, default=1.0, help=clip_help)
    p.add_argument("--seed", type=int, default=0)
    return p
