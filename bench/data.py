"""Synthetic autocorrelated Gaussian noise with exactly known one-step error floors.

A dataset is a plain module, found like the strategies are (:mod:`bench.plugins`): the built-in
ones are the files of ``bench/datasets/`` (one per process: ``ar1``, ``ar2``, ``ou``,
``ar1_noisy``, ``pink``; files starting with ``_`` are skipped), third-party packages add theirs
under the entry-point group ``lstm_init_bench.datasets``. Its name is the file stem (or the entry
point's name). A module that fails to import or lacks a required function is reported by
:func:`discover` with its file and left out; the others still load.

Every dataset has ``C`` independent channels. Each channel is a zero-mean stationary Gaussian
process normalised so that Var(x) = sigma2 = scale**2, and every sequence starts from the
stationary distribution (no burn-in). Three floors are reported per channel
(:class:`bench.processes.Floors`):

* variance     gamma_0 = sigma2 (MSE of always predicting 0, the mean);
* bayes        MSE of E[x_{t+1} | x_t, x_{t-1}, ...], the best possible one-step predictor given
               the infinite past;
* persistence  MSE of predicting x_{t+1} = x_t, i.e. 2 (gamma_0 - gamma_1),

where gamma_k is the lag-k autocovariance. Each module's docstring states its process and the
closed forms of its floors.

A dataset module defines:

- a docstring whose first line is a one-line summary, then the process equations and the exact
  floors with their formulas;
- ``params(channels: int, scale: float) -> dict[str, np.ndarray]``: per-channel parameters
  (arrays of shape (C,), or (C, K) for K parameters per channel);
- ``floors(channels: int, scale: float) -> Floors``: exact per-channel variance, Bayes and
  persistence one-step MSEs, each of shape (C,);
- ``sample(rng: np.random.Generator, n_seq: int, length: int, channels: int, scale: float)
  -> np.ndarray`` of shape (n_seq, length, C), every draw taken from ``rng``;
- optionally ``autocovariance(lags: int, channels: int, scale: float) -> np.ndarray``:
  gamma_0..gamma_lags per channel, shape (lags + 1, C);
- optionally ``LABEL_PARAMS``: the names of ``params`` that head a channel's column in the
  report's per-channel table (default: every parameter that varies across channels, except
  the innovation variance ``q``).

Shared maths (Levinson-Durbin, Kalman floors, AR path sampling) is in :mod:`bench.processes`.
See ``docs/datasets.md`` for a complete example module.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from bench import plugins
from bench.errors import PluginError, unknown
from bench.processes import Floors, levinson_durbin, noisy_ar1_floors

__all__ = [
    "KIND",
    "Dataset",
    "Floors",
    "autocovariance",
    "discover",
    "floors",
    "generate",
    "get",
    "levinson_durbin",
    "names",
    "noisy_ar1_floors",
    "params",
]

REQUIRED = ("params", "floors", "sample")
# A real series (``KIND = "series"``, see :mod:`bench.series`) defines these instead.
REQUIRED_SERIES = ("series", "params")
FLOOR_NAMES = ("variance", "bayes", "persistence")


def _check_min(arg: str, value: float, minimum: float, strict: bool = False) -> None:
    ok = value > minimum if strict else value >= minimum
    if not ok:
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise ValueError(f"{arg} must be {bound}, got {value!r}")


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset module. The methods check their arguments (one-line ``ValueError``
    naming the argument) and the shapes the module returns (:class:`PluginError` naming
    ``origin``)."""

    name: str
    module: ModuleType
    origin: str  # the module's file, or "entry point <module>", for error messages

    @property
    def summary(self) -> str:
        """First line of the module docstring."""
        doc = (self.module.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""

    @property
    def kind(self) -> str:
        """``"process"`` (a synthetic process with exact floors, the default) or ``"series"``
        (a real series split in time, scored against its fitted AR baseline;
        :mod:`bench.series`)."""
        return str(getattr(self.module, "KIND", "process"))

    @property
    def channels(self) -> int | None:
        """A real series' channel count (``CHANNELS``; the network's input and output width
        follow it); None for a process, which takes any count."""
        return int(self.module.CHANNELS) if self.kind == "series" else None

    @property
    def has_autocovariance(self) -> bool:
        """Whether the module gives its exact autocovariance."""
        return callable(getattr(self.module, "autocovariance", None))

    def params(self, channels: int = 7, scale: float = 1.0) -> dict[str, np.ndarray]:
        """Per-channel process parameters (innovation variances already include ``scale**2``);
        a real series' descriptive parameters (``channels`` and ``scale`` unused)."""
        if self.kind == "series":
            return self.module.params()
        _check_min("channels", channels, 1)
        _check_min("scale", scale, 0.0, strict=True)
        return self.module.params(channels, scale)

    def autocovariance(self, lags: int, channels: int = 7, scale: float = 1.0) -> np.ndarray:
        """Exact autocovariance gamma_0..gamma_lags of each channel, shape (lags + 1, C)."""
        _check_min("lags", lags, 0)
        _check_min("channels", channels, 1)
        _check_min("scale", scale, 0.0, strict=True)
        if not self.has_autocovariance:
            raise NotImplementedError(
                f"dataset {self.name!r} ({self.origin}) does not give its autocovariance")
        gamma = self.module.autocovariance(lags, channels, scale)
        self._check_shape("autocovariance", gamma, (lags + 1, channels))
        return gamma

    def floors(self, channels: int = 7, scale: float = 1.0) -> Floors:
        """Exact per-channel variance, Bayes-optimal and persistence one-step MSEs."""
        _check_min("channels", channels, 1)
        _check_min("scale", scale, 0.0, strict=True)
        f = self.module.floors(channels, scale)
        if not isinstance(f, Floors):
            raise PluginError(f"{self.origin}: floors() must return a Floors, "
                              f"got {type(f).__name__}")
        for floor in FLOOR_NAMES:
            self._check_shape(f"floors().{floor}", getattr(f, floor), (channels,))
        return f

    def sample(
        self, n_seq: int, length: int, channels: int = 7, seed: int = 0, scale: float = 1.0
    ) -> np.ndarray:
        """``n_seq`` stationary sequences drawn with ``np.random.default_rng(seed)``, float32
        array of shape (n_seq, length, channels)."""
        _check_min("channels", channels, 1)
        _check_min("n_seq", n_seq, 1)
        _check_min("length", length, 2)
        _check_min("scale", scale, 0.0, strict=True)
        x = self.module.sample(np.random.default_rng(seed), n_seq, length, channels, scale)
        self._check_shape("sample()", x, (n_seq, length, channels))
        return np.asarray(x, dtype=np.float32)

    def channel_table(self, channels: int = 7, scale: float = 1.0) -> pd.DataFrame:
        """One row per channel: ``channel``, the module's per-channel parameters that are 1-d
        arrays of length C (e.g. ``phi``), then the three floors."""
        table: dict[str, Any] = {"channel": np.arange(channels)}
        for key, value in self.params(channels, scale).items():
            value = np.asarray(value)
            if value.shape == (channels,) and key not in FLOOR_NAMES:
                table[key] = value
        f = self.floors(channels, scale)
        table.update({floor: getattr(f, floor) for floor in FLOOR_NAMES})
        return pd.DataFrame(table)

    def _check_shape(self, what: str, value: Any, shape: tuple[int, ...]) -> None:
        got = np.shape(value)
        if got != shape:
            raise PluginError(f"{self.origin}: {what} has shape {got}, expected {shape}")


def _load(name: str, module: ModuleType, origin: str) -> Dataset:
    """Validate a dataset module: ``params``, ``floors`` and ``sample`` are functions, and
    ``autocovariance``, if present, is one; a real series (``KIND = "series"``) has ``series``
    and ``params`` functions and a positive integer ``CHANNELS``."""
    if getattr(module, "KIND", "process") == "series":
        plugins.require(module, origin, *REQUIRED_SERIES, "CHANNELS")
        channels = module.CHANNELS
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise PluginError(f"{origin}: CHANNELS must be a positive integer, got {channels!r}")
        for fn in REQUIRED_SERIES:
            if not callable(getattr(module, fn)):
                raise PluginError(f"{origin}: {fn} is not a function")
        return Dataset(name=name, module=module, origin=origin)
    plugins.require(module, origin, *REQUIRED)
    for fn in (*REQUIRED, "autocovariance"):
        if hasattr(module, fn) and not callable(getattr(module, fn)):
            raise PluginError(f"{origin}: {fn} is not a function")
    return Dataset(name=name, module=module, origin=origin)


KIND: plugins.Kind[Dataset] = plugins.Kind("datasets", "bench.datasets", _load)


def discover() -> tuple[dict[str, Dataset], dict[str, str]]:
    """Load every dataset: ``(datasets by name, one-line errors by name)``."""
    return plugins.discover(KIND)


def names() -> tuple[str, ...]:
    """Sorted names of the datasets that load."""
    return tuple(sorted(discover()[0]))


def get(name: str) -> Dataset:
    """One dataset by name. An unknown name raises :class:`bench.errors.ConfigError` (a
    ``ValueError``, with the closest name); a broken module raises :class:`PluginError`."""
    found, errors = discover()
    if name in found:
        return found[name]
    if name in errors:
        raise PluginError(errors[name])
    raise unknown("dataset", name, sorted(found), setting="dataset")


def __getattr__(attr: str) -> Any:
    """``DATASETS``: the names of the datasets that load, as :func:`names` (kept for callers
    that still use the constant)."""
    if attr == "DATASETS":
        return names()
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def params(name: str, channels: int = 7, scale: float = 1.0) -> dict[str, np.ndarray]:
    """Per-channel process parameters (innovation variances already include ``scale**2``).

    Built-in keys: ar1 ``phi, q``; ou ``theta, phi, q``; ar2 ``phi1, phi2, q``; ar1_noisy
    ``phi, q, r``; pink ``alpha`` (C,), ``poles`` and ``weights`` (C, K).
    """
    return get(name).params(channels, scale)


def autocovariance(name: str, lags: int, channels: int = 7, scale: float = 1.0) -> np.ndarray:
    """Exact autocovariance gamma_0..gamma_lags of each channel, shape (lags + 1, C)."""
    return get(name).autocovariance(lags, channels, scale)


def floors(name: str, channels: int = 7, scale: float = 1.0) -> Floors:
    """Exact per-channel variance, Bayes-optimal and persistence one-step MSEs."""
    return get(name).floors(channels, scale)


def generate(
    name: str, n_seq: int, length: int, channels: int = 7, seed: int = 0, scale: float = 1.0
) -> np.ndarray:
    """Draw ``n_seq`` stationary sequences, float32 array of shape (n_seq, length, channels)."""
    return get(name).sample(n_seq, length, channels, seed, scale)
