"""Copies the outputs that scripts/readme_examples.sh and serve_examples.sh saved under out/readme/ into README.md
and the docs/ pages.

Each ```console block whose command (continuation lines joined, quotes dropped) is the first line of an
out/readme/*.txt file gets that file's output; blocks with no such file (edited commands, long-running examples)
are listed so they can be refreshed by hand. Usage: python scripts/readme_refresh.py [--dry-run]
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
# `eval generate`'s progress lines (stderr, one per few prompts off a terminal) are left out of the README
EVAL_PROGRESS = re.compile(r"^(generating|judging) \d+/\d+  elapsed \d+s  eta \d+s\n", re.M)


def command_key(command: str) -> str:
    """One spelling for a shell command, as `$*` prints it: no quotes, no line continuations, single spaces."""
    return " ".join(command.replace("\\\n", " ").replace('"', "").replace("'", "").split())


def saved_outputs(folder: Path) -> dict[str, tuple[str, str]]:
    """command key -> (file name, output without the trailing exit-status line)."""
    outputs = {}
    for path in sorted(folder.glob("*.txt")):
        first, _, rest = path.read_text().partition("\n")
        if first.startswith("$ "):
            output = re.sub(r"\[exit \d+\]\n?\Z", "", rest).rstrip("\n")  # curl's last line has no newline
            output = EVAL_PROGRESS.sub("", output)
            outputs[command_key(first[2:])] = (path.name, output + "\n" if output else "")
    return outputs


def split_block(body: str) -> tuple[str, str]:
    """The block's command (with its continuation lines) and the output shown under it."""
    lines = body.split("\n")
    end = 0
    while lines[end].endswith("\\"):
        end += 1
    return "\n".join(lines[:end + 1]), "\n".join(lines[end + 1:])


def refresh(readme: str, outputs: dict[str, tuple[str, str]]) -> tuple[str, list[str], list[str]]:
    updated, missing = [], []

    def replace(match: re.Match) -> str:
        command, _ = split_block(match.group(1))
        found = outputs.get(command_key(command.removeprefix("$ ")))
        if found is None:
            missing.append(command.split("\n")[0])
            return match.group(0)
        updated.append(found[0])
        return f"```console\n{command}\n{found[1]}```"

    return BLOCK.sub(replace, readme), updated, missing


def main() -> None:
    outputs = saved_outputs(ROOT / "out" / "readme")
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text, updated, missing = refresh(page.read_text(), outputs)
        if "--dry-run" not in sys.argv:
            page.write_text(text)
        if updated or missing:
            print(f"{page.relative_to(ROOT)}: refreshed {len(updated)} block(s): {', '.join(updated)}")
            print("  left as they are (refresh by hand):", *missing, sep="\n    ")


if __name__ == "__main__":
    main()
