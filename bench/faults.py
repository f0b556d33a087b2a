"""Fault injection, so that the store's guarantees are tested at exact points, not by a timed kill.

``BENCH_FAULT`` holds comma-separated faults ``ACTION:POINT:K``. The process counts how often it
reaches each point and acts on the K-th time (K ≥ 1):

=================  ==========================================================================
``POINT``          reached
=================  ==========================================================================
``after-record``   a run's record was renamed into place (it is whole and visible)
``before-rename``  a run's record is written, flushed and synced to its temporary file, which
                   is not renamed yet
``record-write``   a run's record is about to be written to its temporary file
``mid-chunk``      a chunk has trained its first validation interval (its claim is held and
                   none of its records is written)
=================  ==========================================================================

``ACTION`` is ``kill`` (the process sends itself SIGKILL: nothing is flushed, no handler runs,
like a power cut or the OOM killer) or ``enospc`` (the write raises ``OSError(ENOSPC)``, as a
full disk does; only at ``record-write``). Example: ``BENCH_FAULT=kill:after-record:3``.

Unset or empty, every check is a dictionary lookup and nothing happens. A misspelled fault is an
error at the first check, never ignored.
"""

from __future__ import annotations

import errno
import os
import signal
import threading

from bench.errors import UserError

POINTS = ("after-record", "before-rename", "record-write", "mid-chunk")
ACTIONS = ("kill", "enospc")

_lock = threading.Lock()
_counts: dict[str, int] = {}
_parsed: tuple[str, dict[str, list[tuple[str, int]]]] | None = None


def parse(text: str) -> dict[str, list[tuple[str, int]]]:
    """``BENCH_FAULT``'s text as {point: [(action, K), ...]}; :class:`UserError` naming the bad
    part otherwise."""
    faults: dict[str, list[tuple[str, int]]] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        bits = part.split(":")
        if len(bits) != 3:
            raise UserError(f"BENCH_FAULT {part!r}: expected ACTION:POINT:K")
        action, point, k = bits
        if action not in ACTIONS:
            raise UserError(f"BENCH_FAULT {part!r}: unknown action {action!r} (one of "
                            f"{', '.join(ACTIONS)})")
        if point not in POINTS:
            raise UserError(f"BENCH_FAULT {part!r}: unknown point {point!r} (one of "
                            f"{', '.join(POINTS)})")
        if action == "enospc" and point != "record-write":
            raise UserError(f"BENCH_FAULT {part!r}: enospc applies to record-write only")
        if not k.isdigit() or int(k) < 1:
            raise UserError(f"BENCH_FAULT {part!r}: K must be an integer >= 1, got {k!r}")
        faults.setdefault(point, []).append((action, int(k)))
    return faults


def _faults() -> dict[str, list[tuple[str, int]]]:
    global _parsed
    text = os.environ.get("BENCH_FAULT", "")
    if _parsed is None or _parsed[0] != text:
        _parsed = (text, parse(text))
        _counts.clear()
    return _parsed[1]


def check(point: str, path: object = None) -> None:
    """Count one arrival at ``point`` and carry out a fault due now (see the module docstring).
    ``path`` names the file in an injected ``OSError``."""
    faults = _faults()
    if point not in faults:
        return
    with _lock:
        _counts[point] = n = _counts.get(point, 0) + 1
    for action, k in faults[point]:
        if n != k:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), None if path is None else str(path))
