"""Votes on answers: the server remembers its recent answers so a client can vote by completion id."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from ..pairs import Pair, parse_pair
from .wire import bad

REMEMBERED_COMPLETIONS = 1024  # so a client can vote by completion id without re-sending the text
WINNERS = ("a", "b", "tie", "both_bad")


@dataclass
class Completion:
    """An answer the server gave, kept (bounded, in memory) so it can be voted on by id."""

    user: str | None
    history: tuple
    prompt: str
    system: str | None
    text: str
    strategy: str


class Completions(OrderedDict):
    def remember(self, completion_id: str, completion: Completion) -> None:
        self[completion_id] = completion
        while len(self) > REMEMBERED_COMPLETIONS:
            self.popitem(last=False)


def vote_pair(body: dict, user: str, completions: Completions) -> tuple[Pair | None, str]:
    """A full pair (prompt/chosen/rejected) or two remembered completion ids and a winner."""
    if "chosen" in body or "rejected" in body or "prompt" in body:
        try:
            return parse_pair({k: body[k] for k in ("prompt", "chosen", "rejected", "messages", "system")
                               if k in body}), "chosen"
        except ValueError as exc:
            raise bad(f"invalid pair: {exc}") from None
    winner = body.get("winner")
    if winner not in WINNERS:
        raise bad(f"winner must be one of {', '.join(WINNERS)} (or send prompt, chosen and rejected)", "winner")
    found = []
    for side in ("a", "b"):
        completion = completions.get(body.get(side)) if isinstance(body.get(side), str) else None
        if completion is None:
            raise bad(f"{side} is not a recent completion id of this server; send the pair's text instead", side)
        if completion.user != user:
            raise bad(f"completion {side} was answered for another user", side)
        found.append(completion)
    a, b = found
    if (a.prompt, a.history, a.system) != (b.prompt, b.history, b.system):
        raise bad("a and b answer different conversations; vote on two answers to the same prompt", "b")
    if winner in ("tie", "both_bad"):
        return None, winner
    chosen, rejected = (a, b) if winner == "a" else (b, a)
    if chosen.text.strip() == rejected.text.strip():
        return None, "tie"  # identical texts carry no preference
    return Pair(a.prompt, chosen.text, rejected.text, a.history, a.system), winner
