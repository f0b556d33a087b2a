"""A fake installed distribution for plugin tests: modules in a folder plus an
``xyz-0.1.dist-info`` whose ``entry_points.txt`` registers them, found by
``importlib.metadata`` once the folder is on ``PYTHONPATH`` (used in a subprocess, so the test
process's registries stay clean)."""

from __future__ import annotations

import textwrap
from pathlib import Path


def install(tmp: Path, modules: dict[str, str], entry_points: str) -> Path:
    """Write ``modules`` (stem -> source) and the distribution declaring ``entry_points`` (the
    text of ``entry_points.txt``) into ``tmp/site``; return that folder."""
    site = tmp / "site"
    dist = site / "xyz-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: xyz\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    for name, code in modules.items():
        (site / f"{name}.py").write_text(code)
    return site
