"""Number formatting for tables, reports and logs: the one place that decides how a value reads.

Missing values (None, NaN, ``pd.NA``) format as an empty string unless a ``missing`` text is
given; infinities as ``inf``/``-inf``.
"""

from __future__ import annotations

import math
from typing import Any


def is_missing(v: Any) -> bool:
    """None, NaN or ``pd.NA``."""
    if v is None:
        return True
    try:
        return bool(v != v)  # NaN and pd.NA (whose != is NA, truthiness raises)
    except (TypeError, ValueError):
        return True


def num(v: Any, digits: int = 3, missing: str = "") -> str:
    """``digits`` significant digits."""
    if is_missing(v):
        return missing
    v = float(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.{digits}g}"


def lr(v: Any, missing: str = "none") -> str:
    """A learning rate as written on the grid (``0.003``, ``1e-04``)."""
    return missing if is_missing(v) else f"{float(v):g}"


def pct(v: Any, missing: str = "") -> str:
    """A fraction as a percentage with 3 significant digits (``0.125`` → ``12.5%``)."""
    return missing if is_missing(v) else f"{100 * float(v):.3g}%"


def count(v: Any, missing: str = "") -> str:
    """A whole number (``12``)."""
    return missing if is_missing(v) else str(int(v))


def with_iqr(median: Any, q25: Any, q75: Any, digits: int = 3) -> str:
    """``median [q25, q75]``; the median alone when a quartile is missing."""
    m = num(median, digits)
    if not m:
        return ""
    lo, hi = num(q25, digits), num(q75, digits)
    return f"{m} [{lo}, {hi}]" if lo and hi else m


def seconds(v: Any) -> str:
    """A duration (``42.0 s``, ``3.8 min``)."""
    if is_missing(v):
        return ""
    v = float(v)
    return f"{v:.1f} s" if v < 120 else f"{v / 60:.1f} min"
