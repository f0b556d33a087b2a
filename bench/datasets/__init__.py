"""Built-in datasets: one module per synthetic process, found by :mod:`bench.data`.

Files starting with ``_`` are skipped. The interface a module implements is described in
:mod:`bench.data` and ``docs/datasets.md``.
"""
