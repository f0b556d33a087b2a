"""Strategies: every module in ``strategies/`` plus the entry-point group
``lstm_init_bench.strategies`` (discovered by :mod:`bench.plugins`, like datasets, metrics and
figures).

A strategy is a plain module (file name = strategy name with ``_`` for ``-``) holding:

- a docstring whose first line is the one-line summary, then what it sets, the formula, the source;
- ``CITATION: str``;
- ``init_params(key, sizes, config, data) -> list[dict[str, Array]]``: Lasagne-named parameters
  for each layer of a stack of sizes ``(C, H1, ..., C)``; ``config`` is the run's
  :class:`bench.config.RunConfig` (the strategy's own settings: ``config.setting(name)``);
  ``data`` a float32 (batch, time, C) batch of training windows for data-dependent strategies.
  Leaving out ``W_cell_to_*`` builds a layer without peepholes;
- optionally ``NONLINEARITIES = {"nonlinearity": ..., "cell_nonlinearity": ...}`` (Lasagne's
  keyword names; each defaults to tanh);
- optionally ``SETTINGS = {name: default}``: the strategy's own settings. They are merged with
  the user's overrides into the run's config and are part of its run key;
  ``check_settings(settings)`` may raise ``ValueError`` for a bad value.

A module that fails to import is reported with its file and left out; the others still load.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np

from bench.config import RunConfig, parse_value
from bench.errors import ConfigError, PluginError, did_you_mean
from bench.lstm import check_params, get_nonlinearity
from bench.plugins import Kind
from bench.plugins import discover as _discover

StrategyError = PluginError  # a broken strategy module; the message names its file
NONLINEARITY_KEYS = ("nonlinearity", "cell_nonlinearity")


@dataclass(frozen=True)
class Strategy:
    """A loaded strategy module."""

    name: str
    module: ModuleType
    origin: str = ""

    @property
    def path(self) -> str:
        """The module's file (or entry point), for error messages."""
        if self.origin:
            return self.origin
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
        doc = (self.module.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def citation(self) -> str:
        """The module's ``CITATION``."""
        return str(getattr(self.module, "CITATION", ""))

    @property
    def defaults(self) -> dict[str, Any]:
        """The module's own settings and their defaults (``SETTINGS``)."""
        return dict(getattr(self.module, "SETTINGS", {}))

    def settings(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The module's ``SETTINGS`` merged with ``overrides`` (each cast to its default's
        type); an unknown or bad setting raises :class:`bench.errors.ConfigError`."""
        merged = self.defaults
        for name, value in (overrides or {}).items():
            if name not in merged:
                known = ", ".join(merged) or "none"
                raise ConfigError(f"{self.name}.{name}",
                                  f"strategy {self.name!r} has no setting {name!r}"
                                  f"{did_you_mean(name, merged)} (its settings: {known})")
            default = merged[name]
            try:
                merged[name] = parse_value(default, value)
            except (TypeError, ValueError):
                raise ConfigError(f"{self.name}.{name}", f"strategy {self.name!r}: {value!r} "
                                  f"is not a valid {name}") from None
        check = getattr(self.module, "check_settings", None)
        if check is not None:
            try:
                check(dict(merged))
            except ValueError as e:
                raise ConfigError(f"{self.name}.{next(iter(overrides or merged), '')}",
                                  f"strategy {self.name!r}: {e}") from None
        return merged

    def nonlinearities(self) -> dict[str, str]:
        """``{"nonlinearity": ..., "cell_nonlinearity": ...}`` for every layer (default tanh)."""
        given = dict(getattr(self.module, "NONLINEARITIES", {}))
        extra = set(given) - set(NONLINEARITY_KEYS)
        if extra:
            raise StrategyError(f"{self.path}: NONLINEARITIES has unknown key "
                                f"{sorted(extra)[0]!r} (expected {', '.join(NONLINEARITY_KEYS)})")
        out = {k: str(given.get(k, "tanh")) for k in NONLINEARITY_KEYS}
        for name in out.values():
            try:
                get_nonlinearity(name)
            except ValueError as e:
                raise StrategyError(f"{self.path}: NONLINEARITIES: {e}") from None
        return out

    def init_params(
        self, key: jax.Array, config: RunConfig, data: np.ndarray | None = None
    ) -> list[dict[str, jax.Array]]:
        """Build and validate the stack's initial parameters. A config without settings gets
        the strategy's defaults (``SETTINGS``)."""
        sizes = config.sizes
        missing = {k: v for k, v in self.defaults.items() if k not in dict(config.settings)}
        if missing:
            config = dataclasses.replace(config, settings=tuple(sorted(
                {**dict(config.settings), **missing}.items())))
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


def _load(name: str, module: ModuleType, origin: str) -> Strategy:
    if not callable(getattr(module, "init_params", None)):
        raise StrategyError(f"{origin}: no init_params(key, sizes, config, data) function")
    strategy = Strategy(name=name, module=module, origin=origin)
    strategy.nonlinearities()  # a bad NONLINEARITIES marks the module as broken at discovery
    if not isinstance(getattr(module, "SETTINGS", {}), Mapping):
        raise StrategyError(f"{origin}: SETTINGS must be a dict of name: default")
    return strategy


KIND: Kind[Strategy] = Kind("strategies", "strategies", _load, dashes=True)


def discover() -> tuple[dict[str, Strategy], dict[str, str]]:
    """Load every strategy; return ``(strategies by name, errors by name)``."""
    return _discover(KIND)


# ------------------------------------------------------------------------ matched controls

CONTROL_BASE = "glorot"


@dataclass(frozen=True)
class Architecture:
    """What a strategy's network is, apart from its initial values."""

    peepholes: bool = True
    nonlinearity: str = "tanh"
    cell_nonlinearity: str = "tanh"

    @property
    def label(self) -> str:
        """``no-peepholes``, ``hidden=…``, ``cell=…`` joined by commas (empty for the default)."""
        parts = [] if self.peepholes else ["no-peepholes"]
        if self.nonlinearity != "tanh":
            parts.append(f"hidden={self.nonlinearity}")
        if self.cell_nonlinearity != "tanh":
            parts.append(f"cell={self.cell_nonlinearity}")
        return ",".join(parts)

    @classmethod
    def parse(cls, label: str) -> Architecture:
        """The inverse of :attr:`label`; ``ValueError`` on anything else."""
        kw: dict[str, Any] = {}
        for part in filter(None, label.split(",")):
            key, _, value = part.partition("=")
            if part == "no-peepholes":
                kw["peepholes"] = False
            elif key in ("hidden", "cell") and value:
                get_nonlinearity(value)
                kw["nonlinearity" if key == "hidden" else "cell_nonlinearity"] = value
            else:
                raise ValueError(f"unknown architecture part {part!r}")
        return cls(**kw)


def architecture(strategy: Strategy) -> Architecture:
    """The strategy's architecture: its nonlinearities, and whether a small stack it builds has
    peepholes (``W_cell_to_*``)."""
    from bench.config import resolve

    cfg = resolve("quick", channels=2, hidden=(3,))
    data = np.random.default_rng(0).normal(0.0, 0.25, (4, 16, 2)).astype(np.float32)
    layers = strategy.init_params(jax.random.PRNGKey(0), cfg, data)
    peepholes = all(any(k.startswith("W_cell_to_") for k in layer) for layer in layers)
    return Architecture(peepholes=peepholes, **strategy.nonlinearities())


def control(arch: Architecture) -> Strategy:
    """``glorot`` built on ``arch``: the matched control of every strategy with that
    architecture, named ``glorot[<arch label>]``."""
    base = get_strategy(CONTROL_BASE)
    module = ModuleType(f"{base.module.__name__}[{arch.label}]",
                        f"Glorot (the control) on the architecture {arch.label}.")

    def init_params(key: jax.Array, sizes: tuple[int, ...], config: RunConfig,
                    data: np.ndarray | None) -> list[dict[str, Any]]:
        layers = base.module.init_params(key, sizes, config, data)
        if arch.peepholes:
            return layers
        return [{k: v for k, v in layer.items() if not k.startswith("W_cell_to_")}
                for layer in layers]

    module.init_params = init_params  # type: ignore[attr-defined]
    module.CITATION = base.citation  # type: ignore[attr-defined]
    module.NONLINEARITIES = {"nonlinearity": arch.nonlinearity,  # type: ignore[attr-defined]
                             "cell_nonlinearity": arch.cell_nonlinearity}
    module.__file__ = getattr(base.module, "__file__", None)  # the code hash is glorot's
    return Strategy(f"{CONTROL_BASE}[{arch.label}]", module, origin=f"control ({base.path})")


def controls(strategies: list[Strategy]) -> list[Strategy]:
    """One control per architecture that a strategy of ``strategies`` uses and plain glorot
    does not have, in order of first appearance."""
    seen: dict[str, Strategy] = {}
    for s in strategies:
        if s.name.startswith(f"{CONTROL_BASE}["):
            continue
        try:
            arch = architecture(s)
        except PluginError:
            continue  # a broken strategy fails in the sweep, with its own message
        if arch != Architecture() and arch.label not in seen:
            seen[arch.label] = control(arch)
    return list(seen.values())


def get_strategy(name: str) -> Strategy:
    """One strategy by name (also a control, ``glorot[...]``); a broken one raises
    :class:`StrategyError` naming its file."""
    if name.startswith(f"{CONTROL_BASE}[") and name.endswith("]"):
        try:
            return control(Architecture.parse(name[len(CONTROL_BASE) + 1:-1]))
        except ValueError as e:
            raise ConfigError("strategies", f"strategy {name!r}: {e}") from None
    found, errors = discover()
    if name in found:
        return found[name]
    if name in errors:
        raise StrategyError(errors[name])
    raise ConfigError("strategies", f"unknown strategy {name!r}"
                      f"{did_you_mean(name, list(found) + list(errors))}")


def select(names: str | list[str]) -> tuple[list[Strategy], dict[str, str]]:
    """Strategies by comma-separated names (or ``all``); unknown names raise
    :class:`bench.errors.ConfigError`. Returns the healthy ones and the broken ones' errors."""
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
            raise ConfigError("strategies", f"unknown strategy {n!r}"
                              f"{did_you_mean(n, list(found) + list(errors))}")
    return chosen, failed


def describe() -> list[dict[str, Any]]:
    """Rows for ``python -m bench list``."""
    found, errors = discover()
    rows = [{"name": s.name, "summary": s.summary, "citation": s.citation, "error": "",
             "settings": s.defaults} for s in found.values()]
    rows += [{"name": n, "summary": "", "citation": "", "error": e, "settings": {}}
             for n, e in errors.items()]
    return sorted(rows, key=lambda r: r["name"])
