"""R's span answers and O's relevance term: word offsets, span targets, shapes, and the checkpoint round trip."""

import numpy as np
import pytest

from chatmem.relevance import NF, NQ, Candidates, Relevance, RelevanceConfig, counter_df, match_features, prior
from chatmem.span import (MAX_SPAN, SUPPORTS, SpanConfig, SpanR, SpanVocab, predict, span_input, target_index,
                          words)


def test_words_keep_codes_times_and_names_whole():
    t = "Henrike Vos: the code is cobalt-19, from 4:30pm (40 Quay Road)."
    got = [t[a:b] for a, b in words(t)]
    assert got == ["Henrike", "Vos", "the", "code", "is", "cobalt-19", "from", "4:30pm", "40", "Quay", "Road"]


def test_target_index_covers_the_answer_words():
    vocab = SpanVocab.build(["I keep the key behind the bread bin."], min_count=1)
    x = span_input(vocab, ("where", "is", "the", "key"), np.zeros(384, np.float32), ["I keep the key behind the bread bin."])
    y = target_index(x, 0, 15, 35)          # "behind the bread bin"
    k, rest = divmod(y, 96 * MAX_SPAN)
    w, ln = divmod(rest, MAX_SPAN)
    assert (k, w, ln) == (0, 4, 3)
    long = "I keep the spare key just behind the old bread bin."
    x = span_input(vocab, ("where", "is", "the", "key"), np.zeros(384, np.float32), [long])
    assert target_index(x, 0, 0, len(long)) is None          # eleven words: longer than a span may be


def test_span_model_predicts_a_span_of_the_memory_with_its_casing():
    texts = ["My dentist is called Henrike Vos.", "Bruno lives at 40 Quay Road."]
    vocab = SpanVocab.build(texts, min_count=1)
    model = SpanR(SpanConfig(len(vocab.words))).eval()
    x = span_input(vocab, ("who", "is", "my", "dentist"), np.zeros(384, np.float32), texts)
    [sp] = predict(model, [x], [texts])
    assert sp is not None and sp.text == texts[sp.support][sp.start:sp.end] and sp.text.strip()
    assert 0.0 <= sp.prob <= 1.0 and 0.0 <= sp.null_prob <= 1.0 and sp.support < min(SUPPORTS, len(texts))


def test_match_features_read_the_whole_memory():
    long = tuple(f"w{i}" for i in range(40)) + ("ukulele",)     # the shared word is the 41st: past 12 positions
    mems = [long, ("nothing", "here")]
    F = match_features(("who", "plays", "ukulele"), mems, counter_df(mems), 2, np.array([0.0, 1.0]), np.array([0.1, 0.2]))
    assert F.shape == (2, NF)
    assert F[0, 1] > 0 and F[1, 1] == 0          # BM25 sees the word at position 41
    assert F[0, 4] == pytest.approx(0.5)          # covers one of the question's two content words


def test_relevance_term_and_alpha_shapes():
    rel = Relevance(RelevanceConfig()).eval()
    toks = [("mary", "went", "home"), ("the", "cat", "sat")]
    c = Candidates.story(toks, np.eye(2, 384, dtype=np.float32), known={"mary", "home"})
    assert c.question_features(("where", "is", "mary")).shape == (NQ,)
    r, alpha = prior(rel, ("where", "is", "mary"), np.ones(384, np.float32) / 20, c)
    assert r.shape == (2,) and 0.0 < alpha < 1.0


def test_checkpoint_keeps_the_parts_and_refuses_a_changed_file(tmp_path):
    import torch

    from chatmem import checkpoint
    from chatmem.features import Vocab
    from chatmem.model import MemNN, ModelConfig

    vocab = Vocab(["<pad>", "<unk>", "mary"], ["<stop>", "yes"], [])
    model = MemNN(ModelConfig(len(vocab.words), len(vocab.answers)))
    rel = Relevance(RelevanceConfig())
    sv = SpanVocab(["<pad>", "<unk>", "the"])
    span = SpanR(SpanConfig(len(sv.words)))
    checkpoint.save(tmp_path, model, vocab, {"span_threshold": 0.7}, relevance=rel, span=span, span_vocab=sv)
    got = checkpoint.load(tmp_path)
    assert got.span_vocab.words == sv.words and got.config["span_threshold"] == 0.7
    assert torch.equal(got.relevance.U.weight, rel.U.weight) and torch.equal(got.span.gate.weight, span.gate.weight)
    data = bytearray((tmp_path / checkpoint.VOCAB).read_bytes())
    data[-2:-1] = b" "
    (tmp_path / checkpoint.VOCAB).write_bytes(bytes(data))
    with pytest.raises(checkpoint.AssetError):
        checkpoint.load(tmp_path)
