"""Pairs files: every invalid line is reported with its number; duplicates are skipped."""
from __future__ import annotations

import json

import pytest

from edge_drift.errors import PairsError
from edge_drift.pairs import read_pairs

GOOD = {"prompt": "Q?", "chosen": "Short.", "rejected": "A long, winding answer."}


def write(tmp_path, lines) -> str:
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n")
    return str(path)


@pytest.mark.parametrize("bad, message", [
    ({"prompt": "Q?", "chosen": "A"}, "line 2: missing field 'rejected'"),
    ({**GOOD, "chosen": "   "}, "line 2: field 'chosen' must be non-empty text"),
    ({**GOOD, "rejected": "Short."}, "line 2: chosen and rejected are the same text"),
    ("{not json", "line 2: not JSON"),
    ("[1, 2]", "line 2: expected a JSON object"),
    ({**GOOD, "messages": [{"role": "robot", "content": "x"}]}, "line 2: messages[0] needs a role"),
    ({**GOOD, "system": ""}, "line 2: field 'system' must be non-empty text"),
])
def test_each_invalid_line_is_named(tmp_path, bad, message):
    with pytest.raises(PairsError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_pairs(write(tmp_path, [GOOD, bad]))


def test_all_bad_lines_are_listed_in_one_line(tmp_path):
    with pytest.raises(PairsError) as info:
        read_pairs(write(tmp_path, ["{", GOOD, {"prompt": "x"}, "nope"]))
    text = str(info.value)
    assert "3 bad line(s)" in text and "line 1" in text and "line 3" in text and "line 4" in text
    assert "\n" not in text


def test_duplicates_are_reported_and_skipped(tmp_path):
    other = {**GOOD, "prompt": "Another?"}
    parsed = read_pairs(write(tmp_path, [GOOD, other, GOOD, "", GOOD]))
    assert len(parsed.pairs) == 2
    assert parsed.duplicate_lines == [3, 5]


def test_optional_fields_are_kept(tmp_path):
    record = {**GOOD, "system": "Be kind.", "messages": [{"role": "user", "content": "Hi"},
                                                         {"role": "assistant", "content": "Hello"}]}
    pair = read_pairs(write(tmp_path, [record])).pairs[0]
    assert pair.system == "Be kind." and pair.messages[1]["content"] == "Hello"
    assert pair.key != read_pairs(write(tmp_path, [GOOD])).pairs[0].key


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(PairsError, match="pairs file not found"):
        read_pairs(tmp_path / "none.jsonl")
    with pytest.raises(PairsError, match="has no pairs"):
        read_pairs(write(tmp_path, [""]))
