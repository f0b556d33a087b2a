"""Run configuration: one frozen, validated record per run, merged from a profile and overrides.

Every entry point builds its config through :func:`resolve`, which rejects unknown or misspelled
option names (Lasagne 0.1 silently swallowed ``determistic=True`` and left dropout on; we raise).
The resolved config is hashed to key the run's result record.

A strategy's own settings (chrono's ``t_max``) are not fields of :class:`RunConfig`: they live in
the strategy module as defaults (``SETTINGS``), are merged with the user's overrides by
:meth:`bench.registry.Strategy.settings`, and enter the config as ``settings``, so they are part
of the run key of that strategy's runs only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

from bench.errors import ConfigError, unknown

# The learning-rate grid: 1e-4 … 1 in half-decades (1 and 3 per decade). A strategy usable at
# every LR of the grid is extended upward by EXTENSION_LRS, one at a time, until it is not.
DEFAULT_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0)
EXTENSION_LRS = (3.0, 10.0)

# Named arms: groups of run options every strategy is trained under. "clean" is the main
# comparison; "lasagne-0.1" is the original network's setting (Lasagne 0.1's output-peephole
# order and its dropout 0.33 before every LSTM layer).
ARMS: dict[str, dict[str, Any]] = {
    "clean": {"dropout": 0.0, "peephole_order": "graves"},
    "lasagne-0.1": {"dropout": 0.33, "peephole_order": "lasagne-0.1"},
}

# Half-decade LRs would double the CPU default's sweep, so it takes decades from 1e-3: the edge
# is found to within a factor 10 there, and to within √10 by the standard profile. (Adam moves
# a parameter by about lr per step, so 1e-4 over the quick budget leaves the init in place.)
DECADE_LRS = (1e-3, 1e-2, 0.1, 1.0)

PROFILES: dict[str, dict[str, Any]] = {
    # 7 -> 32 -> 16 -> 7: the CPU default, sized so that `make bench` (3 datasets × 2 arms ×
    # every strategy and control × 4 LRs × 5 seeds) fits a 2-core machine.
    "quick": {"hidden": (32, 16), "window": 32, "steps": 400, "val_every": 20,
              "val_sequences": 16, "val_length": 256, "test_sequences": 32,
              "test_length": 1024, "init_sequences": 1},
    # 7 -> 64 -> 32 -> 7, the complete protocol (more seeds and steps): for a GPU or Ray.
    "standard": {"hidden": (64, 32), "steps": 1000},
    # 7 -> 1024 -> 128 -> 7: the original Lasagne network's sizes (GPU recommended).
    "large": {"hidden": (1024, 128), "window": 128, "steps": 300},
}
# What a sweep runs by default under each profile (command-line flags override each entry).
SWEEP_DEFAULTS: dict[str, dict[str, Any]] = {
    "quick": {"datasets": ("ar1", "ar2", "pink"), "arms": ("clean", "lasagne-0.1"),
              "lrs": DECADE_LRS, "seeds": 5, "runs_axis": "vmap"},
    "standard": {"datasets": ("ar1", "ar2", "pink"), "arms": ("clean", "lasagne-0.1"),
                 "lrs": DEFAULT_LRS, "seeds": 10},
    "large": {"datasets": ("ar1",), "arms": ("clean", "lasagne-0.1"), "lrs": DEFAULT_LRS,
              "seeds": 5},
}
# Old profile names, still accepted; the command line prints a deprecation notice for them.
PROFILE_ALIASES: dict[str, str] = {"seed": "large"}

OPTIMIZERS = ("adam", "sgd", "rmsprop")
# Bumped whenever the engine's numbers change for an unchanged config (random streams, the
# backward pass, …), so a results directory never mixes records of two engines under one key.
# 2: dropout masks from non-partitionable Threefry; hand-written LSTM backward pass.
# 3: the step's input enters its one matmul ([x_t, h_{t-1}]·[W_in; W_hid]; rounding differs).
# 4: training keeps parameters packed (W = [W_in; W_hid], b); the global gradient norm sums
#    over fewer arrays, so clipping rounds differently.
ENGINE_VERSION = 4
# A run is "at the mean predictor" while its validation MSE has closed less than this fraction of
# the gap between the mean predictor's MSE (the validation data's variance) and the floor.
COLLAPSE_GAP = 0.01
READOUTS = ("none", "linear")
SCHEDULES = ("constant", "warmup_cosine")


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one training run's numbers (and nothing else)."""

    profile: str = "quick"
    strategy: str = "glorot"
    strategy_code: str = ""  # hash of the strategy module's source, set by the sweep
    dataset: str = "ar1"
    lr: float = 1e-3
    seed: int = 0
    arm: str = "default"  # the name of the group of options (ARMS) this run was made under
    # the network
    channels: int = 7
    hidden: tuple[int, ...] = (64, 32)
    dropout: float = 0.33
    peephole_order: str = "graves"
    readout: str = "none"  # "linear": a dense C -> C head on the last LSTM layer's h
    # training
    optimizer: str = "adam"
    schedule: str = "constant"  # or "warmup_cosine": linear warmup, then cosine decay to 0
    warmup_steps: int = 0
    steps: int = 400
    batch_size: int = 16
    window: int = 64
    clip_norm: float = 1.0  # global-norm clipping of the update (0 = off)
    grad_clipping: float = 0.0  # Lasagne-style elementwise clip at the gate pre-activations
    # data
    data_scale: float = 0.25  # stationary std of every channel; < 1 so tanh-bounded h can reach it
    train_sequences: int = 512  # training pool (windows are drawn from it)
    val_sequences: int = 16  # validation set: the LR is chosen here, curves are measured here
    val_length: int = 512
    val_every: int = 25  # training steps between two points of the validation curve
    # a run whose validation MSE stays at the mean predictor's (under COLLAPSE_GAP of the gap to
    # the floor closed) for this fraction of its validation points in a row stops training
    # ("collapsed", bench.sweep.run_chunk); 0 = never, the default: the rule changes what is
    # measured (docs/protocol.md, results/stopping-check.md)
    stop_collapsed: float = 0.0
    test_sequences: int = 64  # test set: every reported number
    test_length: int = 2048
    # the strategy's own settings (its module's SETTINGS merged with overrides), sorted pairs
    settings: tuple[tuple[str, Any], ...] = ()
    # diagnostics at init
    init_length: int = 10_000
    init_sequences: int = 2
    curve_points: int = 50

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer sizes including input and output: (channels, *hidden, channels)."""
        return (self.channels, *self.hidden, self.channels)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict."""
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        d["settings"] = dict(self.settings)
        return d

    def setting(self, name: str) -> Any:
        """The strategy setting ``name`` (``KeyError`` if the strategy declares none)."""
        return dict(self.settings)[name]

    def key(self) -> str:
        """Stable hash of the resolved config and :data:`ENGINE_VERSION`: the run's identity in
        the result store."""
        blob = json.dumps({**self.to_dict(), "engine": ENGINE_VERSION}, sort_keys=True,
                          separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig))
# Fields a sweep sets per run (from the profile, the strategies, datasets, learning rates and
# seeds it runs, and the strategy module itself); they cannot be overrides.
PER_RUN = ("profile", "strategy", "strategy_code", "settings", "dataset", "lr", "seed", "arm")


def parse_value(default: Any, value: Any) -> Any:
    """``value`` (text from the command line, or already typed) as the type of ``default``:
    a tuple of ints from ``"64,32"``, a bool from true/false/1/0, else ``type(default)``;
    ``ValueError`` when it does not parse."""
    if not isinstance(value, str) or isinstance(default, str):
        return value if isinstance(value, type(default)) else type(default)(value)
    if isinstance(default, tuple):
        return tuple(int(v) for v in value.split(","))
    if isinstance(default, bool):
        if value.lower() not in ("true", "false", "1", "0"):
            raise ValueError(value)
        return value.lower() in ("true", "1")
    return type(default)(value)


def canonical_profile(name: str) -> str:
    """The profile's current name (an old alias maps to it); unknown names raise."""
    name = PROFILE_ALIASES.get(name, name)
    if name not in PROFILES:
        raise unknown("profile", name, PROFILES, setting="profile")
    return name


def resolve(profile: str = "quick", /, **overrides: Any) -> RunConfig:
    """Merge ``PROFILES[profile]`` with ``overrides`` into a validated ``RunConfig``.

    ``settings`` may be given as a mapping (a strategy's merged settings)."""
    profile = canonical_profile(profile)
    if "profile" in overrides:
        raise ConfigError("profile", "the profile is chosen by name, not as an override")
    for name in overrides:
        if name not in FIELDS:
            raise unknown("option", name, FIELDS, setting=name)
    merged = {**PROFILES[profile], **overrides}
    if "hidden" in merged:
        merged["hidden"] = tuple(int(h) for h in merged["hidden"])
    if "settings" in merged:
        merged["settings"] = tuple(sorted(dict(merged["settings"]).items()))
    cfg = RunConfig(profile=profile, **merged)
    validate(cfg)
    return cfg


def validate(cfg: RunConfig) -> None:
    """Raise :class:`bench.errors.ConfigError` naming the first invalid value."""
    positive_ints = ("channels", "steps", "batch_size", "window", "train_sequences",
                     "val_sequences", "val_length", "val_every", "test_sequences",
                     "test_length", "init_length", "init_sequences", "curve_points")
    for name in positive_ints:
        if int(getattr(cfg, name)) < 1:
            raise ConfigError(name, f"{name} must be >= 1, got {getattr(cfg, name)}")
    if not cfg.hidden or min(cfg.hidden) < 1:
        raise ConfigError("hidden", f"hidden sizes must be >= 1, got {cfg.hidden}")
    if not (cfg.lr > 0 and math.isfinite(cfg.lr)):
        raise ConfigError("lr", f"learning rate must be finite and > 0, got {cfg.lr}")
    if not 0 <= cfg.dropout < 1:
        raise ConfigError("dropout", f"dropout must be in [0, 1), got {cfg.dropout}")
    if cfg.optimizer not in OPTIMIZERS:
        raise unknown("optimizer", cfg.optimizer, OPTIMIZERS, setting="optimizer")
    if cfg.readout not in READOUTS:
        raise unknown("readout", cfg.readout, READOUTS)
    if cfg.schedule not in SCHEDULES:
        raise unknown("schedule", cfg.schedule, SCHEDULES)
    if not 0 <= cfg.warmup_steps < cfg.steps:
        raise ConfigError("warmup_steps", f"warmup_steps must be in [0, steps), got "
                          f"{cfg.warmup_steps}")
    if cfg.val_length < 2 or cfg.test_length < 2:
        raise ConfigError("val_length", "val_length and test_length must be >= 2")
    if cfg.peephole_order not in ("graves", "lasagne-0.1"):
        raise unknown("peephole_order", cfg.peephole_order, ("graves", "lasagne-0.1"))
    for name in ("clip_norm", "grad_clipping"):  # nan would pass a plain "< 0" test
        value = getattr(cfg, name)
        if not (value >= 0 and math.isfinite(value)):
            raise ConfigError(name, f"{name} must be a finite number >= 0 (0 = off), got {value}")
    if not (cfg.data_scale > 0 and math.isfinite(cfg.data_scale)):
        raise ConfigError("data_scale", f"data_scale must be finite and > 0, got "
                          f"{cfg.data_scale}")
    if not 0 <= cfg.stop_collapsed <= 1:  # nan fails too
        raise ConfigError("stop_collapsed", f"stop_collapsed must be in [0, 1] (0 = never), "
                          f"got {cfg.stop_collapsed}")
    if cfg.seed < 0:
        raise ConfigError("seed", f"seed must be >= 0, got {cfg.seed}")
