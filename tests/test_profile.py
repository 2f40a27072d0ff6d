"""Profiles on the real model: rewards, incremental refits, atomic writes and every load error."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
from click.testing import CliRunner
from llama_cpp import Llama
from scipy.special import log_softmax

import edge_drift.fitting as fitting_module
from edge_drift.attributes import load_attribute_set
from edge_drift.prompts import attribute_messages
from edge_drift.cli import main
from edge_drift.errors import ProfileError
from edge_drift.pairs import Pair
from edge_drift.profile import DEFAULT_BETA
from edge_drift.fitting import fit_profile
from edge_drift.store import ProfileStore
from edge_drift.rewards import LogProbCache, compute_rewards

ATTRIBUTES = load_attribute_set().select(["concise", "creative", "formal"])
PAIRS = [
    Pair("How do I boil an egg?", "Boil 9 minutes, then cool in cold water.",
         "Ah, the humble egg! Picture a tiny sun in a shell, bathing gently in a bubbling pond."),
    Pair("What is DNS?", "It maps domain names to IP addresses.",
         "Imagine the internet's friendly librarian who remembers where every website lives."),
    Pair("Tips for a job interview?", "Research the company, prepare examples, ask two questions.",
         "Oh, interviews are like first dates with a building full of strangers! Breathe and smile."),
    Pair("Why do cats purr?", "Mostly contentment; also self-soothing when stressed.",
         "Purring is a cat's little lullaby, a song they hum when the world feels warm and safe."),
]
MORE = [
    Pair("How do I learn to type fast?", "Touch-type daily for 15 minutes with a typing tutor.",
         "Picture your fingers as dancers learning a new ballet, one graceful step at a time."),
    Pair("What is inflation?", "A general rise in prices, so money buys less over time.",
         "Inflation is like a slow tide that lifts every price tag in the market, bit by bit."),
]


@pytest.fixture
def store(tmp_path) -> ProfileStore:
    return ProfileStore(tmp_path / "profiles")


def fit(engine, store, pairs, **options):
    return fit_profile(engine, store, "ada", pairs, attributes=options.pop("attributes", ATTRIBUTES),
                       top_k_attributes=2, **options)


def test_default_attributes_are_the_papers_41_then_7_writing_registers():
    paper, default = load_attribute_set(registers=False), load_attribute_set()
    assert len(paper.attributes) == 41 and default.attributes[:41] == paper.attributes
    registers = default.names[41:]
    assert registers == ["poetic", "scholarly", "professional", "playful", "structured", "conversational", "detailed"]
    assert len(set(default.names)) == 48 and default.base == paper.base == "You are an AI assistant."
    for attribute in default.attributes[41:]:  # the paper's form: a one-sentence persona with one cue
        assert attribute.prompt.startswith("You are ") and attribute.prompt.endswith(".")
        assert "AI assistant" in attribute.prompt and attribute.prompt != default.base


def test_rewards_equal_independent_naive_computation(engine):
    cache = LogProbCache(engine.identity.sha256, 64, position_decay=1.0)
    chosen, rejected, stats = compute_rewards(engine, PAIRS[:1], ATTRIBUTES, cache)
    assert chosen.shape == (1, 3) and stats.jobs_scored == (3 + 1) * 2
    decayed = LogProbCache(engine.identity.sha256, 64, position_decay=0.5)
    chosen_decayed, rejected_decayed, _ = compute_rewards(engine, PAIRS[:1], ATTRIBUTES, decayed)
    reference = Llama(str(engine.path), logits_all=True, n_ctx=512, n_threads=engine.n_threads, verbose=False)
    try:
        def logprob(system: str, answer: str) -> float:
            messages = attribute_messages(system, PAIRS[0].prompt)
            prefix = engine.chat_tokens(messages)
            full = engine.tokenize(engine.render(messages + [{"role": "assistant", "content": answer}], False))
            assert full[:len(prefix)] == prefix
            answer_tokens = full[len(prefix):]
            reference.reset()
            reference.eval(full)
            rows = np.array(reference.scores[len(prefix) - 1:len(full) - 1], dtype=np.float64)
            return log_softmax(rows, axis=1)[np.arange(len(answer_tokens)), answer_tokens]

        for i, attribute in enumerate(ATTRIBUTES.attributes):
            for answer, matrix, matrix_decayed in ((PAIRS[0].chosen, chosen, chosen_decayed),
                                                   (PAIRS[0].rejected, rejected, rejected_decayed)):
                tokens = logprob(attribute.prompt, answer) - logprob(ATTRIBUTES.base, answer)
                assert matrix[0, i] == pytest.approx(tokens.sum(), abs=1e-3)
                # token t counts 0.5**t: the reward of a position-decayed cache
                assert matrix_decayed[0, i] == pytest.approx(tokens @ 0.5 ** np.arange(len(tokens)), abs=1e-3)
    finally:
        reference.close()
    assert np.abs(chosen - rejected).max() > 0.1  # the attributes do tell the answers apart


def test_a_cache_weighs_answer_tokens_by_its_position_decay_and_old_caches_are_flat():
    tokens = np.array([-1.0, -2.0, -4.0])
    assert LogProbCache("sha", 8).weigh(tokens) == -7.0  # a plain sum unless asked otherwise
    assert LogProbCache("sha", 8, position_decay=0.5).weigh(tokens) == -1.0 - 1.0 - 1.0
    old = {"version": 1, "slm_sha256": "sha", "max_response_tokens": 8, "entries": {"k": -3.0}}
    loaded = LogProbCache.from_dict(old)
    assert loaded.position_decay == 1.0 and loaded.compatible("sha", 8, 1.0) and not loaded.compatible("sha", 8, 0.9)
    assert LogProbCache.from_dict(LogProbCache("sha", 8, {"k": -3.0}, 0.9).to_dict()).position_decay == 0.9
    for bad in (0, -0.5, 1.5, True, "0.9"):  # a damaged decay is recomputed, never trusted
        assert LogProbCache.from_dict({**old, "position_decay": bad}) is None


def test_a_profile_keeps_its_position_decay_through_votes_and_old_profiles_read_as_flat(engine, store):
    from edge_drift.profile import Profile
    from edge_drift.rewards import DEFAULT_POSITION_DECAY

    assert fit(engine, store, PAIRS[:2]).profile.position_decay == DEFAULT_POSITION_DECAY
    fit(engine, store, PAIRS[:2], position_decay=0.5)
    added = fit_profile(engine, store, "ada", MORE[:1], incremental=True)  # a vote: no decay given
    assert added.profile.position_decay == 0.5 and added.stats.jobs_scored == 4 * 2  # cached pairs reused
    assert json.loads(store.rewards_path("ada").read_text())["position_decay"] == 0.5
    data = store.load("ada", engine.identity.to_dict()).to_dict()
    del data["position_decay"]  # written before the decay existed: its rewards were plain sums
    assert Profile.from_dict(data).position_decay == 1.0


def test_a_profile_with_only_negative_steering_weights_says_so():
    from edge_drift.profile import AttributeStat, Profile

    def profile(*weights: float) -> Profile:
        stats = [AttributeStat(f"a{i}", f"Be a{i}.", w, 0.0, w != 0) for i, w in enumerate(weights)]
        return Profile("u", {}, "base", stats, "select", 10, None)

    assert profile(-0.5, -0.2, 0.0).steers_only_away  # unselected (zero) weights do not count
    assert not profile(-0.5, 0.3).steers_only_away
    assert not profile(0.0, 0.0).steers_only_away  # nothing selected: nothing steers at all


def test_fit_writes_a_valid_profile(engine, store):
    report = fit(engine, store, PAIRS)
    loaded = store.load("ada", engine.identity.to_dict())
    assert loaded.n_pairs == 4 and [a.name for a in loaded.attributes] == ["concise", "creative", "formal"]
    assert sum(a.selected for a in loaded.attributes) == 2
    assert np.isclose(np.linalg.norm([a.weight for a in loaded.attributes]), 1.0, atol=1e-5)
    assert loaded.cv_accuracy is not None and report.stats.jobs_scored == 4 * 4 * 2
    assert store.pairs_path("ada").read_text().count("\n") == 4


def test_incremental_add_equals_full_refit_and_scores_only_new_pairs(engine, store, tmp_path):
    fit(engine, store, PAIRS)
    added = fit_profile(engine, store, "ada", MORE, incremental=True)
    assert added.stats.jobs_scored == len(MORE) * 4 * 2 and added.n_new_pairs == 2
    again = fit_profile(engine, store, "ada", MORE, incremental=True)  # same pairs again: nothing new
    assert again.stats.jobs_scored == 0 and again.profile.n_pairs == 6
    full = fit(engine, ProfileStore(tmp_path / "fresh"), PAIRS + MORE)
    assert full.stats.jobs_scored == 6 * 4 * 2
    for a, b in zip(added.profile.attributes, full.profile.attributes):
        assert a.name == b.name and a.selected == b.selected
        assert a.weight == pytest.approx(b.weight, abs=1e-6)
        assert a.unit_preference == pytest.approx(b.unit_preference, abs=1e-6)


def test_interrupted_write_leaves_old_profile(engine, store, monkeypatch):
    fit(engine, store, PAIRS[:2])
    before = store.path("ada").read_text()

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", crash)  # every atomic write renames its temp file into place
    with pytest.raises(KeyboardInterrupt):
        fit(engine, store, PAIRS)
    monkeypatch.undo()
    assert store.path("ada").read_text() == before
    assert not list(store.root.rglob("*.tmp"))
    assert store.load("ada").n_pairs == 2


def test_failed_fit_leaves_old_profile(engine, store, monkeypatch):
    fit(engine, store, PAIRS[:2])
    files = {p.name: p.read_bytes() for p in store.root.rglob("*") if p.is_file()}

    def broken(*args, **kwargs):
        raise RuntimeError("solver exploded")

    monkeypatch.setattr(fitting_module, "fit_weights", broken)
    with pytest.raises(RuntimeError):
        fit(engine, store, PAIRS)
    assert {p.name: p.read_bytes() for p in store.root.rglob("*") if p.is_file()} == files


def edit_profile(store, change) -> None:
    data = json.loads(store.path("ada").read_text())
    change(data)
    store.path("ada").write_text(json.dumps(data))


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(schema_version=7), "schema version 7, this edge-drift reads 1"),
    (lambda d: d["attributes"][0].update(weight=float("nan")), "non-finite weight"),
    (lambda d: d["selected_attributes"].append("telepathic"), "telepathic are unknown"),
    (lambda d: d["attributes"][0].pop("prompt"), "'prompt' is a required property"),
    (lambda d: d.update(user="bob"), "belongs to user 'bob'"),
])
def test_invalid_profiles_are_explained(engine, store, change, message):
    fit(engine, store, PAIRS[:2])
    edit_profile(store, change)
    with pytest.raises(ProfileError, match=message) as info:
        store.load("ada")
    assert "edge-drift profile fit ada" in str(info.value) or "rename" in str(info.value)


def test_profile_from_another_slm_says_how_to_refit(engine, store):
    fit(engine, store, PAIRS[:2])
    other = {**engine.identity.to_dict(), "sha256": "0" * 64, "file_name": "other.gguf"}
    with pytest.raises(ProfileError, match="fitted with sLM SmolLM2.*uses other.gguf.*profile fit ada"):
        store.load("ada", other)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65, "a..b"])
def test_user_names_cannot_escape_the_profiles_folder(store, name):
    with pytest.raises(ProfileError, match="invalid user name"):
        store.path(name)


def test_missing_profile_and_add_without_profile(engine, store):
    with pytest.raises(ProfileError, match="no profile for 'ada'.*profile fit ada"):
        store.load("ada")
    with pytest.raises(ProfileError, match="no profile for 'ada' yet"):
        fit_profile(engine, store, "ada", PAIRS, incremental=True)


@pytest.mark.real  # loads the embedded model through the CLI or a server
def test_cli_fit_show_list_rm(tmp_path):
    pairs_file = tmp_path / "pairs.jsonl"
    pairs_file.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in PAIRS[:3]))
    folder = str(tmp_path / "cli-profiles")
    runner = CliRunner()
    result = runner.invoke(main, ["profile", "fit", "cli_user", "--pairs", str(pairs_file), "--profiles-dir", folder,
                                  "--attributes", "concise,creative", "--add-attribute",
                                  "pirate=You are an AI assistant who talks like a pirate.", "--top-k", "2",
                                  "--preference", "Short answers, please."])
    assert result.exit_code == 0, result.output
    assert "fitted" in result.output and "tokens/s" in result.output
    shown = runner.invoke(main, ["profile", "show", "cli_user", "--profiles-dir", folder, "--json"])
    data = json.loads(shown.output)
    assert {"user", "solver", "n_pairs", "cv_accuracy", "attributes"} <= set(data)
    assert [a["name"] for a in data["attributes"]] == ["concise", "creative", "pirate"]
    assert data["preference_text"] == "Short answers, please."  # PAD reads it: --user is enough
    assert data["beta"] == DEFAULT_BETA
    assert set(data["attributes"][0]) >= {"name", "weight", "unit_preference", "selected"}
    chart = runner.invoke(main, ["profile", "show", "cli_user", "--profiles-dir", folder]).output
    assert "pirate" in chart and "|" in chart and chart.count("*") == 2
    assert data["screening"]["after_pairs"] > 0  # the default fit screens; bt needs every attribute, so it does not
    refit = runner.invoke(main, ["profile", "fit", "cli_user", "--pairs", str(pairs_file), "--profiles-dir", folder,
                                 "--solver", "bt", "--beta", "0.5"])
    assert refit.exit_code == 0, refit.output
    data = json.loads(runner.invoke(main, ["profile", "show", "cli_user", "--profiles-dir", folder, "--json"]).output)
    assert data["solver"] == "bt" and data["screening"]["after_pairs"] == 0 and data["beta"] == 0.5
    again = runner.invoke(main, ["profile", "fit", "cli_user", "--pairs", str(pairs_file), "--profiles-dir", folder])
    assert again.exit_code == 0, again.output  # a refit without --beta keeps the profile's strength
    assert json.loads(runner.invoke(main, ["profile", "show", "cli_user", "--profiles-dir", folder,
                                           "--json"]).output)["beta"] == 0.5
    bad_beta = runner.invoke(main, ["profile", "fit", "cli_user", "--pairs", str(pairs_file), "--profiles-dir", folder,
                                    "--beta", "0"])
    assert bad_beta.exit_code == 2 and "beta" in bad_beta.output
    assert "cli_user" in runner.invoke(main, ["profile", "list", "--profiles-dir", folder]).output
    assert runner.invoke(main, ["profile", "rm", "cli_user", "--profiles-dir", folder]).exit_code == 0
    gone = runner.invoke(main, ["profile", "show", "cli_user", "--profiles-dir", folder])
    assert gone.exit_code == 1 and gone.output.count("\n") == 1 and "Error: no profile" in gone.output


def test_cli_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\nnot json\n')
    result = CliRunner().invoke(main, ["profile", "fit", "u", "--pairs", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ") and result.output.count("\n") == 1
    assert "line 1: missing field 'chosen'" in result.output and "line 2: not JSON" in result.output
    result = CliRunner().invoke(main, ["profile", "show", "../etc"])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert result.output.startswith("Error: invalid user name '../etc'")


def test_screening_scores_weak_attributes_only_on_the_first_pairs_and_add_repeats_it(engine, store, tmp_path):
    from edge_drift.screening import ScreeningPlan

    plan = ScreeningPlan(after_pairs=2, keep=1, recheck_every=0)
    report = fit(engine, store, PAIRS, screening=plan)
    # 2 pairs x (base + 3 attributes) x 2 answers in full, then 2 pairs x (base + 1 kept) x 2
    assert report.stats.jobs_scored == 2 * 4 * 2 + 2 * 2 * 2
    profile = report.profile
    assert profile.screening["after_pairs"] == 2 and len(profile.screening["screened_out"]) == 2
    kept = [a for a in profile.attributes if a.name not in profile.screening["screened_out"]]
    assert len(kept) == 1 and kept[0].weight != 0 and kept[0].selected
    assert all(a.weight == 0 and not a.selected for a in profile.attributes if a not in kept)
    # an add scores the new pairs with the kept attribute only, and lands where a fit of all pairs lands
    added = fit_profile(engine, store, "ada", MORE, incremental=True)
    assert added.stats.jobs_scored == len(MORE) * 2 * 2
    whole = fit_profile(engine, ProfileStore(tmp_path / "whole"), "ada", PAIRS + MORE, attributes=ATTRIBUTES,
                        top_k_attributes=2, screening=plan)
    assert [a.weight for a in added.profile.attributes] == [a.weight for a in whole.profile.attributes]
    assert store.load("ada").screening == whole.profile.screening


def test_fit_refuses_a_pair_it_could_not_load_again(engine, store):
    from edge_drift.errors import PairsError

    with pytest.raises(PairsError, match="chosen and rejected are the same text"):
        fit(engine, store, PAIRS[:1] + [Pair("Hi?", "Hello.", "Hello.")])
    assert not store.exists("ada")


def test_a_statement_starts_a_profile_that_steers_at_once_and_votes_then_weigh_it(engine, tmp_path):
    from edge_drift.assistant import Assistant
    from edge_drift.attributes import STATEMENT
    from edge_drift.decoding import SamplingSettings

    question = [{"role": "user", "content": "How do I start journaling?"}]
    greedy = SamplingSettings(temperature=0, max_tokens=24)
    with Assistant(engine, profiles_dir=tmp_path / "profiles", attributes=ATTRIBUTES) as assistant:
        report = assistant.say("ada", "Answer like a pirate, with pirate words in every sentence.")
        assert report.profile.n_pairs == 0 and report.stats.jobs_scored == 0  # nothing to score without votes
        assert [a.name for a in report.profile.selected] == [STATEMENT] and report.profile.selected[0].weight > 0
        steered, last = assistant.generate(question, user="ada", strategy="drift", settings=greedy)
        plain, _ = assistant.generate(question, user="ada", strategy="plain", settings=greedy)
        assert last.info["strategy"] == "drift" and steered != plain  # it steers before any vote
        voted = assistant.feedback("ada", PAIRS[0])
        assert voted.profile.n_pairs == 1 and voted.profile.statement.startswith("Answer like a pirate")
        assert voted.stats.jobs_scored == (1 + 3 + 1) * 2  # the base, 3 attributes and the statement, both answers
        changed = assistant.say("ada", "Short answers.")
        assert changed.stats.jobs_scored == 2  # only the new sentence, on the one pair
        assert changed.profile.attribute_set.names[-1] == STATEMENT and changed.profile.n_pairs == 1
        removed = assistant.say("ada", None)
        assert removed.profile.statement is None and STATEMENT not in removed.profile.attribute_set.names


@pytest.mark.real  # loads the embedded model through the CLI
def test_cli_profile_say_then_show_and_generate(tmp_path):
    folder = str(tmp_path / "said")
    runner = CliRunner()
    said = runner.invoke(main, ["profile", "say", "sam", "Short, plain answers without jargon.",
                                "--profiles-dir", folder])
    assert said.exit_code == 0, said.output
    assert "statement: 'Short, plain answers without jargon.'" in said.output and "0 pairs" in said.output
    data = json.loads(runner.invoke(main, ["profile", "show", "sam", "--profiles-dir", folder, "--json"]).output)
    assert data["statement"] == "Short, plain answers without jargon." and data["selected_attributes"] == ["statement"]
    answer = runner.invoke(main, ["generate", "--user", "sam", "--profiles-dir", folder, "--max-tokens", "8",
                                  "--seed", "1", "--json", "Hi"])
    assert answer.exit_code == 0, answer.output
    assert json.loads(answer.output)["strategy"] == "drift"
    both = runner.invoke(main, ["profile", "say", "sam", "text", "--remove", "--profiles-dir", folder])
    assert both.exit_code == 1 and both.output.count("\n") == 1 and "--remove" in both.output
    last = runner.invoke(main, ["profile", "say", "sam", "--remove", "--profiles-dir", folder])
    assert last.exit_code == 1 and "profile rm sam" in last.output  # no votes: removing it would leave nothing
