"""Preference pairs (prompt, chosen, rejected): JSONL reading, validation and content keys."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import PairsError

MAX_REPORTED_ERRORS = 5


@dataclass(frozen=True)
class Pair:
    prompt: str
    chosen: str
    rejected: str
    messages: tuple = field(default=())  # earlier turns, as {"role", "content"} dicts
    system: str | None = None

    @property
    def key(self) -> str:
        """Content hash: identical pairs share rewards in the cache and are deduplicated."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:20]

    def to_dict(self) -> dict:
        data = asdict(self)
        data["messages"] = list(self.messages)
        if not data["messages"]:
            del data["messages"]
        if data["system"] is None:
            del data["system"]
        return data


@dataclass
class PairsFile:
    pairs: list[Pair]
    duplicate_lines: list[int]


def _check_message(message, where: str) -> dict:
    if not isinstance(message, dict) or message.get("role") not in ("user", "assistant", "system"):
        raise ValueError(f"{where} needs a role of user, assistant or system")
    if not isinstance(message.get("content"), str) or not message["content"].strip():
        raise ValueError(f"{where} needs non-empty text content")
    return {"role": message["role"], "content": message["content"]}


def parse_pair(record) -> Pair:
    """One JSON record to a Pair, or ValueError saying what is wrong with it."""
    if not isinstance(record, dict):
        raise ValueError("expected a JSON object with prompt, chosen and rejected")
    for name in ("prompt", "chosen", "rejected"):
        if name not in record:
            raise ValueError(f"missing field {name!r}")
        if not isinstance(record[name], str) or not record[name].strip():
            raise ValueError(f"field {name!r} must be non-empty text")
    if record["chosen"].strip() == record["rejected"].strip():
        raise ValueError("chosen and rejected are the same text")
    messages = record.get("messages") or []
    if not isinstance(messages, list):
        raise ValueError("field 'messages' must be a list of earlier turns")
    turns = tuple(_check_message(m, f"messages[{i}]") for i, m in enumerate(messages))
    system = record.get("system")
    if system is not None and (not isinstance(system, str) or not system.strip()):
        raise ValueError("field 'system' must be non-empty text when given")
    return Pair(record["prompt"], record["chosen"], record["rejected"], turns, system)


def read_pairs(path: str | Path) -> PairsFile:
    """Read a JSONL pairs file; every bad line is reported with its number, duplicates are skipped."""
    path = Path(path)
    if not path.is_file():
        raise PairsError(f"pairs file not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PairsError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and run again") from None
    return parse_pairs_text(text, str(path))


def parse_pairs_text(text: str, source: str) -> PairsFile:
    """JSONL text to pairs; `source` names it in errors (a path, or 'the uploaded pairs')."""
    pairs, errors, duplicates, seen = [], [], [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            pair = parse_pair(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"line {number}: not JSON ({exc.msg})")
            continue
        except ValueError as exc:
            errors.append(f"line {number}: {exc}")
            continue
        if pair.key in seen:
            duplicates.append(number)
            continue
        seen.add(pair.key)
        pairs.append(pair)
    if errors:
        shown = "; ".join(errors[:MAX_REPORTED_ERRORS])
        more = f"; and {len(errors) - MAX_REPORTED_ERRORS} more" if len(errors) > MAX_REPORTED_ERRORS else ""
        raise PairsError(f"{source}: {len(errors)} bad line(s): {shown}{more}; fix them and run again")
    if not pairs:
        raise PairsError(f"{source} has no pairs; write one JSON object per line with prompt, chosen, rejected")
    return PairsFile(pairs, duplicates)


def write_pairs_lines(pairs: list[Pair]) -> str:
    return "".join(json.dumps(p.to_dict(), ensure_ascii=False) + "\n" for p in pairs)
