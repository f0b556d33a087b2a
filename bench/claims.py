"""Chunk claims: several sweeps pointed at one results directory split the work.

Before a chunk is trained, its process takes an exclusive, non-blocking ``flock`` on
``<out>/claims/<chunk id>.claim`` and holds it until the chunk's records are stored. Another
process that finds the lock held skips the chunk and, once it has nothing else to do, waits for
the claim to go and plans again. The operating system drops the lock when its process ends, by
``kill -9`` too, so a crashed sweep's claims are free at once: there is no stale-claim timeout
to tune. On one machine this is exact; on a shared filesystem it relies on the filesystem's lock
support (NFSv4 and Lustre provide it; Linux maps ``flock`` to byte-range locks on NFS).

The chunk id is a hash of the chunk's run keys, so every process computes the same id for the
same chunk (the partition into chunks is fixed, see :func:`bench.sweep.plan`). The file holds
``host pid time`` of the holder for people reading the directory; the lock, not the text,
decides.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path


def chunk_id(keys: Iterable[str]) -> str:
    """The id of the chunk of these run keys (order does not matter)."""
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:20]


class Claims:
    """The claims of one results directory, as seen by this process."""

    def __init__(self, root: str | Path) -> None:
        self.dir = Path(root) / "claims"
        self._held: dict[str, int] = {}  # chunk id -> open, locked file descriptor
        self._lock = threading.Lock()
        self._closed = False  # after release_all: no new claims (a late worker thread's)

    def _path(self, cid: str) -> Path:
        return self.dir / f"{cid}.claim"

    def acquire(self, cid: str) -> bool:
        """Take the claim on chunk ``cid``; False if another process (or this one) holds it, or
        if :meth:`release_all` has been called."""
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self._path(cid)
        with self._lock:
            if cid in self._held or self._closed:
                return False
            while True:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    return False
                # the holder before us may have unlinked the file after we opened it: then our
                # lock is on a file nobody else will open, so start again on the current path
                try:
                    same = os.stat(path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} {os.getpid()} {time.time():.0f}\n".encode())
            self._held[cid] = fd
            return True

    def release(self, cid: str) -> None:
        """Give up the claim on ``cid`` (no-op if this process does not hold it). The file is
        removed while still locked, so nobody can lock the old file after this."""
        with self._lock:
            fd = self._held.pop(cid, None)
            if fd is None:
                return
            self._path(cid).unlink(missing_ok=True)
            os.close(fd)

    def held_elsewhere(self, cid: str) -> bool:
        """True when another process holds the claim on ``cid`` now."""
        with self._lock:
            if cid in self._held:
                return False
        path = self._path(cid)
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops our probe lock
        return False

    def release_all(self) -> None:
        """Give up every claim this process holds, and take no new one after this.

        A sweep that ends on an error (a full disk while storing) returns while a worker thread
        may still be between jobs; a claim that thread took afterwards would stay locked for as
        long as the process lives, and a later sweep on the same directory in the same process
        would wait for it forever."""
        with self._lock:
            self._closed = True
        for cid in list(self._held):
            self.release(cid)
