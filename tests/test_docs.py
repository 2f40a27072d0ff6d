"""The docs agree with the code: the CLI reference is every command's real --help, and every local link resolves."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "research").rglob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


def cli_reference():
    spec = importlib.util.spec_from_file_location("cli_reference", ROOT / "scripts" / "cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_cli_reference_is_every_commands_current_help():
    reference = cli_reference()
    page = reference.PAGE.read_text()
    assert page == reference.updated(page), "docs/cli.md and --help disagree: run python scripts/cli_reference.py"
    for path in reference.commands(reference.main):  # and each command has its block, options included
        assert f"### `{' '.join(('edge-drift', *path))}`" in page


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_local_link_resolves(page):
    for target, _ in LINK.findall(page.read_text()):
        if "://" in target or target.startswith("mailto:"):
            continue
        assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def test_the_readme_is_a_front_page():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 220, "README.md is the front page; detail belongs in docs/"
    assert lines[4:8] and "make demo" in "\n".join(lines[:20]) and "make test" in "\n".join(lines[:20])
