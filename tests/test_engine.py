"""The multi-sequence engine against llama-cpp-python's own single-sequence Llama, on the real model."""
from __future__ import annotations

import numpy as np
import pytest
from llama_cpp import Llama
from scipy.special import log_softmax

from edge_drift.contexts import Segment
from edge_drift.errors import ContextOverflowError

# Tolerances. When both sides run the same batch shape per sequence, llama.cpp's CPU kernels give
# bit-identical logits (measured: max |diff| = 0.0); our log-softmax runs in float32 and differs
# from scipy's float64 one by ~2e-7 per token. 1e-4 leaves room for that rounding, while a wrong
# position, sequence or token shows up as differences of 0.1..10 nats.
LOGPROB_TOL = 1e-4

QUESTIONS = ["Hi there, who are you?", "Tell me a joke about cats.", "What is 2+2? Answer briefly."]


def last_logits(llm: Llama) -> np.ndarray:
    import llama_cpp

    pointer = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
    return np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).copy()


@pytest.fixture(scope="module")
def prompts(engine):
    return [engine.chat_tokens([{"role": "user", "content": q}]) for q in QUESTIONS]


@pytest.fixture(scope="module")
def reference_llm(engine):
    """An independent single-sequence Llama that keeps every row's logits (logits_all)."""
    llm = Llama(str(engine.path), logits_all=True, n_ctx=1024, n_threads=engine.n_threads, verbose=False)
    yield llm
    llm.close()


def greedy_single_sequence(llm: Llama, prompt, n_steps: int) -> list[np.ndarray]:
    """Plain llama-cpp-python: evaluate the prompt, then one token per eval, greedy."""
    llm.reset()
    llm.eval(prompt)
    rows = [last_logits(llm)]
    for _ in range(n_steps):
        llm.eval([int(np.argmax(rows[-1]))])
        rows.append(last_logits(llm))
    return rows


def test_batched_steps_match_single_sequence_llama(engine, prompts):
    n_steps = 8
    expected = [greedy_single_sequence(engine.llm, p, n_steps) for p in prompts]
    with engine.context(len(prompts), 256) as ctx:
        rows = np.array(ctx.start(prompts))
        for step in range(n_steps + 1):
            for i in range(len(prompts)):
                diff = np.abs(log_softmax(rows[i]) - log_softmax(expected[i][step])).max()
                assert diff < LOGPROB_TOL, (step, i, diff)
            if step < n_steps:
                rows = np.array(ctx.step([int(np.argmax(r)) for r in rows]))
        assert list(ctx.n_past) == [len(p) + n_steps for p in prompts]


def test_step_returns_all_rows_from_one_decode(engine, prompts):
    with engine.context(3, 256) as ctx:
        ctx.start(prompts)
        calls = ctx.n_decode_calls
        rows = ctx.step([1, 2, 3])
        assert rows.shape == (3, engine.n_vocab)
        assert ctx.n_decode_calls == calls + 1


def score_naively(reference_llm, prefix, continuation) -> np.ndarray:
    reference_llm.reset()
    reference_llm.eval(list(prefix) + list(continuation))
    rows = np.array(reference_llm.scores[len(prefix) - 1:len(prefix) + len(continuation) - 1])
    return log_softmax(rows.astype(np.float64), axis=1)[np.arange(len(continuation)), continuation]


@pytest.fixture(scope="module")
def scoring_items(engine):
    items = []
    for system in ["You are an AI assistant.", "You are a concise AI assistant."]:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": QUESTIONS[0]}]
        prefix = engine.chat_tokens(messages)
        for reply in ["I am a small assistant that answers questions.", "Nobody.", "Hello! I'm here to help."]:
            items.append((prefix, engine.reply_tokens(messages, reply)))
    return items


def test_batched_scoring_equals_naive_one_at_a_time(engine, reference_llm, scoring_items):
    with engine.context(4, 256) as ctx:  # 6 items in 4 sequences: forces two waves
        scores = ctx.score(scoring_items)
    for (prefix, continuation), got in zip(scoring_items, scores):
        expected = score_naively(reference_llm, prefix, continuation)
        assert got.shape == (len(continuation),)
        np.testing.assert_allclose(got, expected, atol=LOGPROB_TOL)
    # different attribute prompts must give different scores, or the test proves nothing
    assert abs(scores[0].sum() - scores[3].sum()) > 0.01


def test_prefix_sharing_gives_same_scores_as_no_sharing(engine, scoring_items):
    with engine.context(8, 256) as ctx:
        shared = ctx.score(scoring_items, share_prefix=True)
        calls_shared = ctx.n_decode_calls
        ctx.n_decode_calls = 0
        rows_shared = ctx.n_logit_rows
        unshared = ctx.score(scoring_items, share_prefix=False)
    # one full-vocabulary row per answer token: the prefix's last row gives the first answer token's
    # log-prob, and the answer's own rows (but its last) the rest; shared prefixes share that last row
    n_prefixes = len({tuple(prefix) for prefix, _ in scoring_items})
    assert rows_shared == sum(len(c) - 1 for _, c in scoring_items) + n_prefixes
    assert ctx.n_logit_rows - rows_shared == sum(len(c) for _, c in scoring_items)
    for a, b in zip(shared, unshared):
        np.testing.assert_allclose(a, b, atol=LOGPROB_TOL)
    assert calls_shared >= 2


def test_saved_system_blocks_give_the_same_scores_and_are_evaluated_once(engine, reference_llm, scoring_items):
    stems = [len(engine.chat_tokens([{"role": "system", "content": system}], add_generation_prompt=False))
             for system in ["You are an AI assistant."] * 3 + ["You are a concise AI assistant."] * 3]
    assert all(prefix[:n] != prefix[:n + 1] for (prefix, _), n in zip(scoring_items, stems))
    engine.stems.clear()
    with engine.context(8, 256) as ctx:
        first = ctx.score(scoring_items, stems=stems)
        decoded_first = ctx.n_tokens_decoded
    assert len(engine.stems) == 2  # one per system block
    with engine.context(8, 256) as ctx:  # a later context (the next vote) restores them
        again = ctx.score(scoring_items, stems=stems)
        decoded_again = ctx.n_tokens_decoded
    assert decoded_first - decoded_again == sum(set(stems))  # the system blocks were not evaluated again
    with engine.context(3, 512) as ctx:  # another sequence layout cannot load them: saved anew, same numbers
        other_layout = ctx.score(scoring_items, stems=stems)
    assert len(engine.stems) == 4
    for (prefix, continuation), a, b, c in zip(scoring_items, first, again, other_layout):
        np.testing.assert_allclose(a, b, atol=LOGPROB_TOL)
        np.testing.assert_allclose(c, b, atol=LOGPROB_TOL)
        np.testing.assert_allclose(b, score_naively(reference_llm, prefix, continuation), atol=LOGPROB_TOL)


def test_start_shares_common_prefix_and_matches_unshared(engine, prompts):
    with engine.context(3, 256) as ctx:
        shared = np.array(ctx.start(prompts, share_prefix=True))
        unshared = np.array(ctx.start(prompts, share_prefix=False))
    np.testing.assert_allclose(log_softmax(shared, axis=1), log_softmax(unshared, axis=1), atol=LOGPROB_TOL)


def test_oversized_batch_is_chunked_with_exact_positions(engine, prompts):
    tokens = (prompts[1] * 8)[:100]
    with engine.context(1, 256, n_batch=32) as small, engine.context(1, 256, n_batch=512) as big:
        chunked = small.decode([Segment(0, tokens, "all")])[0]
        whole = big.decode([Segment(0, tokens, "all")])[0]
        assert small.n_decode_calls == 4  # ceil(100 / 32)
        assert small.n_past[0] == 100
    assert chunked.shape == (100, engine.n_vocab)
    np.testing.assert_allclose(log_softmax(chunked, axis=1), log_softmax(whole, axis=1), atol=1e-3)


def test_context_overflow_raises_before_llama_cpp(engine, prompts):
    with engine.context(2, 32) as ctx:
        with pytest.raises(ContextOverflowError, match="context has 32"):
            ctx.start([list(range(10, 50)), [1, 2]])
        ctx.start([prompts[2][:31], [1, 2]])
        ctx.step([5, 6])
        with pytest.raises(ContextOverflowError, match="is full"):
            ctx.step([5, 6])


def test_identity_is_recorded(engine):
    identity = engine.identity
    assert identity.file_name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert identity.n_vocab == engine.n_vocab == 49152
    assert len(identity.sha256) == 64 and identity.has_chat_template
    assert engine.identity is identity  # computed once


def test_chat_template_comes_from_the_gguf(engine):
    text = engine.render([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])
    assert engine.chat_template and "<|im_start|>user\nU<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")
    reply = engine.reply_tokens([{"role": "user", "content": "U"}], "Paris.")
    assert engine.detokenize(reply).startswith("Paris.")


def test_an_answer_is_tokenized_once_for_every_system_prompt_of_a_pair(engine):
    from edge_drift.rewards import Job, tokenize_job

    memo: dict = {}
    jobs = [Job(system, (), "Where is Paris?", "In France, on the Seine.") for system in ("Be brief.", "Be poetic.")]
    first, second = (tokenize_job(engine, job, 8, memo) for job in jobs)
    assert first == tokenize_job(engine, jobs[0], 8) and second == tokenize_job(engine, jobs[1], 8)
    assert first[1] == second[1] and first[0] != second[0]  # same answer tokens, each its own prefix
    assert len(memo) == 3  # two prefixes and one answer: the answer was tokenized once, then reused


def test_a_build_with_amx_kernels_is_refused_before_it_can_crash(monkeypatch):
    from edge_drift.engine import ALLOW_AMX_ENV, amx_build_problem

    assert amx_build_problem() is None  # `make install` builds llama.cpp without AMX on x86-64
    amx = "CPU : AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | OPENMP = 1 | "
    problem = amx_build_problem(amx)
    assert "llama.cpp#20824" in problem and "-mno-amx-int8" in problem and ALLOW_AMX_ENV in problem
    assert amx_build_problem(amx.replace("AMX_INT8 = 1 | ", "")) is None
    monkeypatch.setenv(ALLOW_AMX_ENV, "1")
    assert amx_build_problem(amx) is None


def test_scores_from_a_gpu_never_share_a_cache_with_cpu_scores(engine):
    from edge_drift.engine import scoring_key

    sha = engine.identity.sha256
    assert scoring_key(sha, 0, gpu_build=True) == sha == scoring_key(sha, -1, gpu_build=False)
    assert scoring_key(sha, -1, gpu_build=True) == f"{sha}+gpu-1" != scoring_key(sha, 20, gpu_build=True)
    # CI's build is CPU-only: its key stays the plain sha256, so the committed DSP scores keep matching
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():
        assert engine.scoring_key == sha
