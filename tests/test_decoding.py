"""Drift decoding on the real model: plain equivalence, the mixer's math, lockstep chat, errors."""
from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from edge_drift.assistant import Assistant
from edge_drift.chat import ChatSession
from edge_drift.cli import main
from edge_drift.decoding import (Models, PlainStrategy, Request, SamplingSettings, check_tokenizers, generate_text,
                                 join_events)
from edge_drift.strategies import PLAUSIBILITY, DriftStrategy
from edge_drift.engine import Engine
from edge_drift.errors import EdgeDriftError, TokenizerMismatchError
from edge_drift.profile import DEFAULT_BETA
from edge_drift.store import ProfileStore
from helpers import ATTRS, BASE, Recording, make_profile

# Both sides evaluate the same tokens with the same batch shapes (prompt in one batch, then one
# token per step), which llama.cpp's CPU kernels reproduce bit for bit (tests/test_engine.py);
# 1e-3 only absorbs float32 rounding of the mixing sum over a 49k vocabulary.
LOGIT_TOL = 1e-3
GREEDY = SamplingSettings(temperature=0.0, max_tokens=12)
QUESTION = [{"role": "user", "content": "How can I save money on groceries?"}]


def generated_ids(engine: Engine, n_prompt: int) -> list[int]:
    return [int(t) for t in engine.llm._input_ids[n_prompt:engine.llm.n_tokens]]


def test_zero_weights_and_plain_equal_llama_cpp_greedy(engine):
    models = Models(engine, engine)
    prompt = engine.chat_tokens(PlainStrategy().llm_messages(BASE, Request(QUESTION)))
    reference = engine.llm.create_completion(prompt=prompt, temperature=0.0, max_tokens=12)["choices"][0]["text"]
    reference_ids = generated_ids(engine, len(prompt))
    for strategy in (PlainStrategy(), DriftStrategy(make_profile(engine, {"concise": 0.0, "humor": 0.0}))):
        text, event = generate_text(models, strategy, Request(QUESTION, settings=GREEDY), BASE)
        assert text == reference and event.n_tokens == 12
        assert generated_ids(engine, len(prompt)) == reference_ids


def independent_logits(engine: Engine, system: str, generated: list[int]) -> list[np.ndarray]:
    """Fresh single-sequence context: the prompt in one batch, then one token per step."""
    with engine.context(1, 512) as ctx:
        rows = [np.array(ctx.start([engine.chat_tokens([{"role": "system", "content": system}, *QUESTION])]))[0]]
        for token in generated:
            rows.append(np.array(ctx.step([token]))[0])
    return rows


@pytest.mark.parametrize("separate_slm", [False, True])
def test_mixed_logits_equal_independent_formula(engine, separate_slm):
    beta = 0.5
    slm = Engine(engine.path) if separate_slm else engine  # a separate sLM needs its own base sequence
    try:
        models = Models(engine, slm)
        engine.llm.reset()  # no KV reuse from earlier tests: the prompt is evaluated in one batch
        strategy = Recording(DriftStrategy(make_profile(engine, {"concise": 1.0}), beta=beta))
        generate_text(models, strategy, Request(QUESTION, settings=replace_tokens(6)), BASE)
        assert strategy.inner.last_mixer.base_is_llm is (not separate_slm)
        n_prompt = strategy.inner.follower.llm_prompt_length
        generated = [int(t) for t in strategy.steps[-1][0][n_prompt:]]
        h_llm = independent_logits(engine, BASE, generated)
        h_attr = independent_logits(engine, ATTRS["concise"].prompt, generated)
        for step, (_, received) in enumerate(strategy.steps):
            before = strategy.before[step]
            np.testing.assert_allclose(before, h_llm[step], atol=LOGIT_TOL, rtol=0)
            expected = h_llm[step] + (h_attr[step] - h_llm[step]) / beta
            # only tokens the LLM finds plausible are steered; the rest are never sampled
            plausible = before >= before.max() + np.log(PLAUSIBILITY)
            assert np.isneginf(received[~plausible]).all() and np.isfinite(received[plausible]).all()
            np.testing.assert_allclose(received[plausible], expected[plausible], atol=LOGIT_TOL, rtol=0,
                                       err_msg=f"step {step}")
        first = strategy.steps[0][1]
        assert np.abs(first - h_llm[0])[np.isfinite(first)].max() > 1.0  # steering really changed the logits
    finally:
        if separate_slm:
            slm.close()


def replace_tokens(n: int) -> SamplingSettings:
    return SamplingSettings(temperature=0.0, max_tokens=n)


def test_slm_sequences_stay_in_lockstep_over_three_turns(engine, tmp_path):
    write_profile(engine, tmp_path, "dee", {"concise": 0.7, "humor": -0.7})
    assistant = Assistant(engine, profiles_dir=tmp_path)  # borrows the session's engine: close() leaves it open
    session = ChatSession(assistant, "dee", "drift", SamplingSettings(temperature=0.0, max_tokens=10))
    strategy = assistant.steering("dee", "drift").strategy
    decoded_per_turn = []
    for turn, text in enumerate(["Name a fruit.", "Why that one?", "And a vegetable?"]):
        ctx_before = strategy._context.n_tokens_decoded if strategy._context else 0
        list(session.send(text))
        mixer = strategy.follower
        ctx = mixer.context
        decoded_per_turn.append(ctx.n_tokens_decoded - ctx_before)
        llm_ids = [int(t) for t in engine.llm._input_ids[:engine.llm.n_tokens]]
        generated = llm_ids[mixer.llm_prompt_length:mixer.n_seen]
        for seq, prompt in enumerate(mixer.prompts):
            assert ctx.history[seq] == prompt + generated, (turn, seq)
            assert ctx.n_past[seq] == len(prompt) + len(generated)
        assert len(session.messages) == 2 * (turn + 1)
    # later turns only evaluate what is new, not the whole conversation again
    full_prompt = sum(len(p) for p in strategy.follower.prompts)
    assert decoded_per_turn[2] < full_prompt
    assistant.close()
    assert strategy._context is None and engine.llm.n_ctx() > 0  # contexts freed, the borrowed model kept


def test_long_chat_drops_oldest_turns_instead_of_crashing(engine):
    settings = SamplingSettings(temperature=0.0, max_tokens=engine.llm.n_ctx() - 150, stop=("\n", "."))
    session = ChatSession(Assistant(engine), None, "plain", settings)
    long_text = "Tell me about rivers. " * 12
    notices = []
    for _ in range(3):
        notices += [e.info["notice"] for e in session.send(long_text) if e.info.get("notice")]
    assert notices and "dropped" in notices[0]
    with pytest.raises(EdgeDriftError, match="does not fit"):
        list(session.send("word " * 5000))  # alone longer than the context
    # a message that fits, but not with the asked-for answer length: the answer is shortened instead
    *_, last = session.send("word " * 400)
    assert last.n_prompt_tokens + last.n_tokens <= engine.llm.n_ctx()


def test_tokenizer_mismatch_is_one_line_naming_both(engine):
    other = SimpleNamespace(path=Path("/models/other-7b.gguf"), n_vocab=32000, llm=None)
    with pytest.raises(TokenizerMismatchError, match="SmolLM2-135M-Instruct.Q4_1.gguf and other-7b.gguf") as info:
        check_tokenizers(engine, other)
    assert "\n" not in str(info.value)

    class Shifted:  # same size, different token texts
        def detokenize(self, tokens, special=False):
            return engine.llm.detokenize([(tokens[0] + 1) % engine.n_vocab], special=special)

    shifted = SimpleNamespace(path=Path("/models/shifted.gguf"), n_vocab=engine.n_vocab, llm=Shifted())
    with pytest.raises(TokenizerMismatchError, match="token 0 is"):
        check_tokenizers(engine, shifted)
    check_tokenizers(engine, engine)


def write_profile(engine, folder: Path, user: str, weights: dict[str, float], sha: str | None = None) -> None:
    profile = make_profile(engine, weights, user)
    data = profile.to_dict()
    if sha:
        data["slm"]["sha256"] = sha
    folder.mkdir(parents=True, exist_ok=True)
    path = ProfileStore(folder).path(user)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_generate_cli_json_and_profile_slm_mismatch(engine, tmp_path):
    folder = tmp_path / "p"
    write_profile(engine, folder, "dee", {"concise": 0.8, "humor": 0.6})
    runner = CliRunner()
    result = runner.invoke(main, ["generate", "--user", "dee", "--profiles-dir", str(folder), "--max-tokens", "8",
                                  "--temperature", "0", "--json", "Say hi."])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["n_tokens"] == 8 and data["beta"] == DEFAULT_BETA and set(data["attributes"]) == {"concise", "humor"}
    write_profile(engine, folder, "eve", {"concise": 1.0}, sha="0" * 64)
    result = runner.invoke(main, ["generate", "--user", "eve", "--profiles-dir", str(folder), "Say hi."])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "fitted with sLM" in result.output and "profile fit eve" in result.output


def test_chat_ab_appends_a_pair_and_refits(engine, tmp_path):
    folder = tmp_path / "p"
    write_profile(engine, folder, "dee", {"concise": 0.8, "humor": 0.6})
    keys = "\n".join(["Give me one tip for focus.", "/ab", "a", "/ab plain", "b", "/profile", "/beta 2", "/nope",
                      "/quit"]) + "\n"
    result = CliRunner().invoke(main, ["chat", "--user", "dee", "--profiles-dir", str(folder), "--max-tokens", "12",
                                       "--temperature", "0"], input=keys)
    assert result.exit_code == 0, result.output
    # the default round leans both answers opposite ways on one attribute; labels only after the vote
    asked = re.search(r"\(a was (more|less) (\w+), b was (more|less) (\w+)\); this one was about: more (\w+) vs less",
                      result.output)
    assert asked and {asked[1], asked[3]} == {"more", "less"} and asked[2] == asked[4] == asked[5] in ("concise", "humor")
    labels = re.search(r"\(a was (\w+), b was (\w+)\)\n", result.output)  # `/ab plain`: the profile vs plain
    assert labels and sorted(labels.groups()) == ["drift", "plain"]
    assert "added 1 pair (1 in all)" in result.output and "added 1 pair (2 in all)" in result.output
    assert "moved most" in result.output
    assert "beta = 2.0" in result.output and "unknown command /nope" in result.output
    pairs = ProfileStore(folder).load_pairs("dee")
    assert len(pairs) == 2 and pairs[0].prompt == "Give me one tip for focus."
    assert ProfileStore(folder).load("dee").n_pairs == 2


def test_generate_with_a_prompt_longer_than_the_context_is_one_line():
    result = CliRunner().invoke(main, ["generate", "--no-steer", "word " * 5000])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "does not fit the model's context" in result.output


def test_scoring_refuses_a_pair_longer_than_the_context(engine, tmp_path):
    from edge_drift.attributes import load_attribute_set
    from edge_drift.errors import PairsError
    from edge_drift.pairs import Pair
    from edge_drift.fitting import fit_profile

    huge = Pair("word " * 5000, "Yes.", "No.")
    with pytest.raises(PairsError, match="more than the model's context"):
        fit_profile(engine, ProfileStore(tmp_path), "long", [huge],
                    attributes=load_attribute_set().select(["concise"]))
    assert not ProfileStore(tmp_path).exists("long")


def test_steering_near_the_end_of_the_context_never_overflows_the_slm_sequences(engine, tmp_path):
    """The attribute prompts are longer than the LLM's; the answer is shortened so that they fit too."""
    write_profile(engine, tmp_path, "dee", {"storyteller": 1.0, "concise": -0.5})
    with Assistant(engine.path, profiles_dir=tmp_path, n_ctx=512) as small:
        filler = "Tell me about rivers. " * 80  # close to the 512-token context
        prepared = small.prepare([{"role": "user", "content": filler}], user="dee",
                                 settings=SamplingSettings(temperature=0.0, max_tokens=400))
        assert prepared.request.settings.max_tokens < 400  # clamped to the room that is left
        text, last = generate_text(small.models, prepared.steering.strategy, prepared.request, prepared.base_prompt)
        context = prepared.steering.strategy.follower.context
        assert last.n_tokens >= 1 and max(context.n_past) <= context.n_ctx_per_seq <= 512


def test_context_checks_measure_the_system_prompt_the_strategy_really_sends(engine, tmp_path):
    write_profile(engine, tmp_path, "dee", {"storyteller": 1.0, "concise": -0.5})
    with Assistant(engine, profiles_dir=tmp_path) as assistant:
        turns = [{"role": "user", "content": "Hi"}]
        prepared = assistant.prepare(turns, user="dee", strategy="prompt")
        sent = prepared.steering.strategy.llm_system(prepared.base_prompt, prepared.request)
        assert sent != prepared.base_prompt  # the prompt strategy writes the preference into it
        assert prepared.n_prompt_tokens == len(engine.chat_tokens([{"role": "system", "content": sent}, *turns]))


def test_a_cancelled_request_stops_at_the_next_token_even_before_any_text(engine):
    """The server's client left: decoding ends inside the loop (text may still be held back by llama-cpp-python,
    so waiting for the next yielded event is not enough), and the next request decodes as if nothing happened."""
    import threading

    models, settings = Models(engine, engine), SamplingSettings(temperature=0, max_tokens=40)
    generate_text(models, PlainStrategy(), Request(QUESTION, settings=settings), BASE)  # warm: the prompt is cached
    expected, full = generate_text(models, PlainStrategy(), Request(QUESTION, settings=settings), BASE)
    stopped = threading.Event()
    stopped.set()
    _, last = generate_text(models, PlainStrategy(), Request(QUESTION, settings=settings, cancel=stopped), BASE)
    assert full.n_tokens == 40 and last.n_tokens <= 1 and last.finish_reason == "stop"
    again, _ = generate_text(models, PlainStrategy(), Request(QUESTION, settings=settings), BASE)
    assert again == expected


def test_an_answer_past_its_deadline_ends_as_if_max_tokens_were_reached(engine, tmp_path):
    """The server's --max-seconds: decoding ends at the next token with finish_reason "length" (not "stop", which
    would claim the answer was complete); best-of-n keeps what it sampled instead of starting the next sample."""
    import time

    models, settings = Models(engine, engine), SamplingSettings(temperature=0, max_tokens=40)
    _, last = generate_text(models, PlainStrategy(), Request(QUESTION, settings=settings,
                                                             deadline=time.monotonic() - 1), BASE)
    assert last.n_tokens <= 1 and last.finish_reason == "length"
    _, last = generate_text(models, PlainStrategy(), Request(QUESTION, settings=settings,
                                                             deadline=time.monotonic() + 600), BASE)
    assert last.n_tokens == 40 and last.finish_reason == "length"  # a far deadline changes nothing
    write_profile(engine, tmp_path, "dee", {"storyteller": 1.0, "concise": -0.5})
    with Assistant(engine, profiles_dir=tmp_path) as assistant:
        prepared = assistant.prepare(QUESTION, user="dee", strategy="best-of-n", settings=settings)
        _, last = join_events(assistant.run(prepared, max_seconds=0))
    assert len(last.info["answers"]) == 1 and last.finish_reason == "length"
