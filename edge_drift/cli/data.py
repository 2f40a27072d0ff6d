"""`edge-drift data`: where a person's data lives and how big it is."""
from __future__ import annotations

import click

from .common import echo_json, profiles_dir_option


def human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


@click.command()
@profiles_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def data(profiles_dir, as_json):
    """Show where profiles, pairs, caches and pulled models are, and how big each is."""
    from ..paths import data_report

    report = data_report(profiles_dir)
    if as_json:
        echo_json(report)
        return
    click.echo(f"data folder: {report['data_dir']}  (move it with EDGE_DRIFT_HOME)")
    for part in report["parts"]:
        moved = f"  (set by {part['set_by']})" if part["set_by"] else ""
        click.echo(f"  {part['part']:<9} {part['path']}  {human(part['bytes'])} in {part['files']} file(s){moved}")
    for user in report["users"]:
        click.echo(f"    {user['user']:<20} {human(user['bytes']):>9}  {user['files']} file(s)  "
                   f"(`edge-drift profile export {user['user']}`, `edge-drift profile rm {user['user']}`)")
