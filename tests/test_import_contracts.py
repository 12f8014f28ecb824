"""`make lint` runs import-linter on the layer contracts in pyproject.toml. This checks that the
contracts really bite: on a copy of the tree, one upward import or one circle fails the check,
and the tree as it is passes."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "tenants", "llm", "billing", "gateway", "console", "config")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture
def tree_copy(tmp_path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package,
            tmp_path / package,
            ignore=shutil.ignore_patterns("__pycache__", "*.json", "*.md", "static", "templates"),
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _lint(tree: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True, check=False
    )


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n{line}\n")


def test_the_tree_keeps_every_contract(tree_copy):
    result = _lint(tree_copy)
    assert result.returncode == 0, result.stdout


def test_an_upward_import_fails_the_layers_contract(tree_copy):
    _append(tree_copy / "core" / "money.py", "import gateway.services.snapshots  # noqa")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "core.money -> gateway.services.snapshots" in result.stdout


def test_a_circle_between_siblings_fails(tree_copy):
    _append(
        tree_copy / "billing" / "models" / "usage.py", "import billing.selectors.budgets  # noqa"
    )
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "No cycles are allowed in billing" in result.stdout


def test_an_adapter_that_imports_django_fails(tree_copy):
    _append(tree_copy / "llm" / "providers" / "gemini.py", "import django.conf  # noqa")
    result = _lint(tree_copy)
    assert result.returncode != 0
    assert "llm.providers.gemini is not allowed to import django" in result.stdout
