"""The README's and the docs' promises that code can check: the example strategy works as
written, the README stays a short front page that starts with the two commands, every relative
link points to a file that exists, no file points outside the repository, and CITATION.cff
carries its required keys."""

import importlib.util
import re
from pathlib import Path

import jax
import numpy as np
import pytest

from bench.config import resolve
from bench.registry import Strategy

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
MAX_README_LINES = 170
LINK = re.compile(r"\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")


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


def test_readme_is_a_short_front_page():
    n = len(README.read_text().splitlines())
    assert n <= MAX_README_LINES, f"README.md has {n} lines; keep it to {MAX_README_LINES}"


def test_readme_starts_with_make_bench_and_make_test():
    blocks = re.findall(r"```[^\n]*\n(.*?)```", README.read_text(), re.S)
    assert blocks, "README.md has no code block"
    commands = [line.split("#")[0].strip() for line in blocks[0].splitlines()]
    commands = [c for c in commands if c]
    assert commands[:2] == ["make bench", "make test"], commands


def _links(path: Path) -> list[str]:
    """Link targets of a Markdown file, code blocks and inline code left out."""
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return LINK.findall(text)


@pytest.mark.parametrize("path", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_point_to_existing_files(path):
    broken = []
    for target in _links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # http(s), mailto, ... and anchors within the page
        file = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (path.parent / file).resolve()
        if not resolved.exists():
            broken.append(target)
        elif not resolved.is_relative_to(ROOT):
            broken.append(f"{target} (outside the repository)")
    assert not broken, f"{path.relative_to(ROOT)}: broken links {broken}"


def test_link_parser_finds_links_and_images(tmp_path):
    page = tmp_path / "page.md"
    page.write_text('See [a](docs/a.md#x), ![f](fig.png "title") and [w](https://x.org).\n'
                    "```\n[not](a-link.md)\n```\n`[nor](this.md)`\n")
    assert _links(page) == ["docs/a.md#x", "fig.png", "https://x.org"]


OUTSIDE = "shared" + "/"  # built from two parts so this file does not contain it
SCANNED = ("bench", "strategies", "tests", "docs")
TEXT_SUFFIXES = {".py", ".md", ".sh", ".j2", ".toml", ".txt", ".cfg", ".json", ".yaml", ".yml"}


def _scanned_files() -> list[Path]:
    files = [README]
    for folder in SCANNED:
        for p in sorted((ROOT / folder).rglob("*")):
            if p.is_file() and p.suffix in TEXT_SUFFIXES and "__pycache__" not in p.parts:
                files.append(p)
    return files


def test_no_file_points_outside_the_repository():
    offenders = [p.relative_to(ROOT).as_posix() for p in _scanned_files()
                 if OUTSIDE in p.read_text(errors="replace")]
    assert not offenders, f"files that mention {OUTSIDE!r}: {offenders}"


def test_citation_cff_has_its_required_keys():
    text = (ROOT / "CITATION.cff").read_text()
    keys = dict(re.findall(r"^([A-Za-z][\w-]*):[ \t]*(.*?)\s*$", text, re.M))
    assert keys.get("cff-version") == "1.2.0"
    assert keys.get("title", "").strip("\"'") == "lstm-init-bench"
    for key in ("message", "version", "authors", "license", "date-released", "abstract"):
        assert key in keys, f"CITATION.cff lacks {key}:"
    pyproject = (ROOT / "pyproject.toml").read_text()
    version = re.search(r'^version\s*=\s*"([^"]+)"', pyproject, re.M).group(1)
    assert keys["version"].strip("\"'") == version, "CITATION.cff and pyproject.toml disagree"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
