"""`edge-drift import`: learn from the votes people cast in other apps (Open WebUI's thumbs and comparisons)."""
from __future__ import annotations

import click

from ..errors import EdgeDriftError
from .common import MODEL_HELP, FriendlyGroup, profiles_dir_option


@click.group("import", cls=FriendlyGroup)
def importing() -> None:
    """Learn from ratings cast in other apps."""


@importing.command("openwebui")
@click.argument("export", required=False, type=click.Path(dir_okay=False))
@click.option("--url", default=None, metavar="URL",
              help="Pull the export from a running Open WebUI instead of a file (e.g. http://127.0.0.1:8080).")
@click.option("--api-key", envvar="OPENWEBUI_API_KEY", default=None,
              help="An Open WebUI admin's API key, for --url [env: OPENWEBUI_API_KEY].")
@click.option("--dry-run", is_flag=True, help="Say what would be learned, per user; change nothing.")
@click.option("--model", default="default", show_default=True, help="The sLM that scores the pairs. " + MODEL_HELP)
@profiles_dir_option
def import_openwebui(export, url, api_key, dry_run, model, profiles_dir):
    """Turn Open WebUI ratings into pairs and refit each rater's profile.

    EXPORT is Open WebUI's feedback export (Admin Panel > Settings > Evaluations > Export). A rated answer
    shown beside another (several models side by side, Arena, a regenerated answer) becomes a pair for the
    Open WebUI user who rated it; edge-drift serve steers that user's chats by the same id when Open WebUI
    forwards user headers. Ratings already imported are skipped, so importing again adds only new ones.
    """
    from contextlib import ExitStack
    from pathlib import Path

    from ..assistant import Assistant
    from ..openwebui import SOURCE, fetch_export, load_export, read_feedback
    from ..store import ProfileStore
    from .profiles import fit_and_report

    if (export is None) == (url is None):
        raise EdgeDriftError("give the export file, or --url URL --api-key KEY to pull it from Open WebUI")
    if url and not api_key:
        raise EdgeDriftError("--url needs --api-key (an Open WebUI admin's key, Settings > Account > API keys)")
    rows = fetch_export(url, api_key) if url else load_export(Path(export))
    found = read_feedback(rows)
    store = ProfileStore(profiles_dir)
    for user, items in list(found.pairs.items()):
        known = store.imported(user, SOURCE)
        found.skipped["already imported"] += len({i for i, _ in items if i in known})
        found.pairs[user] = [(i, pair) for i, pair in items if i not in known]
        if not found.pairs[user]:
            del found.pairs[user]
    if not found.skipped["already imported"]:
        del found.skipped["already imported"]
    click.echo(found.summary())
    new = found.pairs
    if not new:
        click.echo("nothing new to learn")
        return
    for user, items in new.items():
        click.echo(f"{user}: {len(items)} new pair(s) from {len({i for i, _ in items})} rating(s)"
                   + (" (dry run: nothing written)" if dry_run else ""))
    if dry_run:
        return
    with ExitStack() as stack, Assistant(model, profiles_dir=profiles_dir) as assistant:
        for user, items in new.items():
            click.echo(f"{user}:")
            incremental = store.exists(user)
            options = {"solver": store.load(user).solver} if incremental else {}
            fit_and_report(assistant, user, [pair for _, pair in items], incremental, stack, **options)
            store.remember_imported(user, SOURCE, {i for i, _ in items})  # only once the fit is saved
