"""PyTorch peer for ``python -m bench perf``: train the stacked LSTM eagerly, print one JSON line.

Two modes, same stack (input → dropout → LSTM → dropout → LSTM → … → LSTM(C)), same one-step
MSE, ``torch.optim.Adam`` with ``clip_grad_norm_(…, 1.0)``:

- ``--mode custom``: :class:`PeepholeLSTM`, a hand-written Graves peephole cell stepped by a
  Python loop over time (gates in Lasagne's order ``[ingate, forgetgate, cell, outgate]``, the
  input projection hoisted out of the loop, the usual eager-mode layout);
- ``--mode fused``: one ``torch.nn.LSTM`` per layer (cuDNN on a GPU, the native fused kernel on
  a CPU). No peepholes: the speed ceiling for a standard cell, not the same equations.

With ``--task forward`` the same stack runs inference instead: ``eval()`` mode (no dropout)
under ``torch.no_grad()``, the whole of ``--inputs`` (batch, length, C) per call, followed by
the per-channel one-step MSE (what the engine's evaluation computes).

Usage::

    python bench/studies/peers/torch_peer.py --mode custom --pool POOL.npy [--hidden 64,32]
        [--batch 16] [--window 128] [--steps 20] [--repeats 3] [--lr 1e-3] [--device auto]
    python bench/studies/peers/torch_peer.py --mode fused --task forward --inputs X.npy
        [--hidden 64,32] [--repeats 3] [--device auto]

``POOL.npy`` is the training pool (sequences, length, channels) float32; each step draws
``batch`` random windows of ``window + 1`` steps from it on the device. One warm-up call of
``steps`` steps is excluded from timing; then ``repeats`` timed calls, each synchronised.
Imports nothing from ``bench`` (numpy and torch only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peer_common import (  # noqa: E402  (this folder)
    forward_record,
    parse_peer_args,
    peer_parser,
    timed_calls,
    timing_record,
)

GATES = ("ingate", "forgetgate", "cell", "outgate")


def peephole_step(zx: torch.Tensor, h: torch.Tensor, c: torch.Tensor, w_hid: torch.Tensor,
                  w_ci: torch.Tensor, w_cf: torch.Tensor,
                  w_co: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One Graves peephole step from the input projection ``zx = x_t·W_in + b``; returns (h, c).

    The output gate sees the *new* cell state, inside the sigmoid (Graves 2013, eq. 7-11).
    """
    z_i, z_f, z_g, z_o = (zx + h @ w_hid).chunk(4, dim=-1)
    i = torch.sigmoid(z_i + c * w_ci)
    f = torch.sigmoid(z_f + c * w_cf)
    c = f * c + i * torch.tanh(z_g)
    o = torch.sigmoid(z_o + c * w_co)
    return o * torch.tanh(c), c


class PeepholeLSTM(nn.Module):
    """One peephole LSTM layer, tanh cell and output, c0 = h0 = 0; (B, T, n_in) → (B, T, H).

    Default init as the engine's ``glorot`` strategy: each gate block of ``W_in``/``W_hid``
    Glorot-uniform, biases 0, peepholes N(0, 0.1²).
    """

    def __init__(self, n_in: int, n_hid: int, dtype: torch.dtype = torch.float32):
        super().__init__()

        def glorot(rows: int, cols: int) -> torch.Tensor:
            limit = math.sqrt(6.0 / (rows + cols))
            blocks = [torch.empty(rows, cols, dtype=dtype).uniform_(-limit, limit)
                      for _ in GATES]
            return torch.cat(blocks, dim=1)

        self.w_in = nn.Parameter(glorot(n_in, n_hid))
        self.w_hid = nn.Parameter(glorot(n_hid, n_hid))
        self.b = nn.Parameter(torch.zeros(4 * n_hid, dtype=dtype))
        self.w_ci, self.w_cf, self.w_co = (
            nn.Parameter(0.1 * torch.randn(n_hid, dtype=dtype)) for _ in range(3))

    @classmethod
    def from_lasagne(cls, params: dict[str, np.ndarray]) -> PeepholeLSTM:
        """A layer holding Lasagne-named parameters (``W_in_to_ingate``, …), in their dtype."""
        dtype = torch.from_numpy(np.asarray(params["W_hid_to_ingate"])).dtype
        n_in, n_hid = np.shape(params["W_in_to_ingate"])
        layer = cls(n_in, n_hid, dtype)

        def cat(prefix: str) -> torch.Tensor:
            parts = [np.asarray(params[f"{prefix}{g}"]) for g in GATES]
            return torch.from_numpy(np.concatenate(parts, axis=-1))

        with torch.no_grad():
            layer.w_in.copy_(cat("W_in_to_"))
            layer.w_hid.copy_(cat("W_hid_to_"))
            layer.b.copy_(cat("b_"))
            for name, gate in (("w_ci", "ingate"), ("w_cf", "forgetgate"), ("w_co", "outgate")):
                getattr(layer, name).copy_(torch.from_numpy(
                    np.asarray(params[f"W_cell_to_{gate}"])))
        return layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        zx = x @ self.w_in + self.b
        h = c = x.new_zeros(x.shape[0], self.w_hid.shape[0])
        hs = []
        for t in range(x.shape[1]):
            h, c = peephole_step(zx[:, t], h, c, self.w_hid, self.w_ci, self.w_cf, self.w_co)
            hs.append(h)
        return torch.stack(hs, dim=1)


class FusedLSTM(nn.Module):
    """``torch.nn.LSTM`` (one layer, batch first, PyTorch's default init), hidden sequence out."""

    def __init__(self, n_in: int, n_hid: int):
        super().__init__()
        self.lstm = nn.LSTM(n_in, n_hid, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


class Stack(nn.Module):
    """input → dropout → LSTM → dropout → LSTM → … for ``sizes = (C, H1, …, C)``."""

    def __init__(self, sizes: tuple[int, ...], mode: str, dropout: float):
        super().__init__()
        layer = PeepholeLSTM if mode == "custom" else FusedLSTM
        self.layers = nn.ModuleList(layer(a, b)
                                    for a, b in zip(sizes[:-1], sizes[1:], strict=True))
        self.p = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(F.dropout(x, self.p, training=self.training))
        return x


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = peer_parser(__doc__.splitlines()[0], steps=20, clip_help="global gradient-norm bound")
    p.add_argument("--mode", choices=("custom", "fused"), required=True)
    p.add_argument("--device", default="auto", help="auto (cuda if available), cpu or cuda")
    return parse_peer_args(p, argv)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def _versions() -> dict[str, str]:
    return {"torch": torch.__version__, "python": platform.python_version()}


def _timed(call: Any, repeats: int, device: torch.device) -> tuple:
    """:func:`timed_calls` of ``call``, plus the peak device memory in MB (None on a CPU) and
    the device's name."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    warmup, times, out = timed_calls(call, repeats)
    device_mb = (torch.cuda.max_memory_allocated(device) / 2**20
                 if device.type == "cuda" else None)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return warmup, times, out, device_mb, name


def run_forward(args: argparse.Namespace) -> dict:
    """Inference over ``--inputs``: build, warm up and time; return the JSON record."""
    device = _device(args.device)
    torch.manual_seed(args.seed)
    x = torch.from_numpy(np.load(args.inputs).astype(np.float32)).to(device)
    batch, length, channels = x.shape
    if length < 2:
        raise SystemExit(f"inputs have {length} steps; the one-step MSE needs 2")
    sizes = (channels, *(int(h) for h in args.hidden.split(",") if h.strip()), channels)
    model = Stack(sizes, args.mode, args.dropout).to(device).eval()

    def call() -> torch.Tensor:
        with torch.no_grad():
            pred = model(x)
            mse = ((pred[:, :-1] - x[:, 1:]) ** 2).mean(dim=(0, 1))  # per channel
        _sync(device)
        return mse

    warmup, times, mse, device_mb, name = _timed(call, args.repeats, device)
    notes = ("nn.LSTM per layer, no peepholes" if args.mode == "fused"
             else "hand-written Graves peephole cell, Python loop over time")
    notes += "; eval mode, torch.no_grad"
    if device.type == "cpu":
        notes += f"; {torch.get_num_threads()} threads"
    return forward_record(
        contender=f"torch-{args.mode}-forward" if args.mode != "fused" else "torch-forward",
        device=f"{device.type}: {name}" if device.type == "cuda" else "cpu",
        batch=int(batch), length=int(length), warmup=warmup, times=times,
        compile_s=max(0.0, warmup - statistics.median(times)),
        compile_how="first call - median call", device_mb=device_mb,
        mse=float(mse.mean().cpu()), versions=_versions(), notes=notes,
    )


def run(args: argparse.Namespace) -> dict:
    """Build, warm up and time; return the JSON record."""
    if args.task == "forward":
        return run_forward(args)
    device = _device(args.device)
    torch.manual_seed(args.seed)
    pool = torch.from_numpy(np.load(args.pool).astype(np.float32)).to(device)
    n_seq, length, channels = pool.shape
    if length < args.window + 1:
        raise SystemExit(f"pool sequences have {length} steps, need window + 1 = {args.window + 1}")
    sizes = (channels, *(int(h) for h in args.hidden.split(",") if h.strip()), channels)
    model = Stack(sizes, args.mode, args.dropout).to(device).train()
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    offsets = torch.arange(args.window + 1, device=device)

    def call() -> torch.Tensor:
        for _ in range(args.steps):
            seq = torch.randint(n_seq, (args.batch,), device=device, generator=gen)
            start = torch.randint(length - args.window, (args.batch,), device=device,
                                  generator=gen)
            x = pool[seq[:, None], start[:, None] + offsets]  # (batch, window + 1, C)
            pred = model(x)
            loss = F.mse_loss(pred[:, :-1], x[:, 1:])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip:
                nn.utils.clip_grad_norm_(params, args.clip)
            opt.step()
        _sync(device)
        return loss

    warmup, times, loss, device_mb, name = _timed(call, args.repeats, device)
    notes = ("hand-written Graves peephole cell, Python loop over time"
             if args.mode == "custom" else "nn.LSTM per layer, no peepholes, PyTorch init")
    if device.type == "cpu":
        notes += f"; {torch.get_num_threads()} threads"
    return timing_record(
        args, contender=f"torch-{args.mode}",
        device=f"{device.type}: {name}" if device.type == "cuda" else "cpu", runs=1,
        warmup=warmup, times=times,
        # eager: nothing is compiled; the first call's extra time (allocator, kernels, autograd
        # graph set-up) is what a user waits for before steady speed
        compile_s=max(0.0, warmup - statistics.median(times)),
        compile_how="first call - median call", device_mb=device_mb,
        final_loss=float(loss.detach().cpu()),
        versions=_versions(), notes=notes,
    )


def main(argv: list[str] | None = None) -> int:
    record = run(_parse(argv))
    print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
