"""Strategy discovery: every module in ``strategies/`` plus third-party entry points.

A strategy is a plain module (file name = strategy name with ``_`` for ``-``) holding:

- a docstring whose first line is the one-line summary, then what it sets, the formula, the source;
- ``CITATION: str``;
- ``init_params(key, sizes, config, data) -> list[dict[str, Array]]``: Lasagne-named parameters
  for each layer of a stack of sizes ``(C, H1, ..., C)``; ``config`` is the run's
  :class:`bench.config.RunConfig`; ``data`` a float32 (batch, time, C) batch of training windows
  for data-dependent strategies. Leaving out ``W_cell_to_*`` builds a layer without peepholes;
- optionally ``nonlinearities(config) -> (cell_nonlinearity, nonlinearity)``; default tanh, tanh.

Third-party packages register modules under the entry-point group ``lstm_init_bench.strategies``.
A module that fails to import is reported with its file and left out; the others still load.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import importlib.metadata
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np

from bench.config import RunConfig
from bench.lstm import check_params, get_nonlinearity

ENTRY_POINT_GROUP = "lstm_init_bench.strategies"
STRATEGY_DIR = Path(__file__).resolve().parent.parent / "strategies"


class StrategyError(Exception):
    """A strategy module is broken; the message names its file and the problem in one line."""


@dataclass(frozen=True)
class Strategy:
    """A loaded strategy module."""

    name: str
    module: ModuleType

    @property
    def path(self) -> str:
        """The module's file, for error messages."""
        f = getattr(self.module, "__file__", None) or self.module.__name__
        try:
            return str(Path(f).resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(f)

    @property
    def code_hash(self) -> str:
        """Hash of the module's source: part of every run's key, so editing a strategy file
        makes the next sweep recompute its runs instead of reusing stale records."""
        f = getattr(self.module, "__file__", None)
        if not f or not Path(f).is_file():
            return ""
        return hashlib.sha256(Path(f).read_bytes()).hexdigest()[:12]

    @property
    def summary(self) -> str:
        """First line of the module docstring."""
        return (self.module.__doc__ or "").strip().splitlines()[0] if self.module.__doc__ else ""

    @property
    def citation(self) -> str:
        """The module's ``CITATION``."""
        return str(getattr(self.module, "CITATION", ""))

    def nonlinearities(self, config: RunConfig) -> tuple[str, str]:
        """(cell_nonlinearity, nonlinearity) for every layer."""
        fn = getattr(self.module, "nonlinearities", None)
        pair = ("tanh", "tanh") if fn is None else tuple(fn(config))
        try:
            for name in pair:
                get_nonlinearity(name)
        except ValueError as e:
            raise StrategyError(f"{self.path}: nonlinearities(): {e}") from None
        return pair  # type: ignore[return-value]

    def init_params(
        self, key: jax.Array, config: RunConfig, data: np.ndarray | None = None
    ) -> list[dict[str, jax.Array]]:
        """Build and validate the stack's initial parameters."""
        sizes = config.sizes
        try:
            params = self.module.init_params(key, sizes, config, data)
        except Exception as e:  # a strategy's own bug: name the file, keep one line
            raise StrategyError(f"{self.path}: init_params raised {type(e).__name__}: {e}") from e
        if not isinstance(params, list | tuple) or len(params) != len(sizes) - 1:
            raise StrategyError(
                f"{self.path}: init_params must return a list of {len(sizes) - 1} layer dicts, "
                f"got {type(params).__name__}"
            )
        for i, (layer, n_in) in enumerate(zip(params, sizes[:-1], strict=True)):
            try:
                _, n_hid, _ = check_params(layer, n_in=n_in)
            except ValueError as e:
                raise StrategyError(f"{self.path}: layer {i + 1}: {e}") from None
            if n_hid != sizes[i + 1]:
                raise StrategyError(
                    f"{self.path}: layer {i + 1} has {n_hid} units, expected {sizes[i + 1]}"
                )
        return [{k: jax.numpy.asarray(v, jax.numpy.float32) for k, v in layer.items()}
                for layer in params]


def _from_module(name: str, module: ModuleType, origin: str) -> Strategy:
    if not callable(getattr(module, "init_params", None)):
        raise StrategyError(f"{origin}: no init_params(key, sizes, config, data) function")
    return Strategy(name=name, module=module)


def discover() -> tuple[dict[str, Strategy], dict[str, str]]:
    """Load every strategy; return ``(strategies by name, errors by name)``."""
    found: dict[str, Strategy] = {}
    errors: dict[str, str] = {}
    for path in sorted(STRATEGY_DIR.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        name = path.stem.replace("_", "-")
        origin = f"strategies/{path.name}"
        try:
            module = importlib.import_module(f"strategies.{path.stem}")
            found[name] = _from_module(name, module, origin)
        except StrategyError as e:
            errors[name] = str(e)
        except BaseException as e:  # SyntaxError, ImportError, anything at import time
            if isinstance(e, KeyboardInterrupt):
                raise
            sys.modules.pop(f"strategies.{path.stem}", None)
            errors[name] = f"{origin}: failed to import: {type(e).__name__}: {_one_line(e)}"
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in found:  # keyed apart, so the built-in of that name still counts as healthy
            errors[f"{ep.name} [entry point]"] = (
                f"entry point {ep.value}: name {ep.name!r} clashes with a built-in strategy")
            continue
        try:
            found[ep.name] = _from_module(ep.name, ep.load(), f"entry point {ep.value}")
        except StrategyError as e:
            errors[ep.name] = str(e)
        except Exception as e:
            errors[ep.name] = f"entry point {ep.value}: failed to import: {_one_line(e)}"
    return found, errors


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def get_strategy(name: str) -> Strategy:
    """One strategy by name; a broken one raises :class:`StrategyError` naming its file."""
    found, errors = discover()
    if name in found:
        return found[name]
    if name in errors:
        raise StrategyError(errors[name])
    raise ValueError(f"unknown strategy {name!r}; see `python -m bench list`")


def select(names: str | list[str]) -> tuple[list[Strategy], dict[str, str]]:
    """Strategies by comma-separated names (or ``all``); unknown names raise ``ValueError``."""
    found, errors = discover()
    wanted = names.split(",") if isinstance(names, str) else list(names)
    wanted = [n.strip() for n in wanted if n.strip()]
    if wanted == ["all"]:
        return [found[n] for n in sorted(found)], errors
    chosen, failed = [], {}
    for n in wanted:
        if n in found:
            chosen.append(found[n])
        elif n in errors:
            failed[n] = errors[n]
        else:
            close = difflib.get_close_matches(n, list(found) + list(errors), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown strategy {n!r}{hint}; see `python -m bench list`")
    return chosen, failed


def describe() -> list[dict[str, Any]]:
    """Rows for ``python -m bench list``."""
    found, errors = discover()
    rows = [{"name": s.name, "summary": s.summary, "citation": s.citation, "error": ""}
            for s in found.values()]
    rows += [{"name": n, "summary": "", "citation": "", "error": e} for n, e in errors.items()]
    return sorted(rows, key=lambda r: r["name"])
