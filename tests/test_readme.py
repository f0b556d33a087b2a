"""The README's promises that code can check: its example strategy works as written."""

import importlib.util
import re
from pathlib import Path

import jax
import numpy as np

from bench.config import resolve
from bench.registry import Strategy

README = Path(__file__).resolve().parent.parent / "README.md"


def _example_strategy(tmp_path):
    text = README.read_text()
    m = re.search(r"Save this as\s+`strategies/(\w+)\.py`:\s*```python\n(.*?)```", text, re.S)
    assert m, "README lost its example strategy"
    stem, code = m.group(1), m.group(2)
    assert len(code.strip().splitlines()) < 30, "the example must stay under 30 lines"
    path = tmp_path / f"{stem}.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location(f"readme_{stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return Strategy(stem.replace("_", "-"), module)


def test_readme_example_strategy_builds_what_its_docstring_says(tmp_path):
    s = _example_strategy(tmp_path)
    cfg = resolve("quick", hidden=(256, 128))
    params = s.init_params(jax.random.PRNGKey(0), cfg, None)  # validates names and shapes
    assert s.summary.endswith(".") and "arXiv" in s.citation
    first = params[0]
    assert not any(k.startswith("W_cell") for k in first)  # no peepholes
    np.testing.assert_array_equal(first["b_forgetgate"], 2.0)
    w = np.asarray(first["W_in_to_cell"])  # He normal: variance 2 / fan_in (fan_in = 7)
    assert abs(w.var() / (2 / 7) - 1) < 5 * np.sqrt(2 / w.size)
    q = np.asarray(first["W_hid_to_ingate"])
    np.testing.assert_allclose(q @ q.T, np.eye(256), atol=1e-5)
