"""Each strategy's scoring rule against an independent one-step computation, and every strategy end to end."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from helpers import ATTRS, BASE, Recording, make_profile
from scipy.special import log_softmax

from edge_drift.cli import main
from edge_drift.errors import EdgeDriftError
from edge_drift.decoding import Models, Request, SamplingSettings, generate_text
from edge_drift.strategies import (STRATEGY_NAMES, ArgsStrategy, BestOfNStrategy, PadStrategy, PandaSchedule,
                                   PandaStrategy, PromptStrategy, make_strategy, profile_rewards)

TOL = 1e-3  # same tokens, same batch shapes: bit-identical logits; float32 -> float64 rounding only
QUESTION = [{"role": "user", "content": "What should I cook tonight?"}]
ONE_STEP = SamplingSettings(temperature=0.0, max_tokens=1)


def first_rows(engine, systems: list[str]) -> list[np.ndarray]:
    """Next-token logits of fresh single-sequence contexts, one per system prompt."""
    rows = []
    for system in systems:
        with engine.context(1, 512) as ctx:
            rows.append(np.array(ctx.start([engine.chat_tokens([{"role": "system", "content": system}, *QUESTION])]))[0])
    return rows


def one_step(engine, strategy) -> tuple[np.ndarray, np.ndarray]:
    engine.llm.reset()  # prompt evaluated in one batch, like the fresh contexts
    recording = Recording(strategy)
    generate_text(Models(engine, engine), recording, Request(QUESTION, settings=ONE_STEP), BASE)
    return recording.before[0], recording.steps[0][1]


def assert_top_k_logits(received: np.ndarray, candidates: np.ndarray, expected: np.ndarray) -> None:
    assert np.isfinite(received).sum() == len(candidates)
    assert set(np.flatnonzero(np.isfinite(received))) == set(candidates.tolist())
    np.testing.assert_allclose(received[candidates], expected, atol=TOL, rtol=0)


def drift_reward(rows, weights, candidates) -> np.ndarray:
    """sum_i w_i [log_softmax(h_i) - log_softmax(h_0)] at the candidates (rows[0] = base)."""
    base = log_softmax(rows[0].astype(np.float64))[candidates]
    return sum(w * (log_softmax(r.astype(np.float64))[candidates] - base) for w, r in zip(weights, rows[1:]))


@pytest.fixture(scope="module")
def profile(engine):
    return make_profile(engine, {"concise": 0.8, "humor": -0.6})


def test_args_rule(engine, profile):
    h_llm, received = one_step(engine, ArgsStrategy(profile, guidance=1.5, candidates=10))
    rows = first_rows(engine, [BASE, ATTRS["concise"].prompt, ATTRS["humor"].prompt])
    np.testing.assert_allclose(h_llm, rows[0], atol=TOL, rtol=0)
    candidates = np.argsort(-rows[0])[:10]
    expected = log_softmax(rows[0].astype(np.float64))[candidates] + 1.5 * drift_reward(rows, [0.8, -0.6], candidates)
    assert_top_k_logits(received, candidates, expected)


def test_panda_rule_picks_largest_lambda_within_kl_cap(engine, profile):
    schedule = PandaSchedule(lambdas=(0.0, 1.0, 4.0, 16.0), max_kl=0.2, min_entropy=0.0)
    strategy = PandaStrategy(profile, candidates=10, schedule=schedule)
    _, received = one_step(engine, strategy)
    rows = first_rows(engine, [BASE, ATTRS["concise"].prompt, ATTRS["humor"].prompt])
    candidates = np.argsort(-rows[0])[:10]
    logp = log_softmax(rows[0].astype(np.float64))[candidates]
    reward = drift_reward(rows, [0.8, -0.6], candidates)

    def kl(lam: float) -> float:
        q = log_softmax(logp + lam * reward)
        return float((np.exp(q) * (q - log_softmax(logp))).sum())

    allowed = [lam for lam in schedule.lambdas if kl(lam) <= 0.2]
    assert strategy.last.chosen[0] == max(allowed)
    assert_top_k_logits(received, candidates, logp + max(allowed) * reward)


def test_panda_entropy_gate_keeps_confident_steps_plain(engine, profile):
    strategy = PandaStrategy(profile, schedule=PandaSchedule(min_entropy=50.0))  # every step counts as confident
    before, received = one_step(engine, strategy)
    assert strategy.last.chosen == [0.0]
    candidates = np.flatnonzero(np.isfinite(received))
    np.testing.assert_allclose(received[candidates], log_softmax(before.astype(np.float64))[candidates], atol=TOL)


def test_pad_rule_with_zero_shot_reward_model(engine):
    preference = "The user prefers concise answers for a beginner."
    h_base, received = one_step(engine, PadStrategy(preference, guidance=1.2, candidates=10))
    base, rm = first_rows(engine, [BASE, f"{BASE} {preference}"])
    np.testing.assert_allclose(h_base, base, atol=TOL, rtol=0)
    candidates = np.argsort(-base)[:10]
    b, r = base[candidates].astype(np.float64), rm[candidates].astype(np.float64)
    expected = b + 1.2 * (log_softmax(r) - log_softmax(b))
    assert_top_k_logits(received, candidates, expected)


def test_prompt_strategy_writes_attributes_into_system_prompt(engine, profile):
    system = PromptStrategy(profile).llm_system(BASE, Request(QUESTION))
    assert system.startswith(BASE) and "concise" in system and "not humor" in system


def test_best_of_n_keeps_the_highest_profile_reward(engine, profile):
    strategy = BestOfNStrategy(profile, samples=3)
    request = Request(QUESTION, settings=SamplingSettings(temperature=0.9, max_tokens=8, seed=3))
    text, event = generate_text(Models(engine, engine), strategy, request, BASE)
    samples = event.info["answers"]
    assert len(samples) == 3 and len(set(samples)) > 1  # otherwise choosing among them would test nothing
    # each sample scored again on its own (one answer per call, not the strategy's batch) picks the same one
    rewards = [profile_rewards(engine, profile, strategy.attributes, request, [answer])[0] for answer in samples]
    assert text == samples[int(np.argmax(rewards))]
    np.testing.assert_allclose(event.info["rewards"], rewards, atol=1e-3)


def test_pad_takes_the_preference_from_the_profile(engine, profile):
    assert "concise" in make_strategy("pad", profile).preference  # derived from the top attributes
    written = make_profile(engine, {"concise": 1.0})
    written.preference_text = "Explain like I am five."
    assert make_strategy("pad", written).preference == "Explain like I am five."


def test_unknown_strategy_lists_valid_ones(profile):
    with pytest.raises(EdgeDriftError, match="choose one of drift, pad, panda, args, best-of-n, prompt, plain"):
        make_strategy("beam", profile)


@pytest.mark.parametrize("knob, value", [("beta", 0), ("beta", -1.0), ("beta", float("nan")), ("guidance", float("inf")),
                                          ("guidance", -0.5), ("max_kl", -1), ("max_kl", 0.0), ("candidates", 0),
                                          ("samples", 2.5), ("top_attributes", 0)])
def test_every_strategy_knob_is_checked_where_it_is_given(profile, knob, value):
    name = {"beta": "drift", "guidance": "args", "max_kl": "panda", "candidates": "pad", "samples": "best-of-n",
            "top_attributes": "prompt"}[knob]
    with pytest.raises(EdgeDriftError, match=f"--{knob.replace('_', '-')} must be a number"):
        make_strategy(name, profile, **{knob: value})
    flag = f"--{knob.replace('_', '-')}"
    result = CliRunner().invoke(main, ["generate", "--strategy", name, flag, str(value), "--user", "../x", "Hi"])
    assert result.exit_code == 2 and f"Invalid value for '{flag}'" in result.output  # refused while parsing


@pytest.mark.parametrize("name", STRATEGY_NAMES)
def test_every_strategy_generates_from_the_cli(engine, tmp_path, name):
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "dee.json").write_text(json.dumps(make_profile(engine, {"concise": 0.8, "humor": -0.6}).to_dict()))
    args = ["generate", "--user", "dee", "--profiles-dir", str(folder), "--strategy", name, "--max-tokens", "6",
            "--samples", "2", "--seed", "1", "--json", "Name a color."]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["strategy"] == name and data["text"].strip() and 1 <= data["n_tokens"] <= 6


def paper_profile(weights: dict[str, float], selected: int, preference_text: str | None = None):
    """A profile without a model: what the strategies read of it (weights, prompts, the fit's selection)."""
    from edge_drift.profile import AttributeStat, Profile

    ranked = sorted(weights, key=lambda n: -abs(weights[n]))
    stats = [AttributeStat(n, ATTRS[n].prompt, w, 0.0, n in ranked[:selected]) for n, w in weights.items()]
    return Profile(user="dee", slm={"name": "none"}, base_prompt=BASE, attributes=stats, solver="select", n_pairs=3,
                   cv_accuracy=None, top_k=selected, preference_text=preference_text)


def test_the_prompt_strategy_writes_exactly_the_attributes_it_reports():
    profile = paper_profile({"concise": 0.7, "storyteller": -0.5, "humor": 0.2}, selected=3)
    for top, used in ((None, {"concise", "storyteller", "humor"}), (1, {"concise"}), (2, {"concise", "storyteller"})):
        strategy = PromptStrategy(profile, top)
        system = strategy.llm_system(BASE, Request(QUESTION))
        assert set(strategy.info()["attributes"]) == used
        named = {name for name in ("concise", "storyteller", "humor") if name in system}
        assert named == used, (top, system)


def test_pad_writes_the_top_attributes_it_is_given_and_refuses_them_with_a_written_preference():
    profile = paper_profile({"concise": 0.7, "storyteller": -0.5, "humor": 0.2}, selected=3)
    assert make_strategy("pad", profile).preference == "The user prefers answers that are concise, humor; not storyteller."
    assert make_strategy("pad", profile, top_attributes=1).preference == "The user prefers answers that are concise."
    for written in ({"preference": "Short answers."}, {"profile": paper_profile({"concise": 1.0}, 1, "Terse.")}):
        with pytest.raises(EdgeDriftError, match="--top-attributes"):
            make_strategy("pad", **{"profile": profile, **written}, top_attributes=2)
