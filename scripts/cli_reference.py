"""Writes every command's `--help` into docs/cli.md (between the two marker lines), as click prints it.

Usage: python scripts/cli_reference.py [--check]   (--check: exit 1 if docs/cli.md differs; tests/test_docs.py does it)
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from click.testing import CliRunner

from edge_drift.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "cli.md"
BEGIN = "<!-- every --help: written by scripts/cli_reference.py -->"
END = "<!-- end of every --help -->"


def commands(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path, the group itself first, depth first in the order `--help` lists them."""
    found = [path]
    for name in group.list_commands(click.Context(group)):
        command = group.get_command(click.Context(group), name)
        found += commands(command, path + (name,)) if isinstance(command, click.Group) else [path + (name,)]
    return found


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="edge-drift", terminal_width=100)
    assert result.exit_code == 0, result.output
    return result.output


def reference() -> str:
    parts = [BEGIN]
    for path in commands(main):
        parts += [f"### `{' '.join(('edge-drift', *path))}`", "", "```", help_text(path).rstrip(), "```", ""]
    return "\n".join(parts) + END


def updated(page: str) -> str:
    head, _, rest = page.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + reference() + tail


def main_() -> None:
    page = PAGE.read_text()
    new = updated(page)
    if "--check" in sys.argv:
        sys.exit(0 if new == page else f"{PAGE} is out of date: run python scripts/cli_reference.py")
    PAGE.write_text(new)
    print(f"wrote {len(commands(main))} --help blocks into {PAGE}")


if __name__ == "__main__":
    main_()
