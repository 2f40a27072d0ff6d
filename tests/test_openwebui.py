"""Open WebUI ratings become pairs: a hand-written export in Open WebUI 0.12's schema, damaged rows included."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from edge_drift.cli import main
from edge_drift.openwebui import SOURCE, check_export, read_feedback
from edge_drift.store import ProfileStore

EXPORT = Path(__file__).resolve().parent / "data" / "openwebui_export.json"
TIM = "7f3c2a10-5b1e-4c2d-9a8e-1d2c3b4a5f60"  # Open WebUI user ids, as forwarded in X-OpenWebUI-User-Id
WENDY = "c0ffee00-1234-4abc-8def-0123456789ab"


def rows() -> list:
    return json.loads(EXPORT.read_text())


def test_rated_answers_beside_another_become_pairs_under_the_raters_id():
    found = read_feedback(rows())
    (side, side_pair), (newer, newer_pair) = found.pairs[TIM]
    assert side == "fb-side" and side_pair.prompt == "How do I keep my houseplants alive?"
    assert side_pair.chosen.startswith("Water weekly") and side_pair.rejected.startswith("The art of indoor")
    assert newer == "fb-newer" and newer_pair.chosen.startswith("Tea")  # rating "1", selectedModelId: a newer row
    ((regen, regen_pair),) = found.pairs[WENDY]
    # thumbs down on the regenerated answer: its sibling is the chosen one; the earlier turn travels with it
    assert regen == "fb-regen" and regen_pair.chosen.startswith("Once upon") and regen_pair.rejected.startswith("Buy")
    assert regen_pair.messages == ({"role": "user", "content": "Hi!"},
                                   {"role": "assistant", "content": "Hello! How can I help?"})


def test_what_teaches_nothing_is_counted_with_its_reason_and_never_invented():
    found = read_feedback(rows())
    assert found.n_feedback == 7
    assert dict(found.skipped) == {"single answers without a second one to compare": 1,
                                   "comparing a model edge-drift does not serve": 1,
                                   "without a readable chat snapshot": 1, "without a thumbs up or down": 1}
    assert found.summary() == ("7 rating(s) read: 3 new pair(s) for 2 user(s); skipped 1 comparing a model "
                               "edge-drift does not serve, 1 single answers without a second one to compare, "
                               "1 without a readable chat snapshot, 1 without a thumbs up or down")


def test_ratings_on_both_answers_alike_are_a_tie_and_a_damaged_tree_is_skipped():
    data = rows()
    side = data[0]
    side["snapshot"]["chat"]["chat"]["history"]["messages"]["a2"]["annotation"] = {"rating": 1}
    broken = json.loads(json.dumps(data[1]))
    del broken["snapshot"]["chat"]["chat"]["history"]["messages"]["q2"]  # the prompt is gone
    found = read_feedback([side, broken, {"id": "x", "user_id": "../etc", "data": {"rating": 1}}])
    assert not found.pairs
    assert dict(found.skipped) == {"rated alike on every answer (ties)": 1, "whose prompt is not in its chat snapshot": 1,
                                   "with a user id edge-drift cannot use as a name": 1}


@pytest.mark.parametrize("data", [{"users": []}, [1, 2], [{"name": "not feedback"}], "text"])
def test_a_file_that_is_not_an_export_is_refused(data):
    with pytest.raises(Exception, match="is not an Open WebUI feedback export"):
        check_export(data, "export.json")


def test_the_dry_run_says_what_each_user_would_learn_and_writes_nothing(tmp_path):
    result = CliRunner().invoke(main, ["import", "openwebui", str(EXPORT), "--dry-run", "--profiles-dir",
                                       str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("7 rating(s) read: 3 new pair(s) for 2 user(s); skipped")
    assert f"{TIM}: 2 new pair(s) from 2 rating(s) (dry run: nothing written)" in lines
    assert f"{WENDY}: 1 new pair(s) from 1 rating(s) (dry run: nothing written)" in lines
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("args, message", [
    ([], "give the export file, or --url"),
    (["--url", "http://127.0.0.1:9"], "--url needs --api-key"),
    (["--url", "http://127.0.0.1:9", "--api-key", "k"], "cannot reach Open WebUI at http://127.0.0.1:9"),
])
def test_bad_invocations_are_one_line(args, message, tmp_path):
    result = CliRunner().invoke(main, ["import", "openwebui", *args, "--profiles-dir", str(tmp_path)])
    assert result.exit_code == 1 and message in result.output and result.output.count("\n") == 1


def test_a_damaged_file_is_one_line(tmp_path):
    bad = tmp_path / "export.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(main, ["import", "openwebui", str(bad), "--profiles-dir", str(tmp_path)])
    assert result.exit_code == 1 and "is not JSON" in result.output and result.output.count("\n") == 1


@pytest.mark.real  # scores the pairs with the embedded model
def test_importing_refits_each_rater_once_and_a_second_import_adds_nothing(tmp_path):
    profiles = tmp_path / "profiles"
    store = ProfileStore(profiles)
    # tim already has a profile (a pair learned on edge-drift's own page is the same content as one in the export)
    pairs = tmp_path / "tim.jsonl"
    pairs.write_text(json.dumps(read_feedback(rows()).pairs[TIM][0][1].to_dict()) + "\n")
    fitted = CliRunner().invoke(main, ["profile", "fit", TIM, "--pairs", str(pairs), "--attributes",
                                       "concise,storyteller", "--top-k", "2", "--profiles-dir", str(profiles)])
    assert fitted.exit_code == 0, fitted.output
    before = store.load(TIM)

    first = CliRunner().invoke(main, ["import", "openwebui", str(EXPORT), "--profiles-dir", str(profiles)])
    assert first.exit_code == 0, first.output
    tim = store.load(TIM)
    assert tim.n_pairs == before.n_pairs + 1  # the page's pair is not learned twice; the new one is
    assert "moved most:" in first.output  # an existing profile is refitted incrementally and says what moved
    assert store.load(WENDY).n_pairs == 1  # a rater without a profile gets one
    assert store.imported(TIM, SOURCE) == {"fb-side", "fb-newer"} and store.imported(WENDY, SOURCE) == {"fb-regen"}

    again = CliRunner().invoke(main, ["import", "openwebui", str(EXPORT), "--profiles-dir", str(profiles)])
    assert again.exit_code == 0 and "nothing new to learn" in again.output
    assert "3 already imported" in again.output.splitlines()[0]
    assert store.load(TIM).updated_at == tim.updated_at  # untouched
