"""Candidate retrieval in front of O: memory at scale (paper §3.3, "efficient memory via hashing").

Scoring every memory costs O(n) features per hop plus an O(n²) "bridge" feature, so past a few
hundred memories O only scores candidates. `WordHashRetriever` is the paper's word hashing: an
inverted index from content word (STOP_WORDS excluded) to the ids of the memories that contain it,
in write order. A question's candidates are

1. the memories sharing a content word with the question (the most recent `per_word` of each word),
2. expanded once by the rare content words of those memories (words in at most `per_word_expand`
   memories: names, objects), so that a second hop ("Mary picked up the football" -> Mary's latest
   move) has its memory among the candidates; a word found in thousands of memories ("kitchen",
   "picked") links nothing,
3. or, when no memory shares a word with the question, the `recent` newest memories.

They stay in write order, and the exact model (`run_hops`, write-time features included) runs on
them alone. The index depends only on the memories' tokens (not on the model), is built once per
memory store, and follows writes, forgets and other processes' changes incrementally: `sync` is
called before every question and costs nothing when the memory did not change.
"""

from __future__ import annotations

from array import array
from typing import Sequence

import numpy as np

from chatmem.features import STOP_WORDS

MIN_MEMORIES = 300     # up to this many memories O scores them all, exactly as before
PER_WORD = 64
PER_WORD_EXPAND = 64
RECENT = 16
MAX_CANDIDATES = 384


def content_words(tokens: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for w in tokens:
        if w not in STOP_WORDS:
            seen.setdefault(w, None)
    return list(seen)


class WordHashRetriever:
    """Word hashing: content word -> memory ids (ascending = write order)."""

    def __init__(self, per_word: int = PER_WORD, per_word_expand: int = PER_WORD_EXPAND, recent: int = RECENT,
                 max_candidates: int = MAX_CANDIDATES, min_memories: int = MIN_MEMORIES):
        self.per_word = per_word
        self.per_word_expand = per_word_expand
        self.recent = recent
        self.max_candidates = max_candidates
        self.min_memories = min_memories
        self._reset(None)

    # -- the index ---------------------------------------------------------------------
    def _reset(self, memory) -> None:
        self._memory = memory
        self._version = None
        self.postings: dict[str, array] = {}
        self._ids = np.zeros(0, dtype=np.int64)      # ids indexed, ascending
        self._toks: list[tuple[str, ...]] = []        # their tokens (shared with the memory, not copied)

    def _add(self, ids: np.ndarray, tokens: Sequence[Sequence[str]]) -> None:
        post = self.postings
        stop = STOP_WORDS
        for i, toks in zip(ids.tolist(), tokens):
            for w in set(toks):
                if w not in stop:
                    p = post.get(w)
                    if p is None:
                        p = post[w] = array("q")
                    p.append(i)
        self._ids = np.concatenate([self._ids, ids]) if len(self._ids) else np.asarray(ids, dtype=np.int64).copy()
        self._toks.extend(tokens)

    def _remove(self, gone: np.ndarray) -> None:
        at = np.searchsorted(self._ids, gone)
        for i, k in zip(gone.tolist(), at.tolist()):
            for w in set(self._toks[k]):
                p = self.postings.get(w)
                if p is None:
                    continue
                # ids are ascending: find the slot by bisection instead of a linear remove
                j = int(np.searchsorted(np.frombuffer(p, dtype=np.int64), i))
                if j < len(p) and p[j] == i:
                    del p[j]
                    if not p:
                        del self.postings[w]
        keep = np.ones(len(self._ids), dtype=bool)
        keep[at] = False
        self._toks = [t for t, k in zip(self._toks, keep.tolist()) if k]
        self._ids = self._ids[keep]

    def sync(self, memory) -> None:
        """Bring the index in line with `memory` (new rows appended, forgotten rows dropped)."""
        if memory is not self._memory:
            self._reset(memory)
        if self._version == memory.version and len(self._ids) == len(memory):
            return
        n = len(memory)
        mids = memory.ids[:n]
        last = int(self._ids[-1]) if len(self._ids) else 0
        old = int(np.searchsorted(mids, last, side="right"))      # rows the index may already know
        if old != len(self._ids) or (old and not np.array_equal(mids[:old], self._ids)):
            gone = np.setdiff1d(self._ids, mids[:old], assume_unique=True)
            if len(gone):
                self._remove(gone)
            if len(self._ids) != old or not np.array_equal(mids[:old], self._ids):   # rows we never saw: rebuild
                self._reset(memory)
                old = 0
        if old < n:
            self._add(np.asarray(mids[old:n], dtype=np.int64), memory.tokens[old:n])
        self._version = memory.version

    def __contains__(self, memory_id: int) -> bool:
        k = int(np.searchsorted(self._ids, memory_id))
        return k < len(self._ids) and int(self._ids[k]) == int(memory_id)

    def ids_with(self, word: str) -> np.ndarray:
        p = self.postings.get(word)
        return np.frombuffer(p, dtype=np.int64).copy() if p is not None else np.zeros(0, dtype=np.int64)

    # -- candidates ----------------------------------------------------------------------
    def _take(self, words, k: int) -> list[np.ndarray]:
        out = []
        for w in words:
            p = self.postings.get(w)
            if p is not None:
                a = np.frombuffer(p, dtype=np.int64)
                out.append(a[-k:])
        return out

    def candidates(self, memory, tokens: Sequence[str], embedding: np.ndarray | None = None) -> np.ndarray | None:
        """Rows of `memory` (ascending) that O should score for a question, or None for all of them."""
        n = len(memory)
        if n <= self.min_memories:
            return None
        self.sync(memory)
        q_words = content_words(tokens)
        first = self._take(q_words, self.per_word)
        ids1 = np.unique(np.concatenate(first)) if first else np.zeros(0, dtype=np.int64)
        rows1 = np.searchsorted(memory.ids[:n], ids1)
        # expand once by the words of the first candidates, rarest words first
        known = set(q_words)
        more: dict[str, None] = {}
        for r in rows1.tolist():
            for w in memory.tokens[r]:
                if w not in STOP_WORDS and w not in known:
                    more.setdefault(w, None)
        # only rare words (names, objects) link memories; a word in thousands of memories is no evidence
        words2 = sorted((w for w in more if len(self.postings.get(w, ())) <= self.per_word_expand),
                        key=lambda w: len(self.postings.get(w, ())))
        budget = self.max_candidates - len(ids1)
        picked = [ids1]
        for part in self._take(words2, self.per_word_expand):
            if budget <= 0:
                break
            part = part[-budget:]
            picked.append(part)
            budget -= len(part)
        if not len(ids1):        # nothing shares a word with the question: the newest memories
            picked.append(memory.ids[np.arange(max(0, n - self.recent), n)])
        ids = np.unique(np.concatenate(picked))
        return np.searchsorted(memory.ids[:n], ids)


class AllMemories:
    """No retrieval: O scores every memory (the brute-force reference)."""

    def candidates(self, memory, tokens, embedding=None):
        return None
