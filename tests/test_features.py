"""Speed rewrites of O's match features must give the same numbers as the direct formulas."""

import numpy as np

from chatmem.features import N_PAIR, L, StoryIndex, Vocab, _content_matrix, _pair_block


def _direct_bridge(idx: StoryIndex, n: int, ref_content: list[int]) -> np.ndarray:
    """Feature 15 as first written: A A^T over the words the reference lacks."""
    W, cols = _content_matrix(idx, n)
    in_ref = np.isin(cols, ref_content)
    A, B = W[:, ~in_ref], W[:, in_ref]
    return np.minimum(((A @ A.T > 0) & ((1 - B) @ B.T > 0)).sum(1), 3) / 3


def test_bridge_feature_equals_the_direct_formula():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(60)] + ["the", "went", "to"]
    vocab = Vocab(["<pad>", "<unk>"] + words, ["<stop>"], [])
    for trial in range(20):
        n = int(rng.integers(2, 120))
        toks = [tuple(rng.choice(words, size=int(rng.integers(1, L + 3)))) for _ in range(n)]
        idx = StoryIndex(toks, vocab)
        for ref in [int(rng.integers(n))] * 2 + [n]:      # a memory (twice: cached blocks) and the question
            rtoks = toks[ref] if ref < n else tuple(rng.choice(words, size=5))
            rcontent = idx.content_ids(rtoks)
            rseq = np.full(L, -1, dtype=np.int64)
            rseq[: min(L, len(rtoks))] = idx.local_ids(rtoks[:L])
            out = np.zeros((n + 1, N_PAIR), dtype=np.float32)
            mask = np.zeros((n + 1, L), dtype=bool)
            _pair_block(idx, n, ref, rcontent, rseq, out, mask)
            want = _direct_bridge(idx, n, rcontent) if rcontent and n > 1 else np.zeros(n)
            assert np.array_equal(out[:n, 15], want.astype(np.float32)), (trial, ref)
