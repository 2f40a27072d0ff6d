"""The preference-evaluation harness: hand-made accuracies and a tiny end-to-end run on the real model."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edge_drift.cli import main
from edge_drift.evaluation import EVAL_METHODS, PairFeatures, learning_curves, markdown_table, method_accuracy
from helpers import STORY_PAIRS

PAIRS = [
    ("How do I boil an egg?", "Boil 9 minutes.", "Ah, the humble egg, a tiny sun in a shell, bathing in a pond."),
    ("What is DNS?", "Maps names to IP addresses.", "Imagine the internet's friendly librarian who remembers every house."),
    ("Tips for an interview?", "Research, prepare examples.", "Interviews are like first dates with a building of strangers!"),
    ("Why do cats purr?", "Mostly contentment.", "Purring is a cat's lullaby, hummed when the world feels warm."),
    ("What is inflation?", "Prices rise; money buys less.", "Inflation is a slow tide lifting every price tag, bit by bit."),
    ("How to learn typing?", "Practise daily with a tutor.", "Your fingers are dancers learning a ballet, one step at a time."),
]


def hand_made() -> PairFeatures:
    # attribute 0 always favours the chosen answer, attribute 1 is noise; chosen answers are shorter
    chosen = np.array([[2.0, 1.0], [1.0, -1.0], [3.0, 0.5], [1.5, -0.5]])
    rejected = np.zeros_like(chosen)
    return PairFeatures(chosen, rejected, np.array([-5.0, -9.0, -4.0, -7.0]), np.array([-6.0, -8.0, -4.0, -3.0]),
                        np.array([10, 10, 10, 10]), np.array([30, 30, 5, 10]))


def test_accuracies_on_hand_made_features():
    features = hand_made()
    train, test = np.array([0, 1]), np.array([0, 1, 2, 3])
    assert method_accuracy("drift", features, train, test) == 1.0  # w ~ (3, 0) direction: all margins > 0
    assert method_accuracy("logprob", features, train, test) == pytest.approx((1 + 0 + 0.5 + 0) / 4)
    assert method_accuracy("length", features, train, test) == pytest.approx((0 + 0 + 1 + 0.5) / 4)
    assert method_accuracy("chance", features, train, test) == 0.5
    assert method_accuracy("logreg", features, train, test) == 1.0
    assert method_accuracy("auto", features, train, test) == 1.0  # 2 pairs: too few to choose, keeps drift


def test_learning_curves_skip_sizes_that_do_not_fit_and_report_every_method():
    results = learning_curves("u", hand_made(), [1, 2, 3], n_test=2, seeds=2)
    assert {r["n_train"] for r in results} == {1, 2}
    assert {r["method"] for r in results} == set(EVAL_METHODS)
    assert all(r["n_test"] == 2 and r["seeds"] == 2 for r in results)


def test_markdown_table_adds_the_mean_over_users():
    results = learning_curves("u", hand_made(), [2], n_test=2, seeds=2)
    results += [dict(r, user="v", accuracy_mean=1 - r["accuracy_mean"]) for r in results]
    table = markdown_table(results)
    assert "| **mean of 2** | drift | **0.500** |" in table and "| v | chance | 0.500 ± 0.000 |" in table


@pytest.mark.real  # loads the embedded model through the CLI or a server
def test_eval_prefs_end_to_end_on_a_tiny_pairs_file(tmp_path, monkeypatch):
    data = tmp_path / "tiny.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n" for p, c, r in PAIRS))
    out = tmp_path / "out"
    args = ["eval", "prefs", "--data", str(data), "--attributes", "concise,storyteller", "--n-train", "2,4",
            "--add-attribute", "poetic=You are an AI assistant that writes poetically.",
            "--n-test", "2", "--seeds", "2", "--out", str(out), "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output[result.output.index("{"):])
    rows = payload["results"]
    assert {r["method"] for r in rows} == set(EVAL_METHODS) and {r["n_train"] for r in rows} == {2, 4}
    assert set(rows[0]) == {"user", "method", "n_train", "accuracy_mean", "accuracy_std", "n_test", "seeds"}
    assert (out / "results.md").read_text().startswith("| user | method |")
    cache = json.loads((out / "cache.json").read_text())
    assert len(cache["entries"]) == len(PAIRS) * 4 * 2  # base + 2 attributes + 1 custom, chosen and rejected
    from edge_drift.contexts import MultiSequenceContext

    scored = []
    real_score = MultiSequenceContext.score
    monkeypatch.setattr(MultiSequenceContext, "score", lambda ctx, items, **kw: scored.append(len(items))
                        or real_score(ctx, items, **kw))
    again = CliRunner().invoke(main, args)  # the cache makes a rerun free and identical
    assert json.loads(again.output[again.output.index("{"):]) == payload
    assert scored == []  # nothing was scored again


def write_pairs(path, rows) -> None:
    path.write_text("".join(json.dumps({"prompt": p, "chosen": c, "rejected": r}) + "\n" for p, c, r in rows))


def test_judge_never_trains_on_the_prompts_it_judges():
    from edge_drift.judging import TfidfJudge, wilson_interval
    from edge_drift.pairs import Pair

    pairs = [Pair(p, c, r) for p, c, r in STORY_PAIRS]
    judge = TfidfJudge(pairs[2:])
    assert not judge.prompts_seen & {pairs[0].prompt, pairs[1].prompt}
    assert judge.scores([pairs[0].chosen])[0] > judge.scores([pairs[0].rejected])[0]  # learned "story" style
    low, high = wilson_interval(7, 10)
    assert low < 0.7 < high and 0 <= low and high <= 1


@pytest.mark.real  # loads the embedded model through the CLI or a server
def test_eval_generate_end_to_end(tmp_path):
    data = tmp_path / "story.jsonl"
    write_pairs(data, STORY_PAIRS)
    args = ["eval", "generate", "--data", str(data), "--strategies", "drift,prompt", "--n-train", "4",
            "--n-prompts", "2", "--attributes", "concise,storyteller", "--max-tokens", "6", "--embedding-judge",
            "--beta", "0.25", "--solver", "bt", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert report["user"] == "story" and report["judge"]["train_pairs"] >= 8
    embedded = report["embedding_judge"]
    assert embedded["judge"]["kind"] == "minilm+logistic-bt" and embedded["judge"]["train_pairs"] >= 8
    for rows in (report["results"], embedded["results"]):
        assert [r["strategy"] for r in rows] == ["drift", "prompt"]
        for row in rows:
            assert 0 <= row["ci_low"] <= row["win_rate"] <= row["ci_high"] <= 1 and row["n_prompts"] == 2
    # every answer is kept, so the same answers can be judged again
    assert report["prompts"] == [STORY_PAIRS[4][0], STORY_PAIRS[5][0]]
    assert sorted(report["answers"]) == ["drift", "plain", "prompt"]
    assert all(len(texts) == 2 and all(isinstance(t, str) for t in texts) for texts in report["answers"].values())
    assert report["beta"] == 0.25  # --beta sets the fitted profile's strength, which drift reads
    assert report["solver"] == "bt"  # --solver fits the profile as `profile fit --solver` would


def test_prompted_judge_is_order_free_and_sees_only_other_prompts(engine):
    from edge_drift.judging import PromptedJudge
    from edge_drift.pairs import Pair

    pairs = [Pair(p, c, r) for p, c, r in STORY_PAIRS]
    judge = PromptedJudge(engine, pairs[2:5])
    assert not {p.prompt for p in judge.examples} & {pairs[0].prompt, pairs[1].prompt}
    prompts = [pairs[0].prompt, pairs[1].prompt]
    firsts, seconds = [pairs[0].chosen, pairs[1].chosen], [pairs[0].rejected, pairs[1].rejected]
    forward = judge.margins(prompts, firsts, seconds)
    backward = judge.margins(prompts, seconds, firsts)
    # one presentation order alone is biased by position (the two orders do not sum to 1)...
    with engine.context(2, 4096) as ctx:
        first = judge._first_preferred(ctx, prompts[0], firsts[0], seconds[0])
        swapped = judge._first_preferred(ctx, prompts[0], seconds[0], firsts[0])
    assert abs(first + swapped - 1.0) > 1e-3
    # ...so the margin averages both, and swapping the answers negates the verdict
    assert forward[0] == pytest.approx((first + 1.0 - swapped) / 2 - 0.5, abs=1e-6)
    np.testing.assert_allclose(forward, -backward, atol=1e-9)
    assert np.all(np.abs(forward) < 0.5) and np.any(forward != 0)


def test_eval_generate_with_a_gguf_judge(tmp_path, engine):
    data = tmp_path / "story.jsonl"
    write_pairs(data, STORY_PAIRS)
    args = ["eval", "generate", "--data", str(data), "--strategies", "prompt", "--n-train", "4", "--n-prompts", "2",
            "--skip-prompts", "3", "--attributes", "concise,storyteller", "--max-tokens", "6",
            "--judge-model", str(engine.path)]
    result = CliRunner().invoke(main, args + ["--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    # --skip-prompts answers later held-out prompts, so a second run adds prompts an earlier one did not answer
    assert report["prompts"] == [STORY_PAIRS[7][0], STORY_PAIRS[8][0]] and report["skip_prompts"] == 3
    gguf = report["gguf_judge"]
    assert gguf["model"] == engine.path.name and gguf["examples"] == 3 and gguf["held_out_pairs"] == 9
    assert 0 <= gguf["held_out_accuracy"] <= 1
    assert [r["strategy"] for r in gguf["results"]] == ["prompt"] and gguf["results"][0]["n_prompts"] == 2
    missing = CliRunner().invoke(main, args[:-1] + [str(tmp_path / "nope.gguf")])
    assert missing.exit_code == 1 and "nope.gguf" in missing.output
