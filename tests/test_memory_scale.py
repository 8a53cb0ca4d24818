"""A store whose older embeddings stay in its snapshot file (memory-at-scale issue): rows read on demand,
big imports spilled to the file, forgetting scrubbed in place, warnings shown to the user."""

import json

import numpy as np
import pytest

from conftest import run_cli

import chatmem.memory as cm
from chatmem.input import encode, make_utterance
from chatmem.memory import SNAPSHOT_NAME, SQLiteMemory


def _texts(n, start=0):
    return [f"Person{i} went to room{i % 7}." for i in range(start, start + n)]


def _write(m, enc, texts, batch=50):
    for k in range(0, len(texts), batch):
        m.write(encode([make_utterance(t) for t in texts[k: k + batch]], enc), "s")


def _snapshotted(tmp_path, enc, n=120):
    """A store of n memories closed with a snapshot, opened again: (memory, texts, their embeddings)."""
    texts = _texts(n)
    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    _write(m, enc, texts)
    m.close()
    return SQLiteMemory(tmp_path), texts, enc.encode(texts)


@pytest.fixture
def small_ram(monkeypatch):
    """Stand-ins for a million memories: 16 embeddings in RAM, a spill past 64."""
    monkeypatch.setattr(cm, "HOT_ROWS", 16)
    monkeypatch.setattr(cm, "SPILL_ROWS", 64)


def test_older_embeddings_are_read_from_the_snapshot_file(tmp_path, hash_encoder, small_ram):
    m, texts, want = _snapshotted(tmp_path, hash_encoder)
    assert m._hot_at == 104 and m._emb[:16].shape == (16, 384)          # only the newest 16 in RAM
    emb = m.embeddings
    assert np.array_equal(np.asarray(emb), want)
    assert np.array_equal(emb[[3, 110, 3, 50]], want[[3, 110, 3, 50]])   # any order, repeats
    assert np.array_equal(emb[100:110], want[100:110]) and np.array_equal(emb[5], want[5])
    assert emb[119, 0] == want[119, 0] and emb.shape == (120, 384)


def test_rows_read_again_come_from_ram_and_stay_right(tmp_path, hash_encoder, small_ram, monkeypatch):
    """The last cold rows read are kept by id: a second read of some of them (with new ones) does not touch
    the file for those, and every row is still the right one, also after a forget and past the memo's size."""
    monkeypatch.setattr(cm, "COLD_MEMO", 40)
    m, texts, want = _snapshotted(tmp_path, hash_encoder)
    emb = m.embeddings
    assert np.array_equal(emb[[5, 9, 30, 9]], want[[5, 9, 30, 9]])
    reads = []
    real = m._cold[0].read
    monkeypatch.setattr(m._cold[0], "read", lambda rows: reads.append(len(rows)) or real(rows))
    assert np.array_equal(emb[[9, 5, 31, 110]], want[[9, 5, 31, 110]]) and reads == [1]    # only row 31 read
    assert np.array_equal(emb[[31, 9]], want[[31, 9]]) and reads == [1]                  # none read
    assert np.array_equal(emb[list(range(0, 60))], want[:60])           # more than the memo holds
    assert m.forget(31)
    keep = [i for i in range(120) if i != 30]
    assert np.array_equal(np.asarray(m.embeddings), want[keep]) and np.array_equal(m.embeddings[[30, 5]], want[[31, 5]])


def test_a_big_import_spills_to_the_snapshot_and_keeps_every_row(tmp_path, hash_encoder, small_ram):
    texts = _texts(300)
    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    _write(m, hash_encoder, texts)
    assert (tmp_path / SNAPSHOT_NAME).exists() and len(m) - m._hot_at <= 64 + 50   # bounded RAM
    want = hash_encoder.encode(texts)
    assert np.array_equal(np.asarray(m.embeddings), want)
    assert [x.text for x in m.all()] == texts
    m.close()
    m = SQLiteMemory(tmp_path)
    assert np.array_equal(np.asarray(m.embeddings), want) and m.postings_seed is not None


@pytest.mark.parametrize("gone", [[1, 60, 120, 2, 110, 119], [105, 3, 104]])
def test_forgetting_rows_in_the_file_and_in_ram_keeps_them_aligned(tmp_path, hash_encoder, small_ram, gone):
    from chatmem.retrieval import WordHashRetriever

    m, texts, want = _snapshotted(tmp_path, hash_encoder)
    r = WordHashRetriever(min_memories=10)
    r.sync(m)
    for i in gone:
        assert m.forget(i)
    left = [i for i in range(1, 121) if i not in gone]
    assert m.ids.tolist() == left and [x.text for x in m.all()] == [texts[i - 1] for i in left]
    assert np.array_equal(np.asarray(m.embeddings), want[np.array(left) - 1])
    # the word index followed without a full pass: the forgotten ids are gone from their words only
    for i in gone:
        assert i not in r.ids_with(f"person{i - 1}") and i not in r
    r.sync(m)
    assert all(i not in r.ids_with(f"room{(i - 1) % 7}") for i in gone)
    m.close()
    raw = (tmp_path / SNAPSHOT_NAME).read_bytes()
    meta_words = set(json.loads(raw[8: 8 + int.from_bytes(raw[:8], "little")])["__metadata__"]["words"][2:-2]
                     .split('", "'))
    assert not {f"person{i - 1}" for i in gone} & meta_words
    m = SQLiteMemory(tmp_path)              # the scrubbed snapshot is still used, and brings nothing back
    assert m.postings_seed is not None and m.ids.tolist() == left
    assert np.array_equal(np.asarray(m.embeddings), want[np.array(left) - 1])
    r = WordHashRetriever(min_memories=10)
    r.sync(m)
    assert all(i not in r.ids_with(f"room{(i - 1) % 7}") for i in gone)
    assert m.warnings == [] and (m.refresh() or True) and m.warnings == []     # checksums still hold


def test_a_checksum_failure_is_printed_by_the_cli(tmp_path, hash_encoder):
    import struct

    m = SQLiteMemory(tmp_path)
    m.snapshot_min = 50
    _write(m, hash_encoder, _texts(60))
    m.close()
    path = tmp_path / SNAPSHOT_NAME
    raw = bytearray(path.read_bytes())
    (hlen,) = struct.unpack("<Q", raw[:8])
    begin = json.loads(raw[8: 8 + hlen])["embeddings"]["data_offsets"][0]
    raw[8 + hlen + begin + 5] ^= 0x5A
    path.write_bytes(bytes(raw))
    r = run_cli("--data-dir", str(tmp_path), "memory", "list")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 60
    warned = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warned) == 1 and warned[0].startswith("chatmem: warning:") and "checksum" in warned[0]
    assert "Traceback" not in r.stderr
