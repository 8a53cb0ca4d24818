"""G's update links and the archive in the store (issue 15), the update scorer's labels and inputs."""

import json
import sqlite3

import numpy as np
import pytest
import torch

from chatmem.input import encode, make_utterance
from chatmem.memory import DB_NAME, EphemeralMemory, SQLiteMemory
from chatmem.update import Link, UpdateConfig, UpdateScorer, best_link, link_new, pair_inputs, superseded_mask
from chatmem.update_train import babi_story, generated_stories, story_pairs

from conftest import run_cli


def _write(mem, enc, *texts):
    return mem.write(encode([make_utterance(t) for t in texts], enc), "s")


@pytest.mark.parametrize("kind", ["sqlite", "ephemeral"])
def test_links_are_kept_undone_and_go_with_a_forgotten_memory(tmp_path, hash_encoder, kind):
    mem = SQLiteMemory(tmp_path) if kind == "sqlite" else EphemeralMemory()
    a, b, c = _write(mem, hash_encoder, "The gate code is 2290.", "Mary went home.", "The gate code is now 4417.")
    mem.link([Link(a.id, c.id, 0.9)])
    assert mem.links() == {a.id: c.id}
    assert superseded_mask(mem, np.arange(3)).tolist() == [1.0, 0.0, 0.0]
    assert mem.unlink(a.id) and not mem.unlink(a.id)
    assert mem.links() == {}
    mem.link([Link(a.id, c.id, 0.9)])
    mem.forget(c.id)
    assert mem.links() == {}                     # the newer memory went: nothing points at it


def test_links_survive_reopen_and_an_old_store_is_migrated(tmp_path, hash_encoder):
    mem = SQLiteMemory(tmp_path)
    a, b = _write(mem, hash_encoder, "The gate code is 2290.", "The gate code is now 4417.")
    mem.close()
    raw = sqlite3.connect(tmp_path / DB_NAME)          # a store written before issue 15: no G tables
    for t in ("links", "cited", "archive"):
        raw.execute(f"DROP TABLE {t}")
    raw.execute("DROP TRIGGER memories_unlinked")
    raw.commit()
    raw.close()
    mem = SQLiteMemory(tmp_path)
    assert len(mem) == 2 and mem.links() == {}
    mem.link([Link(a.id, b.id, 0.8)])
    mem.close()
    assert SQLiteMemory(tmp_path).links() == {a.id: b.id}


def test_archive_keeps_the_memory_and_emptying_erases_its_text(tmp_path, hash_encoder):
    mem = SQLiteMemory(tmp_path)
    a, b = _write(mem, hash_encoder, "My locker code is zebra-7731.", "Mary went to the kitchen.")
    mem.log_turn("user", "My locker code is zebra-7731.", "s")
    mem.note_cited([a.id, a.id, b.id])
    assert mem.citations()[a.id][0] == 1          # one answer citing it counts once
    assert mem.archive_out(a.id, replaced_by=b.id)
    assert len(mem) == 1 and mem.get(a.id) is None
    arch = mem.archived()
    assert [(r["id"], r["text"], r["replaced_by"]) for r in arch] == [(a.id, a.text, b.id)]
    assert mem.recent_turns()                    # moving out is not forgetting: the log still has it
    out = tmp_path / "arch.jsonl"
    assert mem.export_jsonl(out, archived=True) == 1
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert lines[0]["count"] == 1 and lines[1]["text"] == a.text and lines[1]["replaced_by"] == b.id
    assert mem.empty_archive() == 1
    assert mem.archived() == [] and mem.recent_turns() == []
    mem.close()
    assert b"zebra-7731" not in (tmp_path / DB_NAME).read_bytes()


def test_export_and_list_json_carry_the_link(tmp_path, hash_encoder):
    home = tmp_path / "home"
    mem = SQLiteMemory(home)
    a, b = _write(mem, hash_encoder, "The gate code is 2290.", "The gate code is now 4417.")
    mem.link([Link(a.id, b.id, 0.8)])
    mem.export_jsonl(tmp_path / "e.jsonl")
    rows = [json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines()[1:]]
    assert [r["superseded_by"] for r in rows] == [b.id, None]
    mem.close()
    r = run_cli("memory", "list", "--json", "--data-dir", str(home))
    assert [json.loads(x)["superseded_by"] for x in r.stdout.splitlines()] == [b.id, None]
    r = run_cli("memory", "unlink", str(a.id), "--data-dir", str(home))
    assert r.returncode == 0 and "no longer marked superseded" in r.stdout
    r = run_cli("memory", "unlink", str(a.id), "--data-dir", str(home))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not marked superseded" in r.stderr


def test_babi_labels_moves_and_transfers():
    texts = ["Mary moved to the bathroom.", "John went to the hallway.", "Mary got the football there.",
             "Mary went to the kitchen.", "Then she dropped the football.", "Mary and John went to the garden.",
             "Afterwards they moved to the office.", "John gave the football to Mary."]
    # a move replaces the person's last move; a transfer the object's last one; a pair only as a pair
    assert babi_story(texts) == [None, None, None, 0, 2, 3, None, 4]


def test_generated_labels_point_at_stored_rows():
    from chatmem import generator

    sts = generated_stories(generator.generate(30, seed=3, split="train"))
    pairs = [(st.texts[n], st.texts[o]) for st in sts for n, o in enumerate(st.supersedes) if o is not None]
    assert pairs and all(o < n for st in sts for n, o in enumerate(st.supersedes) if o is not None)


def test_pairs_hold_the_gold_candidate_and_the_scorer_links_above_its_threshold(hash_encoder):
    from chatmem.update_train import Story

    texts = ["The gate code is 2290.", "Mary went home.", "The gate code is now 4417."]
    toks = [make_utterance(t).tokens for t in texts]
    emb = hash_encoder.encode(texts)
    xs, ys = story_pairs(Story(texts, [None, None, 0], []), emb, toks)
    assert [y.tolist() for y in ys] == [[0.0], [1.0, 0.0]]
    scorer = UpdateScorer(UpdateConfig(threshold=0.5))
    with torch.no_grad():                       # a scorer that trusts word overlap alone
        scorer.net[0].weight.zero_()
        scorer.net[0].bias.zero_()
        scorer.net[0].weight[0, -7] = 10.0     # share of the old memory's content words
        scorer.net[2].weight.fill_(1.0)
        scorer.net[2].bias.fill_(-3.0)
    got = best_link(scorer, toks, emb, np.ones(3, bool), toks[2], emb[2], 2)
    assert got is not None and got[0] == 0
    mem = EphemeralMemory()
    a, b, c = _write(mem, hash_encoder, *texts)
    assert [(lk.old, lk.new) for lk in link_new(scorer, mem, [c.id])] == [(a.id, c.id)]
    assert pair_inputs(toks[:2], emb[:2], toks[2], emb[2], [2, 1]).shape == (2, 3 * 384 + 9)
