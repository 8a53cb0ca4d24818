"""The relevance term's word table (chatmem.relevance.WordTable): the same counts and features however the
words were numbered before."""

import numpy as np

import chatmem.relevance as rel
from chatmem.relevance import WordTable, counter_df, match_features

MEMS = [("kevin", "lives", "at", "12", "birch", "lane"), ("i", "lent", "my", "ladder", "to", "kevin", "kevin"),
        (), ("the", "ladder", "is", "in", "the", "garden"), ("laddering", "is", "fun")]


def test_a_word_s_memories_and_counts():
    t = WordTable(MEMS)
    rows, counts = t.holding("kevin")
    assert rows.tolist() == [0, 1] and counts.tolist() == [1, 2]
    assert t.holding("the")[0].tolist() == [3] and t.holding("the")[1].tolist() == [2]
    assert t.holding("nobody")[0].tolist() == []
    assert t.with_prefix("ladde").tolist() == [1, 3, 4]         # content words only: "the" never counts
    assert t.with_prefix("the").tolist() == []
    assert t.digits.tolist() == [1, 0, 0, 0, 0] and t.lens.tolist() == [6, 7, 0, 6, 3]
    assert t.firsts == ["kevin", "i", None, "the", "laddering"]


def test_features_do_not_depend_on_the_numbering(monkeypatch):
    q = ("where", "does", "the", "person", "who", "borrowed", "my", "ladder", "live")
    args = (q, MEMS, counter_df(MEMS), 5, np.linspace(0, 1, 5, dtype=np.float32), np.arange(5, dtype=np.float32))
    WordTable([("zebra", "quokka") * 3] * 4)         # other words numbered first
    shared = match_features(*args)
    before = rel._LEXICON
    monkeypatch.setattr(rel._Lexicon, "MAX_WORDS", 1)
    fresh = match_features(*args)                    # a new lexicon: every word numbered anew
    assert rel._LEXICON is not before and np.array_equal(shared, fresh)
    assert fresh[1, 4] == fresh[3, 4] > 0 and fresh[2, 4] == 0     # "ladder" (and "my") shared; the empty memory none


def test_a_table_cut_out_of_a_larger_one_is_the_table_of_those_memories():
    """s_O's candidates are cut out of the relevance term's pool (Candidates.subset): the same table and features
    as reading those memories afresh."""
    rng = np.random.default_rng(3)
    words = ["kevin", "ladder", "12", "the", "is", "laddering", "birch", "lane", "garden", "lent", "my"]
    mems = [tuple(rng.choice(words, size=int(rng.integers(0, 9)))) for _ in range(60)] + MEMS
    mini = rng.normal(size=(len(mems), 8)).astype(np.float32)
    pool = rel.Candidates(mems, mini, counter_df(mems), 1000, np.linspace(0, 1, len(mems), dtype=np.float32))
    q, q_mini = ("where", "does", "kevin", "keep", "the", "ladder"), rng.normal(size=8).astype(np.float32)
    pool.features(q, q_mini)                                  # the pool's table, made on first use
    for keep in (np.arange(0, len(mems), 3), np.array([2, 61, 62]), np.array([], dtype=np.int64)):
        cut = pool.subset(keep)
        fresh = rel.Candidates([mems[k] for k in keep], mini[keep], pool.df, pool.n, pool.positions[keep])
        a, b = cut.features(q, q_mini), fresh.features(q, q_mini)
        assert cut.table is not None and np.array_equal(a, b)
        t, u = cut.table, fresh.table
        assert np.array_equal(t.lens, u.lens) and np.array_equal(t.digits, u.digits) and t.firsts == u.firsts
        assert all(np.array_equal(x, y) for x, y in ((t._tok, u._tok), (t._rows, u._rows), (t._pre, u._pre),
                                                     (t._pre_rows, u._pre_rows)))


def test_question_names_are_its_capitalised_words_as_tokens_spell_them():
    from chatmem.relevance import question_names

    assert question_names("What is Teliqui's degree in?") == ("teliqui",)
    assert question_names("Where does my cousin work?") == ()              # nobody named: the feature stays off
    assert question_names("Did I lend Mary Poppins my umbrella?") == ("mary", "poppins")
    assert question_names("Does O'Brien work at McDonald's?") == ("o'brien", "mcdonald")
    assert question_names("Where does Zoë Ekström live? Ask Émile.") == ("zoë", "ekström", "ask", "émile")
    assert question_names("") == () and question_names("where is it?") == ()


def test_the_names_feature_marks_the_memories_that_hold_the_question_s_names():
    """Among memories where the person is a common word ("Teliqui" in more memories than "degree"), only this
    feature says which memory is about her."""
    mems = [("my", "girlfriend", "'s", "brother", "teliqui", "is", "studying", "animation"),
            ("guneis", "'s", "degree", "is", "in", "journalism")] + [("teliqui", "went", "to", "the", "office")] * 3
    q = ("what", "is", "teliqui", "'s", "degree", "in")
    args = (q, mems, counter_df(mems), 5, np.linspace(0, 1, 5, dtype=np.float32), np.zeros(5, dtype=np.float32))
    F = match_features(*args, names=("teliqui",))
    assert F[:, 12].tolist() == [1, 0, 1, 1, 1] and F[:, 13].tolist() == [1] * 5
    assert F[1, 1] > F[0, 1]                  # BM25 alone prefers the other person's degree
    plain = match_features(*args)
    assert not plain[:, 12:14].any()
    assert np.array_equal(np.delete(F, [12, 13], 1), np.delete(plain, [12, 13], 1))


def test_an_update_s_older_value_has_a_newer_look_alike_at_any_store_size():
    """Among many candidates the old and the new value sit a few places apart: their place in time (column 8)
    differs by a thousandth; the count of newer memories that hold as much of the question (column 14) does not."""
    q = ("when", "is", "erfeli", "'s", "visa", "due")
    old = ("erfeli", "'s", "visa", "expires", "on", "4", "april")
    new = ("erfeli", "'s", "visa", "now", "expires", "on", "21", "august")
    for others in (0, 3000):
        mems = [("rina", "went", "to", "the", "office")] * others + [old, ("erfeli", "went", "home"), new]
        n = len(mems)
        pos = np.linspace(0, 1, n, dtype=np.float32)
        F = match_features(q, mems, counter_df(mems), n, pos, np.zeros(n, dtype=np.float32))
        assert F[-3, 14] == 0.5 and F[-1, 14] == 1.0      # the older value: one newer look-alike; the newer: none
        assert F[-2, 14] < 1.0                             # a weaker match with a newer look-alike after it


def test_a_cache_of_examples_with_other_features_is_refused(tmp_path):
    """An older chatmem's examples have other match-feature columns: fitting on them would be silently wrong."""
    import pytest

    from chatmem.relevance import NF
    from chatmem.relevance_train import Example, load_examples, save_examples

    ex = Example("generated", np.zeros(384, np.float32), np.zeros((3, 384), np.float16), np.zeros((3, NF), np.float32),
                 np.zeros(3, np.float32), np.array([True, False, False]), np.zeros(4, np.float32))
    save_examples(tmp_path / "now.npz", [ex])
    assert load_examples(tmp_path / "now.npz")[0].feats.shape == (3, NF)
    np.savez(tmp_path / "old.npz", off=np.array([0, 3]), q_mini=ex.q_mini[None], qfeats=ex.qfeats[None],
             m_mini=ex.m_mini, feats=np.zeros((3, NF - 2), np.float32), s_o=ex.s_o, positive=ex.positive,
             source=np.array(["generated"]))
    with pytest.raises(ValueError, match="collect them again"):
        load_examples(tmp_path / "old.npz")
