"""H and the fixed replacement policies (issue 15): the slot a new memory takes when the memory is full."""

import json

import numpy as np
import pytest
import torch

from chatmem.budget import (N_FEAT, BudgetConfig, SlotScorer, SlotState, budget_of, choose_slot, enforce,
                            slot_features, state_of)
from chatmem.budget_train import story_examples
from chatmem.input import encode, make_utterance
from chatmem.memory import EphemeralMemory, SQLiteMemory
from chatmem.update import Link
from chatmem.update_train import Story

from conftest import run_cli

TEXTS = ["The gate code is 2290.", "Nice weather today.", "I put the drill in the shed.",
         "The gate code is now 4417.", "Lunch was good."]


def _mem(enc, kind="ephemeral", path=None):
    mem = SQLiteMemory(path) if kind == "sqlite" else EphemeralMemory()
    mem.write(encode([make_utterance(t) for t in TEXTS], enc), "s")
    return mem


def test_fixed_policies_choose_as_named(hash_encoder):
    mem = _mem(hash_encoder)
    mem.note_cited([1])                 # cited once the newest id was 5
    st = state_of(mem)
    assert choose_slot("oldest", st) == 0
    assert choose_slot("lru", st) == 1   # memory 1 was cited after 2 was written: 2 is least recently used
    r = [choose_slot("random", st, rng=np.random.default_rng(s)) for s in range(20)]
    assert len(set(r)) > 1 and all(0 <= x < 5 for x in r)
    with pytest.raises(ValueError):
        choose_slot("H", st)            # H without its trained part is an error, not a silent fallback


def test_features_read_age_citations_marks_and_redundancy(hash_encoder):
    mem = _mem(hash_encoder)
    mem.link([Link(1, 4, 0.9)])
    mem.note_cited([3])
    f = slot_features(state_of(mem))
    assert f.shape == (5, N_FEAT)
    assert f[0, 0] > f[4, 0]                           # older
    assert f[2, 2] > 0 and f[2, 5] == 0 and f[0, 5] == 1   # cited / never cited
    assert f[0, 6] == 1 and f[3, 6] == 0               # superseded
    assert f[0, 8] > f[1, 8]                           # a newer memory says much the same


def test_h_moves_out_its_lowest_score_and_keeps_the_new_memory(tmp_path, hash_encoder):
    mem = _mem(hash_encoder, "sqlite", tmp_path)
    mem.link([Link(1, 4, 0.9)])
    h = SlotScorer(BudgetConfig())
    with torch.no_grad():                # a scorer that drops superseded memories first
        for p in h.parameters():
            p.zero_()
        h.net[0].weight[0, 6] = -1.0
        h.net[0].bias.fill_(1.0)
        h.net[2].weight.fill_(1.0)
    new = mem.write(encode([make_utterance("Bruno gave my drill back.")], hash_encoder), "s")[0]
    gone = enforce(mem, 5, "H", h, [new.id])
    assert gone == [1] and mem.get(new.id) is not None and len(mem) == 5
    assert mem.archived()[0]["replaced_by"] == new.id
    assert mem.archived()[0]["superseded_by"] == 4
    assert enforce(mem, 2, "oldest", None, [new.id]) == [2, 3, 4]
    assert sorted(mem.ids.tolist()) == [5, new.id]
    mem.close()


def test_cli_lists_and_exports_the_archive_and_clear_erases_it(tmp_path, hash_encoder):
    home = tmp_path / "home"
    mem = _mem(hash_encoder, "sqlite", home)
    enforce(mem, 3, "oldest")
    mem.close()
    r = run_cli("memory", "list", "--archived", "--json", "--data-dir", str(home))
    assert [json.loads(x)["id"] for x in r.stdout.splitlines()] == [1, 2]
    r = run_cli("memory", "export", "--archived", str(tmp_path / "a.jsonl"), "--data-dir", str(home))
    assert r.returncode == 0 and "exported 2 archived memories" in r.stderr
    r = run_cli("memory", "empty-archive", "--data-dir", str(home))
    assert r.returncode == 2 and "--yes" in r.stderr
    r = run_cli("memory", "empty-archive", "--yes", "--data-dir", str(home))
    assert "erased 2 archived memories" in r.stdout
    assert run_cli("memory", "list", "--archived", "--data-dir", str(home)).stdout == ""


def test_training_examples_label_what_a_later_question_needs():
    st = Story([f"s{i}" for i in range(8)], [None] * 8, [(4, "q1", "a", [1]), (8, "q2", "a", [2, 6])])
    e = np.eye(8, 384, dtype=np.float32)
    xs, ys = story_examples(st, e, [(-1, 0.0)] * 8, 0.5, np.random.default_rng(0))
    assert len(xs) == 4 and all(x.shape[1] == N_FEAT + 384 for x in xs)
    # at the first eviction (statement 4 written) rows 0-3 are in store; 1 is needed by q1 (asked after 4
    # statements, so before this write: no longer needed later), 2 by q2
    assert ys[0].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert budget_of(0.25, 10) == 3 and budget_of(0.1, 3) == 1


def test_h_in_a_big_store_reads_a_bounded_pool(hash_encoder):
    from chatmem.budget import H_POOL
    from chatmem.input import Utterance

    mem = EphemeralMemory()
    emb = np.eye(H_POOL + 200, 384, dtype=np.float32)
    emb[:, 0] += 1.0
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    mem.write([Utterance(f"fact {i}.", ("fact", str(i)), False, e) for i, e in enumerate(emb)], "s")
    h = SlotScorer(BudgetConfig())
    gone = enforce(mem, H_POOL + 199, "H", h, [int(mem.ids[-1])], np.random.default_rng(0))
    assert len(gone) == 1 and gone[0] != int(mem.ids[-1]) and len(mem) == H_POOL + 199


def test_word_features_read_rarity_and_what_newer_memories_repeat():
    from chatmem.budget import word_features

    toks = [("the", "gate", "code", "is", "2290"), ("the", "drill", "is", "in", "the", "shed"),
            ("the", "gate", "code", "is", "now", "4417"), ("ok", "cool")]
    f = word_features(toks)
    assert f.shape == (4, 8)
    assert f[0, 2] > f[1, 2] and f[0, 3] > f[1, 3]     # a newer memory repeats the gate code's words
    assert f[2, 4] > 0 and f[0, 4] == 0                 # ... and the newer one has them from an older one
    assert f[0, 7] == 1 and f[1, 7] == 0                # a number
    assert f[1, 1] > f[0, 1] or f[1, 1] == f[0, 1]      # "drill"/"shed" are named once: at least as rare
    assert word_features([]).shape == (0, 8)


def test_h_reads_the_new_memory_but_never_chooses_it():
    e = np.eye(4, 384, dtype=np.float32)
    st = SlotState(np.arange(1, 5), e, 4, {}, np.zeros(4, bool), [("a",), ("b",), ("c",), ("d",)], new=1)
    h = SlotScorer(BudgetConfig(features=N_FEAT))
    with torch.no_grad():                # a scorer that keeps the oldest: the newest scores lowest
        for p in h.parameters():
            p.zero_()
        h.net[0].weight[0, 1] = 1.0      # age relative to the store
        h.net[2].weight.fill_(1.0)
    assert choose_slot("H", st, h) == 2  # row 3 (the new memory) would score lower still
    assert choose_slot("random", st, rng=np.random.default_rng(0)) in (0, 1, 2)
    old = SlotScorer(BudgetConfig())     # a checkpoint saved before the word features reads the first 9
    assert old.keep_scores(st).shape == (4,)
