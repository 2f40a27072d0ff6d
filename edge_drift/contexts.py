"""Multi-sequence llama.cpp contexts: many prompts decoded in one batch, scored, and their shared prefixes saved."""
from __future__ import annotations

import ctypes
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from .errors import ContextOverflowError

if TYPE_CHECKING:
    from .engine import Engine

Tokens = Sequence[int]
DEFAULT_N_BATCH = 512


class TokenBatch:
    """A llama_batch whose arrays are numpy buffers we own, filled in bulk (one seq id per token)."""

    def __init__(self, capacity: int):
        import llama_cpp

        self.capacity = capacity
        self.tokens = np.zeros(capacity, dtype=np.int32)
        self.positions = np.zeros(capacity, dtype=np.int32)
        self.seq_ids = np.zeros(capacity, dtype=np.int32)
        self.logit_flags = np.zeros(capacity, dtype=np.int8)
        self._n_seq_id = np.ones(capacity, dtype=np.int32)
        # seq_id is int32**: an array of pointers, each into our flat seq_ids buffer.
        int_ptr = ctypes.POINTER(llama_cpp.llama_seq_id)
        base = self.seq_ids.ctypes.data
        self._seq_ptrs = (int_ptr * capacity)(
            *[ctypes.cast(base + 4 * i, int_ptr) for i in range(capacity)]
        )
        self.batch = llama_cpp.llama_batch()
        self.batch.token = self.tokens.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_token))
        self.batch.embd = None
        self.batch.pos = self.positions.ctypes.data_as(ctypes.POINTER(llama_cpp.llama_pos))
        self.batch.n_seq_id = self._n_seq_id.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        self.batch.seq_id = self._seq_ptrs
        self.batch.logits = self.logit_flags.ctypes.data_as(ctypes.POINTER(ctypes.c_int8))

    def fill(self, tokens: np.ndarray, positions: np.ndarray, seq_ids: np.ndarray, want_logits: np.ndarray) -> None:
        n = len(tokens)
        if n > self.capacity:
            raise ValueError(f"batch of {n} tokens exceeds capacity {self.capacity}")
        self.tokens[:n] = tokens
        self.positions[:n] = positions
        self.seq_ids[:n] = seq_ids
        self.logit_flags[:n] = want_logits
        self.batch.n_tokens = n


MAX_SAVED_STEMS = 128  # 48 attributes + base, with room for custom attribute sets


@dataclass
class Segment:
    """Tokens to append to one sequence and which of their logits to keep ('none', 'last' or 'all')."""

    seq: int
    tokens: Tokens
    logits: str = "last"
    # With targets (one per kept row) decode returns their log-probabilities instead of the rows,
    # computed on llama.cpp's buffer in place: copying every (n, n_vocab) row would cost more.
    targets: np.ndarray | None = None


class StemCache:
    """Saved KV states of recurring prefixes (attribute system blocks), keyed by (sequence layout, tokens).

    One per model (its Engine owns it), shared by every scoring context of that model, so a vote scored
    after a fit restores them instead of evaluating them again. Bounded: the oldest is forgotten first."""

    def __init__(self, capacity: int = MAX_SAVED_STEMS):
        self.capacity = capacity
        self._states: dict[tuple[int, tuple[int, ...]], object] = {}

    def get(self, key: tuple[int, tuple[int, ...]]):
        return self._states.get(key)

    def put(self, key: tuple[int, tuple[int, ...]], state) -> None:
        if len(self._states) >= self.capacity:  # ~0.4 MB each: forget the oldest
            self._states.pop(next(iter(self._states)))
        self._states[key] = state

    def clear(self) -> None:
        self._states.clear()

    def __len__(self) -> int:
        return len(self._states)


class MultiSequenceContext:
    """A llama.cpp context with n_seq sequences (non-unified KV cache) driven by explicit positions."""

    def __init__(self, engine: "Engine", n_seq: int, n_ctx_per_seq: int, n_batch: int = DEFAULT_N_BATCH):
        import llama_cpp
        from llama_cpp import _internals

        if not 1 <= n_seq <= 256:
            raise ValueError(f"n_seq must be in 1..256 (llama.cpp's LLAMA_MAX_SEQ), got {n_seq}")
        self.engine = engine
        self.n_seq = n_seq
        self.n_ctx_per_seq = n_ctx_per_seq
        self.n_batch = n_batch
        self.n_vocab = engine.n_vocab
        # Start from the Llama's own params so both contexts compute the same numbers (same
        # flash-attention choice, KV types, threads); only the sequence layout differs.
        params = llama_cpp.llama_context_params.from_buffer_copy(engine.llm.context_params)
        params.n_ctx = n_seq * n_ctx_per_seq
        params.n_batch = n_batch
        params.n_ubatch = n_batch
        params.n_seq_max = n_seq
        params.n_threads = engine.n_threads
        params.n_threads_batch = engine.n_threads
        params.kv_unified = False  # per-sequence streams: each sequence's rows are exact and independent of the others
        self._exit = ExitStack()
        self._ctx = _internals.LlamaContext(model=engine.native_model, params=params, verbose=False)
        self._exit.callback(self._ctx.close)
        self.ctx = self._ctx.ctx
        self.memory = llama_cpp.llama_get_memory(self.ctx)
        # llama.cpp may round n_ctx; never promise a sequence more positions than it really has.
        self.n_ctx_per_seq = min(n_ctx_per_seq, llama_cpp.llama_n_ctx(self.ctx) // n_seq)
        self._llama_cpp = llama_cpp
        self.batch = TokenBatch(n_batch)
        self.n_past = np.zeros(n_seq, dtype=np.int64)
        self.history: list[list[int]] = [[] for _ in range(n_seq)]  # tokens in each sequence's KV
        self.n_decode_calls = 0
        self.n_tokens_decoded = 0
        self.n_logit_rows = 0  # tokens whose full-vocabulary row was computed (the costly part of scoring)
        self._stems = engine.stems  # the model's saved prefixes (see score): later contexts reuse them

    # -- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        self._exit.close()

    def __enter__(self) -> "MultiSequenceContext":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- sequence bookkeeping ----------------------------------------------------------------
    def _check_seq(self, seq: int) -> None:
        if not 0 <= seq < self.n_seq:
            raise ValueError(f"sequence {seq} out of range 0..{self.n_seq - 1}")

    def clear(self) -> None:
        # Metadata only: zeroing the whole KV buffer (n_seq x n_ctx cells) cost ~18 ms per scoring wave,
        # and a cleared cell is always rewritten before any sequence can attend to it.
        self._llama_cpp.llama_memory_clear(self.memory, False)
        self.n_past[:] = 0
        self.history = [[] for _ in range(self.n_seq)]

    def truncate(self, seq: int, n_keep: int = 0) -> None:
        """Forget the positions >= n_keep of one sequence (call llama.cpp directly: see DESIGN §5)."""
        self._check_seq(seq)
        if not self._llama_cpp.llama_memory_seq_rm(self.memory, seq, n_keep, -1):
            # llama.cpp refuses partial removal from some caches; continuing would desync positions
            raise RuntimeError(f"llama.cpp could not drop positions >= {n_keep} of sequence {seq}")
        self.n_past[seq] = min(self.n_past[seq], n_keep)
        del self.history[seq][n_keep:]

    def copy(self, src: int, dst: int) -> None:
        """Make dst an exact copy of src (whole-sequence copy; the only kind a non-unified cache does)."""
        self._check_seq(src)
        self._check_seq(dst)
        if src == dst:
            return
        if not self._llama_cpp.llama_memory_seq_rm(self.memory, dst, -1, -1):
            raise RuntimeError(f"llama.cpp could not clear sequence {dst} before copying into it")
        self._llama_cpp.llama_memory_seq_cp(self.memory, src, dst, -1, -1)  # returns void: nothing to check
        self.n_past[dst] = self.n_past[src]
        self.history[dst] = list(self.history[src])

    # -- decoding ------------------------------------------------------------------------------
    def decode(self, segments: Sequence[Segment]) -> list[np.ndarray]:
        """Append every segment to its sequence, chunked into batches of at most n_batch tokens.

        Tokens are laid out position-major (round-robin over sequences) so each chunk holds about
        the same number of tokens per sequence: llama.cpp splits non-unified batches into equal
        per-sequence ubatches, and ragged chunks would fragment into many small ones.
        Returns, per segment, a float32 array of the requested logits rows (0, 1 or len rows), or
        the float64 log-probabilities of its targets.
        """
        plan = self._layout(segments)
        outputs: list[list[np.ndarray]] = [[] for _ in segments]
        for start in range(0, len(plan[0]), self.n_batch):
            chunk = slice(start, start + self.n_batch)
            tokens, positions, seqs, flags, owners, targets = (column[chunk] for column in plan)
            self.batch.fill(tokens, positions, seqs, flags)
            self._decode_batch()
            kept = flags.astype(bool)
            rows = self._logits_view(int(kept.sum()))
            row_owners, row_targets = owners[kept], targets[kept]
            # Scoring (every row has a target): log-probs straight from llama.cpp's buffer, no copy of the rows.
            scored = len(row_targets) > 0 and bool((row_targets >= 0).all())
            values = token_logprobs(rows, row_targets) if scored else rows
            for index in np.unique(row_owners):
                mask = row_owners == index
                mine = values[mask]  # boolean indexing copies: ours to keep after the next decode
                if not scored and segments[index].targets is not None:
                    mine = token_logprobs(mine, row_targets[mask])
                outputs[index].append(mine)
        return [np.concatenate(o) if o else self._empty(s) for o, s in zip(outputs, segments)]

    def _empty(self, segment: Segment) -> np.ndarray:
        return np.empty(0) if segment.targets is not None else np.empty((0, self.n_vocab), np.float32)

    def _layout(self, segments: Sequence[Segment]) -> tuple[np.ndarray, ...]:
        columns = []
        for index, segment in enumerate(segments):
            self._check_seq(segment.seq)
            n = len(segment.tokens)
            start = int(self.n_past[segment.seq])
            if start + n > self.n_ctx_per_seq:
                raise ContextOverflowError(
                    f"sequence {segment.seq} would hold {start + n} tokens but its context has "
                    f"{self.n_ctx_per_seq}; shorten the input or raise the context size"
                )
            flags = np.zeros(n, dtype=np.int8)
            if segment.logits == "all":
                flags[:] = 1
            elif segment.logits == "last" and n:
                flags[-1] = 1
            offsets = np.arange(n)
            row_targets = np.full(n, -1, dtype=np.int64)  # per token: the target its kept row scores, or -1
            if segment.targets is not None:
                row_targets[flags.astype(bool)] = segment.targets
            columns.append((np.asarray(segment.tokens, np.int32), start + offsets, np.full(n, segment.seq),
                            flags, np.full(n, index), row_targets, offsets))
            self.n_past[segment.seq] += n
            self.history[segment.seq].extend(int(t) for t in segment.tokens)
        if not columns:
            return tuple(np.empty(0, np.int32) for _ in range(6))
        *data, offsets = (np.concatenate(c) for c in zip(*columns))
        order = np.lexsort((data[2], offsets))  # position-major, then by sequence id
        return tuple(column[order] for column in data)

    def _decode_batch(self) -> None:
        code = self._llama_cpp.llama_decode(self.ctx, self.batch.batch)
        self.n_decode_calls += 1
        self.n_tokens_decoded += int(self.batch.batch.n_tokens)
        self.n_logit_rows += int(self.batch.logit_flags[:self.batch.batch.n_tokens].sum())
        if code != 0:
            raise RuntimeError(f"llama_decode failed with code {code} (1 = no KV slot: context too small)")

    def _logits_view(self, n_rows: int) -> np.ndarray:
        """All output rows of the last decode as one (n_rows, n_vocab) view, valid until the next decode."""
        if n_rows == 0:
            return np.empty((0, self.n_vocab), np.float32)
        pointer = self._llama_cpp.llama_get_logits(self.ctx)
        return np.ctypeslib.as_array(pointer, shape=(n_rows, self.n_vocab))

    def start(self, prompts: Sequence[Tokens], share_prefix: bool = True) -> np.ndarray:
        """Start sequences 0..N-1 from token lists; return (N, n_vocab) next-token logits.

        The longest prefix common to all prompts is evaluated once in sequence 0 and copied.
        """
        if not prompts or len(prompts) > self.n_seq:
            raise ValueError(f"need 1..{self.n_seq} prompts, got {len(prompts)}")
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        for seq in range(len(prompts)):
            self.truncate(seq, 0)
        shared = common_prefix_length(prompts) if share_prefix and len(prompts) > 1 else 0
        shared = min(shared, min(len(p) for p in prompts) - 1)  # each sequence keeps >= 1 own token
        if shared > 0:
            self.decode([Segment(0, prompts[0][:shared], "none")])
            for seq in range(1, len(prompts)):
                self.copy(0, seq)
        rows = self.decode([Segment(seq, p[shared:], "last") for seq, p in enumerate(prompts)])
        return np.concatenate(rows)

    def sync(self, prompts: Sequence[Tokens]) -> np.ndarray:
        """Bring sequences 0..N-1 to these prompts, reusing what each already holds in its KV cache.

        A chat's next turn only evaluates its new tokens; fresh sequences share a common prefix.
        Returns the (N, n_vocab) next-token logits.
        """
        if all(not self.history[seq] for seq in range(len(prompts))):
            return self.start(prompts)
        segments = []
        for seq, prompt in enumerate(prompts):
            keep = min(common_prefix_length([self.history[seq], prompt]), len(prompt) - 1)
            self.truncate(seq, keep)
            segments.append(Segment(seq, prompt[keep:], "last"))
        return np.concatenate(self.decode(segments))

    def step(self, tokens: Tokens, seqs: Sequence[int] | None = None) -> np.ndarray:
        """Append one token to each sequence in ONE llama_decode; return the (N, n_vocab) logits view.

        The view is only valid until the next decode on this context (copy it to keep it).
        """
        seqs = list(range(len(tokens))) if seqs is None else list(seqs)
        if len(seqs) != len(tokens) or len(tokens) > self.n_batch:
            raise ValueError("step needs one token per sequence and at most n_batch sequences")
        for seq in seqs:
            self._check_seq(seq)
            if self.n_past[seq] + 1 > self.n_ctx_per_seq:
                raise ContextOverflowError(
                    f"sequence {seq} is full ({self.n_ctx_per_seq} tokens); shorten the conversation"
                )
        n = len(tokens)
        positions = self.n_past[seqs]
        self.batch.fill(np.asarray(tokens), positions, np.asarray(seqs), np.ones(n, np.int8))
        self._decode_batch()
        self.n_past[seqs] += 1
        for seq, token in zip(seqs, tokens):
            self.history[seq].append(int(token))
        return self._logits_view(n)

    def score(self, items: Sequence[tuple[Tokens, Tokens]], share_prefix: bool = True,
              stems: Sequence[int] | None = None) -> list[np.ndarray]:
        """Per-token log-probabilities of each continuation given its prefix, batched.

        Items with an identical prefix evaluate it once (in one sequence) and copy it to the
        sequences of the others. Work is done in waves of at most n_seq sequences. `stems` gives,
        per item, how many leading prefix tokens form a stem worth keeping across calls (e.g. a
        system block that every pair repeats): it is evaluated once, on its own, kept as saved KV
        state and restored into later sequences instead of being evaluated again.
        """
        results: list[np.ndarray | None] = [None] * len(items)
        groups = group_by_prefix(items) if share_prefix else [[i] for i in range(len(items))]
        for wave in waves(groups, self.n_seq):
            self._score_wave(items, wave, results, stems)
        return results  # type: ignore[return-value]

    def _score_wave(self, items, wave: list[list[int]], results: list, stems: Sequence[int] | None) -> None:
        self.clear()
        # Heads (one per prefix) take sequences 0..G-1 and the copies the ones after: llama.cpp attends
        # over the contiguous range of KV streams a batch touches, so heads spread over every other
        # stream made each prefix decode ~15% slower (the unused streams in between were computed too).
        heads = [group[0] for group in wave]
        copies = [item for group in wave for item in group[1:]]
        seq_of = {item: seq for seq, item in enumerate(heads + copies)}
        starts = [self._restore_stem(seq_of[h], items[h][0], stems[h] if stems else 0) for h in heads]
        prefix_rows = self.decode([Segment(seq_of[h], items[h][0][start:], "last") for h, start in zip(heads, starts)])
        first_row = {}
        for group, row in zip(wave, prefix_rows):
            for item in group:
                first_row[item] = row[0]
                self.copy(seq_of[group[0]], seq_of[item])
        flat = [item for group in wave for item in group]
        continuations = [np.asarray(items[i][1], dtype=np.int64) for i in flat]
        rest = self.decode([Segment(seq_of[i], c[:-1], "all", targets=c[1:]) for i, c in zip(flat, continuations)])
        for item, c, tail in zip(flat, continuations, rest):
            results[item] = np.concatenate([token_logprobs(first_row[item][None, :], c[:1]), tail])

    # -- stems: KV state of a recurring prefix, saved once and restored -------------------------------
    def _restore_stem(self, seq: int, prefix: Tokens, length: int) -> int:
        """Put prefix[:length] into the (empty) sequence from saved state; return how many tokens it holds.

        A stem is always computed alone, in a decode of its own, so its numbers never depend on what
        it was first scored with: a pair scored later, or alone, sees exactly the same state.
        """
        if length <= 0 or length >= len(prefix):  # the prefix must keep >= 1 token to produce its row
            return 0
        tokens = tuple(int(t) for t in prefix[:length])
        # A saved state only loads into a context with the same number of sequences (llama.cpp keeps
        # one KV stream per sequence), so the layout is part of the key.
        key = (self.n_seq, tokens)
        state = self._stems.get(key)
        llama_cpp = self._llama_cpp
        if state is None:
            self.decode([Segment(seq, tokens, "none")])
            size = llama_cpp.llama_state_seq_get_size(self.ctx, seq)
            state = (ctypes.c_uint8 * size)()
            if llama_cpp.llama_state_seq_get_data(self.ctx, state, size, seq) != size:
                raise RuntimeError("llama.cpp could not save a sequence's state")
            self._stems.put(key, state)
            return length
        if not llama_cpp.llama_state_seq_set_data(self.ctx, state, len(state), seq):
            raise RuntimeError(f"llama.cpp could not restore a saved prefix into sequence {seq}")
        self.n_past[seq] = length
        self.history[seq] = list(tokens)
        return length


def token_logprobs(logits: np.ndarray, targets: np.ndarray, block: int = 4) -> np.ndarray:
    """log softmax(logits[t])[targets[t]] per row; float32 work (numpy sums pairwise), float64 result.

    A few rows at a time, so the exponentials stay in the CPU's cache: half the time of whole-array passes.
    """
    out = np.empty(len(targets))
    work = np.empty((block, logits.shape[1]), np.float32)
    for start in range(0, len(targets), block):
        rows = logits[start:start + block]
        n = len(rows)
        peak = rows.max(axis=1)
        shifted = np.subtract(rows, peak[:, None], out=work[:n])
        np.exp(shifted, out=shifted)
        log_norm = np.log(shifted.sum(axis=1, dtype=np.float32)).astype(np.float64) + peak
        out[start:start + n] = rows[np.arange(n), targets[start:start + n]].astype(np.float64) - log_norm
    return out


def common_prefix_length(sequences: Sequence[Tokens]) -> int:
    first = sequences[0]
    n = min(len(s) for s in sequences)
    for i in range(n):
        token = first[i]
        if any(s[i] != token for s in sequences[1:]):
            return i
    return n


def group_by_prefix(items: Sequence[tuple[Tokens, Tokens]]) -> list[list[int]]:
    groups: dict[tuple, list[int]] = {}
    for index, (prefix, _) in enumerate(items):
        groups.setdefault(tuple(prefix), []).append(index)
    return list(groups.values())


def waves(groups: list[list[int]], capacity: int) -> Iterable[list[list[int]]]:
    """Pack prefix groups into waves of at most `capacity` sequences (big groups are split)."""
    wave: list[list[int]] = []
    used = 0
    for group in groups:
        for start in range(0, len(group), capacity):
            part = group[start:start + capacity]
            if used + len(part) > capacity:
                yield wave
                wave, used = [], 0
            wave.append(part)
            used += len(part)
    if wave:
        yield wave
