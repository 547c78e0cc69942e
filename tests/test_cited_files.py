"""Every repository file that a test, the README, docs/, the benchmarks, the
examples, CI or minigrad's own comments cite by path exists (issue 10.15: tests
cited files that were never written)."""
import glob
import os
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CITED = re.compile(r"(?<![\w/.])((?:tests|examples|docs|minigrad|benchmarks)/[\w./-]*\w\.(?:py|md|txt|json|png))")
SOURCES = sorted(glob.glob(os.path.join(ROOT, "tests", "**", "*.py"), recursive=True) +
                 glob.glob(os.path.join(ROOT, "minigrad", "**", "*.py"), recursive=True) +
                 glob.glob(os.path.join(ROOT, "benchmarks", "*.py")) +
                 glob.glob(os.path.join(ROOT, "examples", "*.py")) +
                 glob.glob(os.path.join(ROOT, "docs", "*.md")) +
                 [os.path.join(ROOT, p) for p in ("README.md", "benchmarks/README.md", ".ci/run")])


def cited(path):
    with open(path, encoding="utf-8") as f:
        return sorted(set(CITED.findall(f.read())))


def test_the_pattern_finds_citations():
    assert "tests/test_resume.py" in cited(os.path.join(ROOT, "docs", "reliability.md"))


@pytest.mark.parametrize("source", SOURCES, ids=[os.path.relpath(s, ROOT) for s in SOURCES])
def test_cited_files_exist(source):
    missing = [p for p in cited(source) if not os.path.exists(os.path.join(ROOT, p))]
    assert not missing, f"{os.path.relpath(source, ROOT)} cites missing files: {missing}"
