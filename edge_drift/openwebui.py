"""Open WebUI's ratings as preference pairs: its feedback export, read into pairs per edge-drift user.

A rating sits on one assistant message; the answers beside it (other models shown side by side, an Arena
match, regenerated siblings) are its siblings under the same user message in the chat snapshot that Open
WebUI stores with every rating. Thumbs up on A with sibling B is the pair (A over B); thumbs down is (B over
A). A rated answer with no sibling has nothing to be compared with and is skipped, never turned into an
invented pair. The edge-drift user is the Open WebUI user id, which is what `edge-drift serve` sees in
`X-OpenWebUI-User-Id` when Open WebUI forwards user headers.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EdgeDriftError, ProfileError
from .pairs import Pair, parse_pair
from .profile import check_user_name

SOURCE = "openwebui"
MODEL_PREFIX = "edge-drift"  # the server's model names: edge-drift, edge-drift-plain, edge-drift-<strategy>
EXPORT_PATH = "/api/v1/evaluations/feedbacks/all/export"  # the admin export: a JSON list of feedback rows


@dataclass
class FeedbackPairs:
    """What one export teaches: per user, (feedback id, pair) in export order; and what was skipped, why."""

    pairs: dict[str, list[tuple[str, Pair]]] = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)
    n_feedback: int = 0

    def add(self, user: str, feedback_id: str, pair: Pair) -> None:
        self.pairs.setdefault(user, []).append((feedback_id, pair))

    def summary(self) -> str:
        """One line: how many ratings became pairs, and every reason something was skipped."""
        n_pairs = sum(len(p) for p in self.pairs.values())
        line = f"{self.n_feedback} rating(s) read: {n_pairs} new pair(s) for {len(self.pairs)} user(s)"
        if self.skipped:
            line += "; skipped " + ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
        return line


class Skip(Exception):
    """This rating teaches nothing; the message says why (it is counted, not raised to the user)."""


def load_export(path: Path) -> list:
    """The export file's rows, or a one-line error when the file is not an Open WebUI feedback export."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise EdgeDriftError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgeDriftError(f"{path} is not JSON ({exc}); export it from Open WebUI's Admin Panel > "
                             "Settings > Evaluations > Export, or pass --url") from None
    return check_export(data, str(path))


def check_export(data, where: str) -> list:
    if isinstance(data, dict) and isinstance(data.get("items"), list):  # a user's own list, not the admin export
        data = data["items"]
    if not isinstance(data, list) or not all(isinstance(row, dict) for row in data) or \
            (data and not any("data" in row and "user_id" in row for row in data)):
        raise EdgeDriftError(f"{where} is not an Open WebUI feedback export (a JSON list of feedback objects with "
                             "user_id and data); export it from Admin Panel > Settings > Evaluations")
    return data


def read_feedback(rows: list) -> FeedbackPairs:
    """Every rating of the export turned into pairs, or counted under the reason it was skipped."""
    found = FeedbackPairs(n_feedback=len(rows))
    for row in rows:
        try:
            user, feedback_id, pairs = feedback_pairs(row)
        except Skip as why:
            found.skipped[str(why)] += 1
            continue
        except (AttributeError, TypeError):  # a field of another shape deep in the snapshot (another version)
            found.skipped["with a chat snapshot of another shape"] += 1
            continue
        for pair in pairs:
            found.add(user, feedback_id, pair)
    return found


def feedback_pairs(row: dict) -> tuple[str, str, list[Pair]]:
    """(edge-drift user, feedback id, pairs) of one feedback row; Skip says why it has none."""
    if row.get("type", "rating") != "rating":
        raise Skip("not a rating")
    feedback_id, user = row.get("id"), row.get("user_id")
    if not isinstance(feedback_id, str) or not isinstance(user, str):
        raise Skip("without an id or user")
    try:
        user = check_user_name(user)
    except ProfileError:
        raise Skip("with a user id edge-drift cannot use as a name") from None
    data, meta = row.get("data") or {}, row.get("meta") or {}
    rating = rating_of(data.get("rating") if isinstance(data, dict) else None)
    if rating is None:
        raise Skip("without a thumbs up or down")
    messages = snapshot_messages(row)
    rated = messages.get(meta.get("message_id")) if isinstance(meta, dict) else None
    if not is_answer(rated):
        raise Skip("whose rated answer is not in its chat snapshot")
    parent = messages.get(rated.get("parentId"))
    if not isinstance(parent, dict) or parent.get("role") != "user" or not text(parent):
        raise Skip("whose prompt is not in its chat snapshot")
    siblings = [messages.get(i) for i in parent.get("childrenIds") or [] if i != rated.get("id")]
    siblings = [s for s in siblings if is_answer(s) and text(s) and text(s).strip() != text(rated).strip()]
    if not siblings:
        raise Skip("single answers without a second one to compare")
    if not served_here(rated) or not all(served_here(s) for s in siblings):
        raise Skip("comparing a model edge-drift does not serve")
    history = earlier_turns(messages, parent)
    pairs = []
    for sibling in siblings:
        if rating_of((sibling.get("annotation") or {}).get("rating")) == rating:
            continue  # both rated alike: a tie teaches no direction
        chosen, rejected = (rated, sibling) if rating > 0 else (sibling, rated)
        try:
            pairs.append(parse_pair({"prompt": text(parent), "chosen": text(chosen), "rejected": text(rejected),
                                     "messages": history}))
        except ValueError:
            continue
    if not pairs:
        raise Skip("rated alike on every answer (ties)")
    return user, feedback_id, pairs


def rating_of(value) -> int | None:
    """+1 or -1 from Open WebUI's rating (stored as an int or a string); anything else is no rating."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number in (1, -1) else None


def snapshot_messages(row: dict) -> dict:
    """The chat's message tree (id -> message) from the snapshot Open WebUI keeps with the rating."""
    snapshot = row.get("snapshot")
    chat = snapshot.get("chat") if isinstance(snapshot, dict) else None
    inner = chat.get("chat") if isinstance(chat, dict) else None
    history = inner.get("history") if isinstance(inner, dict) else None
    messages = history.get("messages") if isinstance(history, dict) else None
    if not isinstance(messages, dict):
        raise Skip("without a readable chat snapshot")
    return messages


def is_answer(message) -> bool:
    return isinstance(message, dict) and message.get("role") == "assistant" and bool(text(message))


def text(message: dict) -> str:
    content = message.get("content")
    return content if isinstance(content, str) else ""


def served_here(message: dict) -> bool:
    model = message.get("selectedModelId") or message.get("model") or ""
    return isinstance(model, str) and (model == MODEL_PREFIX or model.startswith(MODEL_PREFIX + "-"))


def earlier_turns(messages: dict, prompt: dict, limit: int = 64) -> list[dict]:
    """The conversation before the prompt, oldest first (the path up the tree, not the other branches)."""
    turns, current = [], messages.get(prompt.get("parentId"))
    while isinstance(current, dict) and len(turns) < limit:
        if current.get("role") in ("user", "assistant") and text(current).strip():
            turns.append({"role": current["role"], "content": text(current)})
        current = messages.get(current.get("parentId"))
    return turns[::-1]


def fetch_export(url: str, api_key: str, timeout: float = 60) -> list:
    """The admin export over HTTP (an admin's API key from Open WebUI's Settings > Account)."""
    import httpx

    address = url.rstrip("/") + EXPORT_PATH
    try:
        response = httpx.get(address, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise EdgeDriftError(f"cannot reach Open WebUI at {url}: {exc}; is it running?") from None
    if response.status_code in (401, 403):
        raise EdgeDriftError(f"Open WebUI refused the key ({response.status_code}); the export needs an admin's "
                             "API key (Settings > Account > API keys)")
    if response.status_code != 200:
        raise EdgeDriftError(f"{address} answered {response.status_code}; is {url} Open WebUI?")
    try:
        return check_export(response.json(), address)
    except ValueError:
        raise EdgeDriftError(f"{address} did not answer JSON; is {url} Open WebUI?") from None
