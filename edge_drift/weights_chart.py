"""A terminal bar chart of a profile's attribute weights."""
from __future__ import annotations


def weight_bars(fitted, width: int = 20) -> list[str]:
    """A terminal bar chart: negative weights grow left, positive right; * marks selected ones."""
    scale = max((abs(a.weight) for a in fitted.attributes), default=1.0) or 1.0
    lines = []
    for a in sorted(fitted.attributes, key=lambda a: -a.weight):
        n = round(abs(a.weight) / scale * width)
        left = ("#" * n).rjust(width) if a.weight < 0 else " " * width
        right = ("#" * n).ljust(width) if a.weight > 0 else " " * width
        lines.append(f"{'*' if a.selected else ' '} {a.name:<16} {left}|{right} {a.weight:+.3f}")
    return lines
