"""One loaded GGUF model: llama-cpp-python's Llama (templates, sampling), its identity, and its scoring contexts."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

from .contexts import DEFAULT_N_BATCH, MultiSequenceContext, StemCache, Tokens
from .errors import ModelLoadError
from .files import atomic_write
from .models import resolve_model


def physical_cores() -> int:
    """llama.cpp's OpenMP threads spin: more threads than physical cores only slows it down."""
    try:
        with open("/proc/cpuinfo") as handle:
            text = handle.read()
    except OSError:
        return os.cpu_count() or 1
    cores, physical = set(), "0"
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "physical id":
            physical = value.strip()
        elif key.strip() == "core id":
            cores.add((physical, value.strip()))
    return len(cores) or os.cpu_count() or 1


@dataclass(frozen=True)
class ModelIdentity:
    """What a profile records about the model that scored it, so a mismatch can be detected."""

    file_name: str
    size_bytes: int
    sha256: str
    n_vocab: int
    has_chat_template: bool

    def to_dict(self) -> dict:
        return asdict(self)


def file_sha256(path: Path) -> str:
    """sha256 of a model file, cached next to the user's model cache keyed by path, size and mtime."""
    from .paths import hashes_dir

    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()[:24]
    memo = hashes_dir() / f"{key}.json"
    if memo.is_file():
        try:
            value = json.loads(memo.read_text(encoding="utf-8"))["sha256"]
            if isinstance(value, str) and len(value) == 64:
                return value
        except (ValueError, KeyError, TypeError):
            pass  # a damaged memo is only a cost: hash the file again and rewrite it
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    try:
        atomic_write(memo, json.dumps({"path": str(path), "sha256": value}))  # never half-written
    except OSError:
        pass  # a read-only home only costs recomputing next time
    return value


GPU_LAYERS_ENV = "EDGE_DRIFT_N_GPU_LAYERS"


def gpu_layers(requested: int | None = None) -> int:
    """Layers to offload: the request, else $EDGE_DRIFT_N_GPU_LAYERS, else all (-1) when this llama.cpp
    build has a GPU backend (Metal, CUDA, Vulkan) and 0 on CPU-only builds (untested on CI's CPU machine)."""
    if requested is None and os.environ.get(GPU_LAYERS_ENV, "").strip():
        value = os.environ[GPU_LAYERS_ENV].strip()
        try:
            requested = int(value)
        except ValueError:
            raise ModelLoadError(f"{GPU_LAYERS_ENV}={value!r} is not a number; use -1 (all layers), 0 (CPU) or N") from None
    if requested is not None:
        return requested
    import llama_cpp

    return -1 if llama_cpp.llama_supports_gpu_offload() else 0


def scoring_key(sha256: str, n_gpu_layers: int, gpu_build: bool) -> str:
    """What scored log-probs are cached under: the model's sha256, plus the offload when a GPU computes them.

    A GPU backend's kernels (CUDA turns flash attention on) move this model's per-token log-probs by ~0.2
    nats against the CPU's (docs/RESULTS.md), so scores from the two must never meet in one cache.
    """
    return sha256 if n_gpu_layers == 0 or not gpu_build else f"{sha256}+gpu{n_gpu_layers}"


ALLOW_AMX_ENV = "EDGE_DRIFT_ALLOW_AMX"


def amx_build_problem(system_info: str | None = None) -> str | None:
    """Why this llama.cpp build would crash, if it was built with AMX kernels; None when it is safe.

    llama.cpp's AMX matrix multiply segfaults on the embedded model (ggml-org/llama.cpp#20824), and a
    segfault cannot be caught, so a build compiled natively on a Xeon with AMX is refused before loading.
    """
    if system_info is None:
        import llama_cpp

        system_info = llama_cpp.llama_print_system_info().decode(errors="replace")
    if "AMX_INT8 = 1" not in system_info or os.environ.get(ALLOW_AMX_ENV) == "1":
        return None
    return ("this llama-cpp-python was built with llama.cpp's AMX kernels, which crash (ggml-org/llama.cpp#20824); "
            "rebuild it without them: `make install` in the edge-drift checkout, or CMAKE_ARGS=\"-DCMAKE_C_FLAGS="
            "'-mno-amx-tile -mno-amx-int8' -DCMAKE_CXX_FLAGS='-mno-amx-tile -mno-amx-int8'\" pip install "
            f"--force-reinstall --no-cache-dir --no-deps llama-cpp-python (or set {ALLOW_AMX_ENV}=1 to try anyway)")


class Engine:
    """A GGUF model loaded once: the high-level Llama (sampling, templates) + multi-sequence contexts."""

    def __init__(self, model: str | os.PathLike | None = None, *, n_ctx: int = 4096,
                 n_threads: int | None = None, n_gpu_layers: int | None = None, verbose: bool = False):
        from llama_cpp import Llama

        self.path = resolve_model(model)
        problem = amx_build_problem()
        if problem:
            raise ModelLoadError(problem)
        self.n_threads = n_threads or physical_cores()
        self.n_gpu_layers = gpu_layers(n_gpu_layers)
        try:
            self.llm = Llama(model_path=str(self.path), n_ctx=n_ctx, n_batch=DEFAULT_N_BATCH,
                             n_threads=self.n_threads, n_threads_batch=self.n_threads,
                             n_gpu_layers=self.n_gpu_layers, verbose=verbose)
        except (ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"llama.cpp could not load {self.path}: {exc}; is the file complete?") from exc
        self.n_vocab = self.llm.n_vocab()
        self.stems = StemCache()  # saved KV states of this model's recurring prefixes, for every context

    @property
    def native_model(self):
        """llama-cpp-python's model handle (private there: `Llama._model`), which extra contexts are built on."""
        return self.llm._model

    def close(self) -> None:
        self.stems.clear()
        self.llm.close()

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- templates and tokens ------------------------------------------------------------------
    @cached_property
    def chat_template(self) -> str | None:
        return self.llm.metadata.get("tokenizer.chat_template")

    @cached_property
    def _formatter(self):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        if not self.chat_template:
            raise ModelLoadError(f"{self.path.name} has no chat template in its GGUF metadata; use an instruct model")
        vocab = self.native_model
        return {
            flag: Jinja2ChatFormatter(
                template=self.chat_template,
                eos_token=self.llm.detokenize([self.llm.token_eos()], special=True).decode(errors="ignore"),
                bos_token=self.llm.detokenize([self.llm.token_bos()], special=True).decode(errors="ignore")
                if vocab.token_bos() >= 0 else "",
                add_generation_prompt=flag,
            )
            for flag in (True, False)
        }

    def render(self, messages: list[dict], add_generation_prompt: bool = True) -> str:
        """Chat messages to prompt text with the GGUF's own chat template."""
        return self._formatter[add_generation_prompt](messages=messages).prompt

    def tokenize(self, text: str, special: bool = True, memo: dict | None = None) -> list[int]:
        """Text to tokens; `memo` (text, special) -> tokens spares re-tokenizing text that recurs, e.g. an
        answer scored under every system prompt of its pair (tokenizing, not rendering, is what costs)."""
        if memo is None:
            return self.llm.tokenize(text.encode(), add_bos=False, special=special)
        key = (text, special)
        if key not in memo:
            memo[key] = self.llm.tokenize(text.encode(), add_bos=False, special=special)
        return memo[key]

    def chat_tokens(self, messages: list[dict], add_generation_prompt: bool = True, memo: dict | None = None) -> list[int]:
        return self.tokenize(self.render(messages, add_generation_prompt), memo=memo)

    def reply_tokens(self, messages: list[dict], reply: str, memo: dict | None = None) -> list[int]:
        """Tokens the template appends after the generation prompt for an assistant reply (incl. end of turn)."""
        prompt = self.render(messages, True)
        full = self.render(messages + [{"role": "assistant", "content": reply}], False)
        # templates that restyle past turns: the reply alone
        text, special = (full[len(prompt):], True) if full.startswith(prompt) else (reply, False)
        return self.tokenize(text, special=special, memo=memo)

    def detokenize(self, tokens: Tokens) -> str:
        return self.llm.detokenize(list(tokens)).decode("utf-8", errors="replace")

    # -- contexts and identity ----------------------------------------------------------------------
    def context(self, n_seq: int, n_ctx_per_seq: int = 1024, n_batch: int = DEFAULT_N_BATCH) -> MultiSequenceContext:
        return MultiSequenceContext(self, n_seq, n_ctx_per_seq, n_batch)

    @cached_property
    def scoring_key(self) -> str:
        import llama_cpp

        return scoring_key(self.identity.sha256, self.n_gpu_layers, bool(llama_cpp.llama_supports_gpu_offload()))

    @cached_property
    def identity(self) -> ModelIdentity:
        return ModelIdentity(
            file_name=self.path.name,
            size_bytes=self.path.stat().st_size,
            sha256=file_sha256(self.path),
            n_vocab=self.n_vocab,
            has_chat_template=bool(self.chat_template),
        )
