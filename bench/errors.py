"""The errors a user can see, in one place.

The library raises :class:`ConfigError` (bad values, naming the setting, never a command-line
flag) and :class:`PluginError` (a broken strategy, dataset, metric or figure module, naming its
file). The command line (:mod:`bench.cli`) turns both, and its own :class:`UserError`, into one
``error: ...`` line and exit status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """Bad input at the command line; the message is shown as one line."""


class ConfigError(ValueError):
    """A setting has a bad value. ``setting`` names it (a :class:`bench.config.RunConfig` field
    or a sweep-spec field), so the command line can say which flag it came from."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class PluginError(Exception):
    """A plugin module (strategy, dataset, metric, figure) is broken; the message names its
    file and the problem in one line."""


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown(what: str, name: str, known: Iterable[str], setting: str | None = None) -> ConfigError:
    """``unknown <what> 'name' (did you mean ...?)`` as a :class:`ConfigError`."""
    known = list(known)
    return ConfigError(setting or what, f"unknown {what} {name!r}{did_you_mean(name, known)}")


def printable(text: str) -> str:
    """``text`` as one line of plain characters: a line break, another control character or a
    lone surrogate (an undecodable byte of a file name) becomes its escape, as ``repr`` writes it
    (a user's ``--out $'a\\nb'`` must not split an ``error:`` line in two)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def one_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name if it has none)."""
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__
