"""Speed rewrites of O's match features must give the same numbers as the direct formulas."""

import numpy as np

from chatmem.features import N_PAIR, L, StoryIndex, Vocab, _content_matrix, _cooccurrence, _ngrams, _pair_block


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


def _direct_pair_block(idx: StoryIndex, n: int, ref_pos: int, ref_content: list[int], ref_seq: np.ndarray,
                       out: np.ndarray, mask: np.ndarray) -> None:
    """_pair_block as first written: every memory's 12 slots compared with each reference word."""
    pos = np.arange(n)
    out[:n, 0] = 1.0
    lid = idx.lid[:n]
    shared = np.zeros(n, dtype=np.float32)
    first_pos = []
    rel_ref = np.zeros(n)
    rel_mem = np.zeros(n)
    ref_len = int((ref_seq >= 0).sum())
    lens = (lid >= 0).sum(1)
    for w in ref_content:
        hit = lid == w
        rows = hit.any(1)
        occ = np.flatnonzero(rows)
        if occ.size == 0:
            continue
        mask[:n] |= hit
        shared += rows
        out[occ[-1], 3] = 1.0
        before = occ[occ < ref_pos]
        if before.size:
            out[before[-1], 4] = 1.0
        after = occ[occ > ref_pos]
        if after.size:
            out[after[0], 5] = 1.0
        where = np.flatnonzero(ref_seq == w)
        if where.size:
            cpos = np.where(rows, hit.argmax(1), -1)
            first_pos.append((where[0], cpos))
            rel_ref[rows] += where[0] / max(1, ref_len - 1)
            rel_mem[rows] += cpos[rows] / np.maximum(1, lens[rows] - 1)
    out[:n, 16] = rel_ref / np.maximum(shared, 1)
    out[:n, 17] = rel_mem / np.maximum(shared, 1)
    out[:n, 1] = np.minimum(shared, 3) / 3
    out[:n, 2] = shared > 0
    out[:n, 6] = pos > ref_pos
    out[:n, 7] = pos == ref_pos + 1
    out[:n, 8] = pos == ref_pos - 1
    out[:n, 9] = np.clip((pos - ref_pos) / 10.0, -3, 3)
    out[:n, 10] = pos == ref_pos
    for g, col in ((2, 11), (3, 12)):
        code, ok = idx.ngrams[g][0][:n], idx.ngrams[g][1][:n]
        rcode, rok = _ngrams(ref_seq, g)
        rcode = rcode[rok]
        if rcode.size:
            out[:n, col] = np.minimum(((code[..., None] == rcode).any(-1) & ok).sum(1), 3) / 3
    if ref_content and n > 1:
        W, cols = _content_matrix(idx, n)
        ref = np.asarray(ref_content, dtype=np.int64)
        at = np.searchsorted(cols, ref).clip(max=max(cols.size - 1, 0))
        in_ref = np.zeros(cols.size, dtype=bool)
        if cols.size:
            in_ref[at[cols[at] == ref]] = True
        B = W[:, in_ref]
        # i and j share a word the reference lacks: A A^T with A = W[:, ~in_ref], as W W^T (once per n) minus
        # B B^T. Counts of 0/1 products are exact in float32, so this is the same matrix at a fraction of the cost.
        # Both count only words two memories hold: the diagonal may differ, and reaches_ref's is always False.
        WW, shared = _cooccurrence(idx, n)
        Bs = W[:, in_ref & shared]
        via_other = WW - Bs @ Bs.T > 0
        reaches_ref = (1 - B) @ B.T > 0              # j shares a reference word that i lacks
        out[:n, 15] = np.minimum((via_other & reaches_ref).sum(1), 3) / 3
    first_pos.sort(key=lambda t: t[0])
    conc = np.zeros(n)
    disc = np.zeros(n)
    for a in range(len(first_pos)):
        for b in range(a + 1, len(first_pos)):
            pa, pb = first_pos[a][1], first_pos[b][1]
            both = (pa >= 0) & (pb >= 0)
            conc += both & (pa < pb)
            disc += both & (pa > pb)
    out[:n, 13] = np.minimum(conc, 3) / 3
    out[:n, 14] = np.minimum(disc, 3) / 3


def test_pair_block_equals_the_direct_form():
    """Every feature and the shared-word mask, for memories and questions with repeated words and n-grams."""
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(25)] + ["the", "went", "to"]
    vocab = Vocab(["<pad>", "<unk>"] + words, ["<stop>"], [])
    for trial in range(40):
        n_all = int(rng.integers(1, 150))
        toks = [tuple(rng.choice(words, size=int(rng.integers(0, L + 4)))) for _ in range(n_all)]
        idx = StoryIndex(toks, vocab)
        for n in sorted({n_all, int(rng.integers(1, n_all + 1))}):     # blocks over the first n memories too
            for ref in [int(rng.integers(n))] * 2 + [n]:
                rtoks = toks[ref] if ref < n else tuple(rng.choice(words + ["unseen"], size=int(rng.integers(1, 9))))
                rcontent = idx.content_ids(rtoks)
                rseq = np.full(L, -1, dtype=np.int64)
                rseq[: min(L, len(rtoks))] = idx.local_ids(rtoks[:L])
                got = (np.zeros((n + 1, N_PAIR), dtype=np.float32), np.zeros((n + 1, L), dtype=bool))
                want = (np.zeros((n + 1, N_PAIR), dtype=np.float32), np.zeros((n + 1, L), dtype=bool))
                _pair_block(idx, n, ref, rcontent, rseq, *got)
                _direct_pair_block(idx, n, ref, rcontent, rseq, *want)
                assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), (trial, n, ref)


def test_word_of_a_local_id_and_isin():
    """StoryIndex.word inverts the local ids as more memories and questions add words; _isin is np.isin."""
    from chatmem.features import _isin

    vocab = Vocab(["<pad>", "<unk>", "mary", "kitchen"], ["<stop>", "kitchen"], [])
    idx = StoryIndex([["mary", "went", "to", "the", "kitchen"]], vocab)
    assert [idx.word(i) for i in range(len(idx.local))] == ["mary", "went", "to", "the", "kitchen"]
    idx.query(["where", "is", "zoltan", "?"])
    idx.extend([["zoltan", "took", "the", "apple"]])
    assert {idx.word(i): i for i in range(len(idx.local))} == idx.local
    assert vocab.answer_of().tolist() == [-1, -1, -1, 1]
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = rng.integers(-1, 6, size=(rng.integers(0, 4), L))
        b = rng.integers(-1, 6, size=rng.integers(0, 5))
        assert np.array_equal(_isin(a, b), np.isin(a, b))
        assert np.array_equal(_isin(a, list(b)), np.isin(a, list(b)))


def test_an_unseen_plural_matches_its_singular_and_known_words_stay_exact():
    """Unseen words lose a plural "s" for exact matches ("Zorbs are afraid of glims." meets "Tim is a zorb."),
    while vocabulary words keep their own ids and a word is said as the story writes it."""
    vocab = Vocab(["<pad>", "<unk>", "cat", "cats", "is", "a", "are", "afraid", "of"], ["<stop>"], [])
    idx = StoryIndex([["zorbs", "are", "afraid", "of", "glims"], ["tim", "is", "a", "zorb"], ["cats", "are", "cat"],
                      ["james", "is", "afraid", "of", "glass"]], vocab)
    assert idx.lid_of("zorbs") == idx.lid_of("zorb") != -1
    assert idx.lid_of("cats") != idx.lid_of("cat")                 # the embeddings relate these
    assert idx.lid_of("glass") != idx.lid_of("glas") == -1          # no "ss" is a plural
    assert idx.lid_of("nowhere") == -1 and idx.lid_of("nowhere", None) is None
    assert idx.word(idx.lid_of("zorbs")) == "zorb"                  # the bare form, seen after the plural
    assert idx.word(idx.lid_of("glims")) == "glims" and idx.word(idx.lid_of("james")) == "james"
    assert set(idx.content[0]) & set(idx.content[1]) == {idx.lid_of("zorb")}
    idx.query(["where", "do", "they", "live"])          # a question's words never change how a memory's are said
    idx.extend([["bruno", "lives", "in", "tallinn"]])
    assert idx.word(idx.lid_of("lives")) == "lives"


def test_memories_told_one_at_a_time_match_plurals_as_a_story_read_at_once(hash_encoder):
    """The app stores one statement at a time: a plural written (or asked about) before its singular must
    still meet it, as when the whole story is indexed at once."""
    from chatmem.bot import Bot
    from chatmem.memory import EphemeralMemory

    bot = Bot(EphemeralMemory(), encoder=hash_encoder).load(encoder=False)
    bot.observe("Zorbs are afraid of glims.")
    bot._story_index().query(["what", "are", "zorbs", "afraid", "of"])     # a question before the singular
    bot.observe("Tim is a zorb.")
    idx = bot._story_index()
    assert idx.lid_of("zorbs") == idx.lid_of("zorb") != -1
    assert set(idx.content[0]) & set(idx.content[1]) == {idx.lid_of("zorb")}
    assert idx.word(idx.lid_of("zorbs")) == "zorb"
