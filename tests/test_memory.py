import json
import os
import sqlite3
import stat
import subprocess
import sys

import numpy as np
import pytest

from chatmem.input import encode, make_utterance, parse
from chatmem.memory import DB_NAME, EphemeralMemory, SQLiteMemory, StoreError, read_export, recover


def _utts(enc, text):
    return encode(parse(text), enc)


def test_write_appends_to_next_slot_and_survives_reopen(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    a = m.write(_utts(hash_encoder, "Mary went to the kitchen. John got the apple."), "s1")
    assert [x.id for x in a] == [1, 2]
    m.forget(2)
    b = m.write(_utts(hash_encoder, "Sandra went home."), "s1")
    assert b[0].id == 3                               # ids are never reused
    m.close()
    m2 = SQLiteMemory(tmp_path)
    assert [x.text for x in m2.all()] == ["Mary went to the kitchen.", "Sandra went home."]
    assert m2.embeddings.shape == (2, 384) and m2.embeddings.dtype == np.float32
    assert m2.all()[0].tokens == ("mary", "went", "to", "the", "kitchen")
    assert m2.all()[0].session == "s1"
    assert m2.ids.tolist() == [1, 3]


def test_another_process_reads_the_write(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "Mary went to the kitchen."), "s1")
    code = ("import sys; from chatmem.memory import SQLiteMemory; m = SQLiteMemory(sys.argv[1]); "
            "print(len(m), m.all()[0].text)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1 Mary went to the kitchen."
    # and the other way round: a write by another process is seen without reopening
    code = ("import sys; sys.path.insert(0, 'tests'); from conftest import HashEncoder; from chatmem.input import encode, parse; "
            "from chatmem.memory import SQLiteMemory; m = SQLiteMemory(sys.argv[1]); "
            "m.write(encode(parse('John went to the garden.'), HashEncoder()), 'other')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert m.refresh() is True
    assert [x.text for x in m.all()] == ["Mary went to the kitchen.", "John went to the garden."]


def test_permissions(tmp_path, hash_encoder):
    d = tmp_path / "private"
    m = SQLiteMemory(d)
    m.write(_utts(hash_encoder, "Mary went to the kitchen."), "s")
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for name in os.listdir(d):
        assert stat.S_IMODE(os.stat(d / name).st_mode) == 0o600, name
    assert (d / (DB_NAME + "-wal")).exists()
    out = tmp_path / "export.jsonl"
    m.export_jsonl(out)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600


def test_wal_mode_and_float32_blobs(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "Mary went to the kitchen."), "s")
    con = sqlite3.connect(tmp_path / DB_NAME)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    blob = con.execute("SELECT embedding FROM memories").fetchone()[0]
    assert len(blob) == 384 * 4


def test_schema_and_encoder_mismatch_are_clear_errors(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "Mary went to the kitchen."), "s")
    m.close()
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("UPDATE meta SET value='other-encoder' WHERE key='encoder_name'")
    con.commit()
    with pytest.raises(StoreError, match="encoder other-encoder.*nothing was re-encoded"):
        SQLiteMemory(tmp_path)
    con.execute("UPDATE meta SET value='all-MiniLM-L6-v2' WHERE key='encoder_name'")
    con.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    con.commit()
    with pytest.raises(StoreError, match="schema version 99"):
        SQLiteMemory(tmp_path)
    con.close()
    # nothing was dropped
    rows = sqlite3.connect(tmp_path / DB_NAME).execute("SELECT COUNT(*) FROM memories").fetchone()[0]
    assert rows == 1


def test_export_import_round_trip(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path / "a")
    m.write(_utts(hash_encoder, "Mary went to the kitchen. John got the apple."), "s1")
    m.export_jsonl(tmp_path / "out.jsonl")
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    header = json.loads(lines[0])
    assert header["format"] == "chatmem-memories" and "contains" in header
    recs = read_export(tmp_path / "out.jsonl")
    assert [r["text"] for r in recs] == ["Mary went to the kitchen.", "John got the apple."]
    assert all({"text", "created", "session"} <= set(r) for r in recs)
    m2 = SQLiteMemory(tmp_path / "b")
    from chatmem.input import make_utterance
    from chatmem.memory import parse_created

    m2.write(encode([make_utterance(r["text"]) for r in recs], hash_encoder), "import",
             created=[parse_created(r["created"]) for r in recs])
    assert [x.text for x in m2.all()] == [x.text for x in m.all()]
    assert np.allclose(m2.embeddings, m.embeddings)
    assert np.allclose([x.created for x in m2.all()], [x.created for x in m.all()], rtol=0, atol=1e-5)


def test_forget_and_clear(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "A went home. B went home. C went home."), "s")
    assert m.forget(2) is True
    assert m.forget(2) is False
    assert [x.id for x in m.all()] == [1, 3]
    assert m.embeddings.shape[0] == 2
    assert SQLiteMemory(tmp_path).ids.tolist() == [1, 3]
    assert m.clear() == 2
    assert len(m) == 0 and len(SQLiteMemory(tmp_path)) == 0


def test_ephemeral_memory_has_the_same_interface(hash_encoder):
    m = EphemeralMemory()
    a = m.write(_utts(hash_encoder, "Mary went to the kitchen. John got the apple."), "s")
    assert [x.id for x in a] == [1, 2] and len(m) == 2
    assert m.forget(1) and m.all()[0].text == "John got the apple."
    assert m.clear() == 1 and len(m) == 0


def test_corrupt_file_is_named_and_left_alone_then_recovered(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "Mary went to the kitchen."), "s")
    m.close()
    path = tmp_path / DB_NAME
    for side in ("-wal", "-shm"):
        p = tmp_path / (DB_NAME + side)
        if p.exists():
            p.unlink()
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match=str(path)):
        SQLiteMemory(tmp_path)
    assert path.read_bytes() == before
    aside, n, _ = recover(tmp_path)
    assert aside.exists() and aside.read_bytes() == before and n == 0
    assert len(SQLiteMemory(tmp_path)) == 0


def test_recover_refuses_a_newer_schema(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "Mary went to the kitchen. John went home."), "s")
    m.close()
    con = sqlite3.connect(tmp_path / DB_NAME)
    con.execute("UPDATE meta SET value='7' WHERE key='schema_version'")
    con.commit()
    con.close()
    before = (tmp_path / DB_NAME).read_bytes()
    with pytest.raises(StoreError, match="schema 7"):
        recover(tmp_path)                     # it would re-stamp a newer store as version 1
    assert (tmp_path / DB_NAME).read_bytes() == before


def test_large_memory_loads_into_one_matrix(tmp_path):
    m = SQLiteMemory(tmp_path)
    rows = [(f"fact {i}", f"fact {i}", np.full(384, i, np.float32).tobytes(), float(i), "s") for i in range(5000)]
    with m._conn:
        m._conn.executemany("INSERT INTO memories (text, tokens, embedding, created, session) VALUES (?,?,?,?,?)", rows)
    m2 = SQLiteMemory(tmp_path)
    assert m2.embeddings.shape == (5000, 384)
    assert m2.embeddings[4999, 0] == 4999.0


def test_recover_leaves_a_healthy_file_alone_and_keeps_ids(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "A went home. B went home. C went home."), "s")
    m.log_turn("user", "A went home.", "s")
    m.forget(2)
    m.forget(3)
    m.close()
    with pytest.raises(StoreError, match="not damaged"):
        recover(tmp_path)
    assert [x.id for x in SQLiteMemory(tmp_path).all()] == [1]
    aside, n, _ = recover(tmp_path, force=True)
    assert aside is not None and n == 1
    m2 = SQLiteMemory(tmp_path)
    assert [(x.id, x.text) for x in m2.all()] == [(1, "A went home.")]
    assert [t["text"] for t in m2.recent_turns()] == ["A went home."]          # the conversation came along
    assert [x.id for x in m2.write(_utts(hash_encoder, "D went home."), "s")] == [4]   # forgotten ids stay unused


def test_export_to_a_directory_is_an_error_and_leaves_no_temp_file(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path / "home")
    m.write(_utts(hash_encoder, "A went home."), "s")
    (tmp_path / "out").mkdir()
    with pytest.raises(OSError):
        m.export_jsonl(tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "out"]


# -- the snapshot: ids, embeddings and the word index, so a big memory opens without reading every row --------

def _snapshotted(tmp_path, enc, n=120):
    from chatmem.retrieval import WordHashRetriever

    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    texts = [f"Person{i} went to room{i % 7}." for i in range(n)]
    m.write(encode([make_utterance(t) for t in texts], enc), "s1")
    WordHashRetriever(min_memories=10).sync(m)
    m.close()
    return texts


def test_snapshot_reopens_the_same_memory(tmp_path, hash_encoder):
    from safetensors import safe_open

    from chatmem.memory import SNAPSHOT_NAME
    from chatmem.retrieval import WordHashRetriever
    from chatmem.input import tokenize

    texts = _snapshotted(tmp_path, hash_encoder)
    path = tmp_path / SNAPSHOT_NAME
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    with safe_open(str(path), framework="np") as f:          # the safetensors layout, readable by its library
        assert f.get_tensor("embeddings").shape == (120, 384) and f.get_tensor("ids").tolist() == list(range(1, 121))
    plain = SQLiteMemory(tmp_path)
    assert plain.postings_seed is not None
    # what a store read row by row holds, the snapshot reproduces
    path.rename(tmp_path / "aside")
    rowwise = SQLiteMemory(tmp_path)
    assert rowwise.postings_seed is None
    assert plain.ids.tolist() == rowwise.ids.tolist()
    assert np.array_equal(plain.embeddings, rowwise.embeddings)
    assert [x.text for x in plain.all()] == texts == [x.text for x in rowwise.all()]
    assert plain.all()[5].tokens == rowwise.all()[5].tokens == ("person5", "went", "to", "room5")
    a, b = WordHashRetriever(min_memories=10), WordHashRetriever(min_memories=10)
    for q in ("Where is Person7?", "Who went to room3?", "Hello there"):
        assert a.candidates(plain, tokenize(q)).tolist() == b.candidates(rowwise, tokenize(q)).tolist(), q


def test_snapshot_takes_later_writes_and_never_brings_back_a_forgotten_memory(tmp_path, hash_encoder):
    from chatmem.memory import SNAPSHOT_NAME

    _snapshotted(tmp_path, hash_encoder)
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "Zoltan drove to the observatory."), "s2")   # after the snapshot
    m.close()
    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    assert len(m) == 121 and m.all()[-1].text == "Zoltan drove to the observatory."
    assert m.forget(7)
    # scrubbed in place, not rewritten: its embedding zero, its id negated, its word blanked
    from safetensors import safe_open
    with safe_open(str(tmp_path / SNAPSHOT_NAME), framework="np") as f:
        assert f.get_tensor("ids")[6] == -7 and not f.get_tensor("embeddings")[6].any()
        words = json.loads(f.metadata()["words"])      # memory 7 is "Person6 went to room6."
        assert f.get_tensor("embeddings")[7].any() and "person6" not in words and {"person7", "room6"} <= set(words)
    from chatmem.retrieval import WordHashRetriever      # an index seeded from the snapshot after the forget
    r = WordHashRetriever(min_memories=10)
    r.sync(m)
    assert 7 not in r.ids_with("person7") and 7 not in r
    m.close()                                            # written again at close, without memory 7
    m = SQLiteMemory(tmp_path)
    assert m.postings_seed is not None and 7 not in m.ids.tolist() and len(m) == 120
    m.close()
    # another SQLite client deletes a row behind chatmem's back: the snapshot no longer matches and is dropped
    with sqlite3.connect(tmp_path / DB_NAME) as con:
        con.execute("DELETE FROM memories WHERE id = 8")
    m = SQLiteMemory(tmp_path)
    assert m.postings_seed is None and 8 not in m.ids.tolist() and len(m) == 119
    assert not (tmp_path / SNAPSHOT_NAME).exists()


@pytest.mark.parametrize("damage", [b"", b"\x00" * 7, b"garbage" * 100, "cut"])
def test_a_damaged_snapshot_is_ignored(tmp_path, hash_encoder, damage):
    from chatmem.memory import SNAPSHOT_NAME

    texts = _snapshotted(tmp_path, hash_encoder)
    path = tmp_path / SNAPSHOT_NAME
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2] if damage == "cut" else damage)
    m = SQLiteMemory(tmp_path)
    assert [x.text for x in m.all()] == texts and m.postings_seed is None


def test_forgotten_text_does_not_stay_in_the_file(tmp_path, hash_encoder):
    m = SQLiteMemory(tmp_path)
    m.write(_utts(hash_encoder, "Mary went to the kitchen. The codeword is zanzibarquux."), "s1")
    assert m.forget(2)
    m.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(DB_NAME))
    assert b"Mary went to the kitchen." in raw and b"zanzibarquux" not in raw


def test_a_snapshot_newer_than_the_database_is_refused(tmp_path, hash_encoder):
    """A restored backup of memory.sqlite3 (same store, older rows) must not pick up the newer snapshot."""
    import shutil

    from chatmem.memory import SNAPSHOT_NAME

    _snapshotted(tmp_path, hash_encoder, n=60)
    backup = tmp_path / "backup.sqlite3"
    shutil.copy(tmp_path / DB_NAME, backup)
    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    m.write(encode([make_utterance(f"Later{i} went out.") for i in range(1100)], hash_encoder), "s2")
    m.close()
    assert (tmp_path / SNAPSHOT_NAME).exists()
    shutil.copy(backup, tmp_path / DB_NAME)
    m = SQLiteMemory(tmp_path)
    assert len(m) == 60 and m.postings_seed is None
    [new] = m.write(_utts(hash_encoder, "Brand new memory."), "s3")
    assert m.get(new.id).text == "Brand new memory."
    assert np.allclose(m.embeddings[m.index_of(new.id)], hash_encoder.encode(["Brand new memory."])[0])


def test_row_cache_eviction_never_blanks_a_row(tmp_path, hash_encoder, monkeypatch):
    import chatmem.memory as cm

    texts = _snapshotted(tmp_path, hash_encoder, n=100)
    m = SQLiteMemory(tmp_path)
    monkeypatch.setattr(cm, "ROW_CACHE", 12)          # stands for 200,000 rows of a big store
    m.memories_at(range(95, 100))                      # some rows cached, as the app's panel does
    assert [x.text for x in m.memories_at(range(90, 100))] == texts[90:]
    assert [x.text for x in m.all()] == texts


def test_a_row_changed_by_another_client_is_never_served_from_a_snapshot(tmp_path, hash_encoder):
    """Another SQLite client rewrites memory 5 while this process has the store open: the snapshot this
    process would write at close no longer matches the file, so none is written or trusted."""
    _snapshotted(tmp_path, hash_encoder)
    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    m.write(encode([make_utterance(f"Later{i} went out.") for i in range(1100)], hash_encoder), "s2")
    new = hash_encoder.encode(["Redacted."])[0]
    with sqlite3.connect(tmp_path / DB_NAME) as con:
        con.execute("UPDATE memories SET text = 'Redacted.', tokens = 'redacted', embedding = ? WHERE id = 5",
                    (new.tobytes(),))
    assert m.save_snapshot() is None
    m.close()
    m = SQLiteMemory(tmp_path)
    assert m.postings_seed is None and m.get(5).text == "Redacted."
    assert np.allclose(m.embeddings[m.index_of(5)], new)


# -- integrity and forgetting at scale (memory-at-scale issue) ------------------------------------------------

def _flip_embedding_byte(path, row: int, dim: int = 384) -> None:
    """Change one byte of one stored embedding, leaving the header (and so every other check) intact."""
    import struct

    raw = bytearray(path.read_bytes())
    (hlen,) = struct.unpack("<Q", raw[:8])
    begin = json.loads(raw[8: 8 + hlen])["embeddings"]["data_offsets"][0]
    raw[8 + hlen + begin + 4 * dim * row + 1] ^= 0x5A
    path.write_bytes(bytes(raw))


def test_a_snapshot_whose_embeddings_fail_the_checksum_falls_back_to_the_database(tmp_path, hash_encoder):
    from chatmem.memory import SNAPSHOT_NAME

    texts = _snapshotted(tmp_path, hash_encoder)
    truth = SQLiteMemory(tmp_path)
    good = truth.embeddings.copy()
    assert truth.warnings == []                      # an intact snapshot passes
    truth.close(snapshot=False)
    _flip_embedding_byte(tmp_path / SNAPSHOT_NAME, row=17)
    m = SQLiteMemory(tmp_path)
    # whatever reads the embeddings first waits for the check and gets the database's rows, never the bad one
    assert np.array_equal(m.embeddings, good)
    assert len(m.warnings) == 1 and "checksum" in m.warnings[0]
    assert not (tmp_path / SNAPSHOT_NAME).exists() and [x.text for x in m.all()] == texts
    from chatmem.retrieval import WordHashRetriever
    r = WordHashRetriever(min_memories=10)
    r.sync(m)
    assert r.ids_with("person17").tolist() == [18]


def test_a_question_asked_right_after_open_waits_for_the_checksum(tmp_path, hash_encoder):
    from chatmem.memory import SNAPSHOT_NAME

    _snapshotted(tmp_path, hash_encoder)
    good = SQLiteMemory(tmp_path)
    want = good.embeddings.copy()
    good.close(snapshot=False)
    _flip_embedding_byte(tmp_path / SNAPSHOT_NAME, row=0)
    m = SQLiteMemory(tmp_path)
    m.refresh()                                       # what Bot does before every question
    assert m._verifying is None and m.warnings and np.array_equal(m._emb[: len(m)], want)


@pytest.mark.parametrize("mapped", [False, True])
def test_forgetting_first_middle_and_last_keeps_rows_aligned(tmp_path, hash_encoder, mapped):
    """Forgetting moves the shorter side of the arrays: ids, embeddings and text must stay row-aligned."""
    texts = _snapshotted(tmp_path, hash_encoder, n=120) if mapped else None
    m = SQLiteMemory(tmp_path)
    if not mapped:
        texts = [f"Person{i} went to room{i % 7}." for i in range(120)]
        m.write(encode([make_utterance(t) for t in texts], hash_encoder), "s1")
    emb = {int(i): e.copy() for i, e in zip(m.ids, m.embeddings)}
    gone = [1, 60, 120, 2, 59, 3]
    for i in gone:
        assert m.forget(i)
    left = [i for i in range(1, 121) if i not in gone]
    assert m.ids.tolist() == left
    assert [x.text for x in m.all()] == [texts[i - 1] for i in left]
    assert all(np.array_equal(m.embeddings[k], emb[i]) for k, i in enumerate(left))
    new = m.write(_utts(hash_encoder, "Zoltan drove to the observatory."), "s2")
    assert m.ids.tolist() == left + [new[0].id] and m.index_of(new[0].id) == len(left)
    m.close()
    m = SQLiteMemory(tmp_path)
    assert m.ids.tolist() == left + [new[0].id] and [x.text for x in m.all()][-1] == "Zoltan drove to the observatory."


def test_a_scrubbed_snapshot_still_passes_its_checksums(tmp_path, hash_encoder):
    """Forgetting patches the snapshot's checksums instead of summing its arrays again: reopened, the same file
    is used, with no warning, and its rows are the database's."""
    from chatmem.memory import SNAPSHOT_NAME

    _snapshotted(tmp_path, hash_encoder, n=1200)
    m = SQLiteMemory(tmp_path)
    for i in (1, 600, 1200, 513, 512):             # first, middle, last, and both sides of a checksum block
        assert m.forget(i)
    m.close(snapshot=False)                       # keep the scrubbed file, not a new one
    m = SQLiteMemory(tmp_path)
    m.refresh()
    # a checksum that failed would have deleted the file (with a warning for the embeddings')
    assert m.warnings == [] and (tmp_path / SNAPSHOT_NAME).exists() and m._cold is not None and len(m) == 1195
    from_snapshot = m.embeddings.copy()
    m.close(snapshot=False)
    (tmp_path / SNAPSHOT_NAME).unlink()
    truth = SQLiteMemory(tmp_path)
    assert np.array_equal(truth.embeddings, from_snapshot)


def test_patched_crc_is_the_crc_of_the_changed_bytes():
    import os
    import random
    import zlib

    from chatmem.snapshot import patched_crc

    rng = random.Random(3)
    for n in (8, 100, 4096, 1 << 20):
        data = bytearray(rng.randbytes(n))
        k = min(n, 1536)
        at = rng.randrange(0, n - k + 1)
        old, new = bytes(data[at: at + k]), os.urandom(k)
        before = zlib.crc32(data)
        data[at: at + k] = new
        assert patched_crc(before, old, new, n - at - k) == zlib.crc32(data)


def test_forgotten_text_leaves_no_trace_in_database_snapshot_or_log(tmp_path, hash_encoder):
    from chatmem.memory import SNAPSHOT_NAME

    _snapshotted(tmp_path, hash_encoder)
    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    [secret] = m.write(_utts(hash_encoder, "The vault code is quorblex."), "s2")
    m.log_turn("user", "The vault code is quorblex.", "s2")
    m.log_turn("bot", "Noted: The vault code is quorblex.", "s2")
    m.save_snapshot()                                 # a snapshot that holds its words and embedding
    m.close()
    assert b"quorblex" in (tmp_path / SNAPSHOT_NAME).read_bytes()
    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    assert m.forget(secret.id)
    m.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("memory."))
    assert b"quorblex" not in raw and b"Person3 went to room3." in raw
    assert all("quorblex" not in t["text"] for t in SQLiteMemory(tmp_path).recent_turns())
