"""Discovery of plugin modules: every extension point works the same way.

A plugin is a plain module. The built-in ones are the files of one folder (``strategies/``,
``bench/datasets/``, ``bench/metrics/``, ``bench/figures/``; files starting with ``_`` are
skipped); third-party packages add theirs under an entry-point group
(``lstm_init_bench.<kind>``). A module that fails to import or to validate is reported with its
file and left out; the others still load. An entry point whose name clashes with a built-in is
reported and the built-in kept.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Generic, TypeVar

from bench.errors import PluginError, one_line

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Kind(Generic[T]):
    """One extension point.

    ``load(name, module, origin)`` validates a module and returns the registry's entry (raising
    :class:`PluginError` naming ``origin`` when the module is broken). ``dashes``: the entry's
    name is the file stem with ``-`` for ``_`` (strategies, datasets keep their stems as is).
    """

    kind: str  # "strategies", "datasets", "metrics", "figures"
    package: str  # import path of the built-in folder, e.g. "bench.datasets"
    load: Callable[[str, ModuleType, str], T]
    dashes: bool = False

    @property
    def folder(self) -> Path:
        """The built-in folder: where the package's modules are imported from (its
        ``__path__``, so a test can point the package at another folder)."""
        return Path(list(importlib.import_module(self.package).__path__)[0])

    @property
    def group(self) -> str:
        """The entry-point group third-party packages register under."""
        return f"lstm_init_bench.{self.kind}"


def discover(kind: Kind[T]) -> tuple[dict[str, T], dict[str, str]]:
    """Load every module of ``kind``: ``(entries by name, one-line errors by name)``."""
    found: dict[str, T] = {}
    errors: dict[str, str] = {}
    for path in sorted(kind.folder.glob("*.py")):
        if path.stem.startswith("_"):
            continue
        name = path.stem.replace("_", "-") if kind.dashes else path.stem
        origin = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        modname = f"{kind.package}.{path.stem}"
        try:
            found[name] = kind.load(name, importlib.import_module(modname), origin)
        except PluginError as e:
            errors[name] = str(e)
        except Exception as e:  # SyntaxError, ImportError, anything at import time
            sys.modules.pop(modname, None)
            errors[name] = f"{origin}: failed to import: {type(e).__name__}: {one_line(e)}"
    for ep in entry_points(kind.group):
        origin = f"entry point {ep.value}"
        if ep.name in found:  # keyed apart, so the built-in of that name still counts as healthy
            errors[f"{ep.name} [entry point]"] = (
                f"{origin}: name {ep.name!r} clashes with a built-in {kind.kind[:-1]}")
            continue
        try:
            found[ep.name] = kind.load(ep.name, ep.load(), origin)
        except PluginError as e:
            errors[ep.name] = str(e)
        except Exception as e:
            errors[ep.name] = f"{origin}: failed to import: {type(e).__name__}: {one_line(e)}"
    return found, errors


_SCANS: dict[str, tuple[tuple, tuple[importlib.metadata.EntryPoint, ...]]] = {}


def _path_state() -> tuple[tuple[str, int], ...]:
    """Every ``sys.path`` entry with its modification time (-1 if it cannot be read): installing
    or removing a distribution adds or removes a ``*.dist-info`` folder, which changes it."""
    def mtime(entry: str) -> int:
        try:
            return os.stat(entry or ".").st_mtime_ns
        except OSError:
            return -1
    return tuple((entry, mtime(entry)) for entry in sys.path)


def entry_points(group: str) -> tuple[importlib.metadata.EntryPoint, ...]:
    """``importlib.metadata.entry_points(group=group)``, scanned again only when ``sys.path``
    or one of its folders has changed. A scan reads every installed distribution's metadata,
    and a sweep looks a dataset up once per run it plans."""
    scan = importlib.metadata.entry_points  # looked up per call: a test may replace it
    state = (scan, _path_state())
    if group not in _SCANS or _SCANS[group][0] != state:
        _SCANS[group] = (state, tuple(scan(group=group)))
    return _SCANS[group][1]


def require(module: ModuleType, origin: str, *names: str) -> None:
    """Raise :class:`PluginError` unless ``module`` defines every attribute in ``names``."""
    for name in names:
        if not hasattr(module, name):
            raise PluginError(f"{origin}: defines no {name}")


def declared(module: ModuleType, origin: str, attr: str, cls: type[T], name: str) -> T:
    """The module's ``attr`` (``METRIC``, ``FIGURE``): an instance of ``cls`` whose ``name`` is
    the module's registry name; otherwise :class:`PluginError` naming ``origin``."""
    value = getattr(module, attr, None)
    if value is None:
        raise PluginError(f"{origin}: defines no {attr}")
    if not isinstance(value, cls):
        raise PluginError(f"{origin}: {attr} is a {type(value).__name__}, not a "
                          f"{cls.__module__}.{cls.__name__}")
    if value.name != name:  # type: ignore[attr-defined]
        raise PluginError(f"{origin}: {attr}.name is {value.name!r}, expected {name!r} (the "
                          "module's name)")
    return value
