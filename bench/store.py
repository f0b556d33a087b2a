"""Result store: one JSON record per run (:class:`bench.record.RunRecord`), keyed by the hash of
its resolved config.

``results/NAME/runs/<key>.json`` is written atomically (temporary file, fsync, rename), so a
kill -9 leaves either the whole record or none; a rerun skips keys that hold a valid record.
Temporary files are named after their writer's host and process id: a store removes the ones
whose writer has died and leaves those of a live concurrent sweep alone. A
record that does not parse or does not fit the schema is reported, moved aside and recomputed.
``results/NAME/runs.parquet`` is the table of every run (``pandas.read_parquet``). All JSON is
strict (``null``, never ``NaN``).
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd

from bench import faults
from bench.record import RunRecord, dumps

HOST = socket.gethostname().replace(".", "-")
FOREIGN_TMP_S = 24 * 3600  # another host's temporary file this old belongs to a dead writer


def write_atomic(path: Path, data: bytes, record: bool = False) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.
    ``record``: a run's record, where :mod:`bench.faults` may act (``record-write``,
    ``before-rename``, ``after-record``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if record:
        faults.check("record-write", path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{HOST}.{os.getpid()}.",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        if record:
            faults.check("before-rename", path)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if record:
        faults.check("after-record", path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def abandoned(tmp: Path, now: float | None = None) -> bool:
    """True when the temporary file ``tmp`` (``.NAME.HOST.PID.XXXX.tmp``) belongs to a writer
    that has died: this host and its process is gone, or another host and it is older than
    :data:`FOREIGN_TMP_S`. A name without host and pid (an older version's) is abandoned."""
    parts = tmp.name[: -len(".tmp")].rsplit(".", 3)
    if len(parts) != 4 or not parts[2].isdigit():
        return True
    host, pid = parts[1], int(parts[2])
    if host == HOST:
        return not _alive(pid)
    try:
        age = (time.time() if now is None else now) - tmp.stat().st_mtime
    except FileNotFoundError:
        return False
    return age > FOREIGN_TMP_S


def write_json(path: Path, obj: Any) -> bytes:
    """Atomic, pretty, strict JSON (non-finite numbers as ``null``); returns the bytes."""
    data = dumps(obj)
    write_atomic(path, data)
    return data


class Store:
    """The records of one results directory."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"{self.root}: exists and is not a directory")
        self.runs = self.root / "runs"
        self.corrupt: list[str] = []
        # records this process has read or written, as read back from JSON: a sweep rewrites
        # runs.parquet while it runs without parsing every record file again. A key's
        # record is a function of the key, so another writer cannot make an entry stale.
        self._cache: dict[str, RunRecord] = {}
        # temporary files of writes interrupted by a kill; the records they were for are redone
        for folder in (self.runs, self.root):
            for stale in folder.glob(".*.tmp") if folder.is_dir() else ():
                if abandoned(stale):
                    stale.unlink(missing_ok=True)

    def _path(self, key: str) -> Path:
        return self.runs / f"{key}.json"

    def load(self, key: str, quarantine: bool = True) -> RunRecord | None:
        """The valid record for ``key``, or None (missing or corrupt). A corrupt record is
        remembered in ``self.corrupt`` and, with ``quarantine``, moved aside (``.corrupt``)."""
        path = self._path(key)
        if not path.exists():
            return None
        if key in self._cache:
            return self._cache[key]
        try:
            record = RunRecord.from_json(json.loads(path.read_text()))
            if record.key != key:
                raise ValueError("wrong key")
            self._cache[key] = record
            return record
        except (ValueError, OSError) as e:
            self.corrupt.append(f"{path}: {e}")
            if quarantine:
                path.replace(path.with_suffix(".corrupt"))
            return None

    def has(self, key: str) -> bool:
        """True when a valid record exists."""
        return self.load(key) is not None

    def write(self, record: RunRecord) -> None:
        """Store one finished run."""
        data = dumps(record.to_json())
        write_atomic(self._path(record.key), data, record=True)
        self._cache[record.key] = RunRecord.from_json(json.loads(data))

    def records(self, quarantine: bool = False) -> list[RunRecord]:
        """Every valid record (read-only unless ``quarantine``)."""
        if not self.runs.is_dir():
            return []
        out = [self.load(p.stem, quarantine) for p in sorted(self.runs.glob("*.json"))]
        return [r for r in out if r is not None]

    def table(self) -> pd.DataFrame:
        """One row per run; nested lists stay as list cells; config fields are prefixed."""
        df = pd.DataFrame([r.row() for r in self.records()])
        if not df.empty:
            df = df.sort_values(["dataset", "strategy", "lr", "seed"]).reset_index(drop=True)
        return df

    def write_table(self) -> Path:
        """Write ``runs.parquet`` atomically; return its path."""
        import io

        path = self.root / "runs.parquet"
        buf = io.BytesIO()
        # zstd: the per-run curves and traces compress a third smaller than with snappy
        self.table().to_parquet(buf, index=False, compression="zstd", compression_level=9)
        write_atomic(path, buf.getvalue())
        return path
