"""Candidate retrieval in front of O: memory at scale (paper §3.3, "efficient memory via hashing").

Scoring every memory costs O(n) features per hop plus an O(n²) "bridge" feature, so past a few
hundred memories O only scores candidates. `WordHashRetriever` is the paper's word hashing: an
inverted index from content word (STOP_WORDS excluded) to the ids of the memories that contain it,
in write order. A question's candidates are

1. the memories sharing a content word with the question (the most recent `per_word` of each word);
   when the question has a rare word (in at most `per_word_expand` memories, or at most RELATIVE times as
   many as its rarest word: a name, an object), only the memories sharing a rare word: the newest 64
   mentions of "kitchen" are other people's, and they crowd out the person the question is about
   (bAbI-style stories among distractors, scripts/bench_memory.py: 51% -> 80% right at 6,000 memories),
2. the memory written right after each of them that a rare question word found (a pronoun's
   antecedent is the memory before it: "Mary went home. Then she ..."),
3. expanded once by the rare content words of those memories (rare as in 1, or in at most 1/LINK_SHARE of all
   memories: names, objects; first those of the memories a rare question word found), so that a second hop
   ("Mary picked up the football" -> Mary's latest move) has its memory among the candidates; a word found in a
   large share of the memories ("kitchen", "picked") links nothing. (Among a million memories a person may be
   named a thousand times and is still a name.)
4. or, when no memory shares a word with the question, the `recent` newest memories.

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
LINK_SHARE = 256       # a word in at most 1/LINK_SHARE of the memories may link a second hop's memories
RELATIVE = 8           # a word is rare for a question when at most this many times the memories of its rarest word hold it


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
        self.postings: dict[str, array | np.ndarray] = {}
        self._last = 0            # the newest id indexed
        self._count = 0           # memories indexed that are still in the memory
        seed = getattr(memory, "postings_seed", None)     # from the memory's snapshot: no rebuild on open
        if seed is not None:
            last, count, words, off, flat = seed
            self._unflatten(words, off, flat)
            self._last = last
            self._count = count       # as the snapshot had them: sync purges whatever was forgotten since

    def _add(self, ids: np.ndarray, tokens: Sequence[Sequence[str]]) -> None:
        post = self.postings
        stop = STOP_WORDS
        for i, toks in zip(ids.tolist(), tokens):
            for w in set(toks):
                if w not in stop:
                    p = post.get(w)
                    if p is None:
                        p = post[w] = array("q")
                    elif not isinstance(p, array):          # a snapshot's read-only slice: copied on first write
                        p = post[w] = array("q", p.tobytes())
                    p.append(i)
        if len(ids):
            self._last = int(ids[-1])
            self._count += len(ids)

    def _flatten(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The index as (words, offsets, ids): word k's ids are ids[offsets[k]:offsets[k + 1]]."""
        words = list(self.postings)
        lists = [np.frombuffer(self.postings[w], dtype=np.int64) for w in words]
        off = np.zeros(len(words) + 1, dtype=np.int64)
        off[1:] = np.cumsum([len(a) for a in lists])
        return words, off, np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)

    def _unflatten(self, words: list[str], off: np.ndarray, flat: np.ndarray) -> None:
        # a word blanked ("") in a snapshot was a forgotten memory's alone
        self.postings = {w: flat[off[k]: off[k + 1]] for k, w in enumerate(words) if off[k + 1] > off[k] and w}

    def discard(self, memory_id: int, tokens: Sequence[str]) -> None:
        """The memory forgot `memory_id` (whose tokens were `tokens`): drop it from its words' lists only, instead
        of a pass over every list at the next sync."""
        if memory_id > self._last:
            return
        post = self.postings
        for w in content_words(tokens):
            p = post.get(w)
            if p is None:
                continue
            a = np.frombuffer(p, dtype=np.int64) if isinstance(p, array) else p
            k = int(np.searchsorted(a, memory_id))
            if k < len(a) and a[k] == memory_id:
                if len(a) == 1:
                    del post[w]
                elif isinstance(p, array):      # a new list: `a` (and any view a caller holds) exports p's buffer
                    post[w] = array("q", np.delete(a, k).tobytes())
                else:
                    post[w] = np.delete(a, k)
        self._count -= 1
        if self._memory is not None and self._version == self._memory.version - 1:   # in step but for this forget
            self._version = self._memory.version

    def _purge(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Drop forgotten ids from every posting list, in one pass over all of them; returns the result flat."""
        words, off, flat = self._flatten()
        keep = _present(self._memory, flat)
        kept_before = np.concatenate([[0], np.cumsum(keep)])      # ids kept among flat[:j]
        off, flat = kept_before[off], flat[keep]
        self._unflatten(words, off, flat)
        return words, off, flat

    def export_postings(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The index as (words, offsets, ids), forgotten ids left out: what a memory snapshot stores."""
        return self._purge()

    def sync(self, memory) -> None:
        """Bring the index in line with `memory`: new rows appended, forgotten rows dropped."""
        if memory is not self._memory:
            self._reset(memory)
            memory.word_index = self
        if self._version == memory.version:
            return
        n = len(memory)
        mids = memory.ids[:n]
        old = int(np.searchsorted(mids, self._last, side="right"))      # rows the index already knows
        if old != self._count:             # some were forgotten (here or by another process)
            self._purge()
            self._count = old
        if old < n:
            self._add(np.asarray(mids[old:n], dtype=np.int64), memory.tokens[old:n])
        self._version = memory.version

    def __contains__(self, memory_id: int) -> bool:
        return int(memory_id) <= self._last and self._memory is not None and \
            self._memory.index_of(int(memory_id)) is not None

    def ids_with(self, word: str) -> np.ndarray:
        p = self.postings.get(word)
        return np.frombuffer(p, dtype=np.int64).copy() if p is not None else np.zeros(0, dtype=np.int64)

    # -- candidates ----------------------------------------------------------------------
    def rare_cutoff(self, tokens: Sequence[str]) -> int:
        """How many memories a "rare" word may be in, for this question: `per_word_expand`, or RELATIVE times
        as many as hold the question's rarest word. Rarity is relative to the question: among a million
        memories a person may be named in a thousand, and is still rare next to "kitchen" (call after `sync`)."""
        post = self.postings
        dfs = [len(post[w]) for w in content_words(tokens) if w in post]
        return max(self.per_word_expand, RELATIVE * min(dfs)) if dfs else self.per_word_expand

    def rare_words(self, tokens: Sequence[str], cutoff: int | None = None) -> list[str]:
        """The question's content words that at most `rare_cutoff` memories hold (call after `sync`)."""
        post = self.postings
        cutoff = self.rare_cutoff(tokens) if cutoff is None else cutoff
        return [w for w in content_words(tokens) if 0 < len(post.get(w, ())) <= cutoff]

    def knows_any(self, tokens: Sequence[str]) -> bool:
        """Whether any memory shares a content word with the question (call after `sync`)."""
        return any(w in self.postings for w in content_words(tokens))

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
        cutoff = self.rare_cutoff(tokens)
        # a word in a small share of the memories finds candidates too, however much rarer another question word
        # is: among a million, "Where does Netoul live?" has "live" in 5 memories and "netoul" in 135
        q_words = self.rare_words(tokens, max(cutoff, n // LINK_SHARE)) or [w for w in content_words(tokens)
                                                                          if w in self.postings]
        first = self._take(q_words, self.per_word)
        ids1 = np.unique(np.concatenate(first)) if first else np.zeros(0, dtype=np.int64)
        ids1 = ids1[_present(memory, ids1)]
        rows1 = np.searchsorted(memory.ids[:n], ids1)
        # Expand once by the words of the first candidates, rarest words first; the words of memories found by a
        # rare question word ("football", not "kitchen") come before all others.
        known = set(q_words)
        rare = np.zeros(0, dtype=np.int64)
        source: dict[str, int] = {}
        for k, w in enumerate(q_words):
            if len(self.postings[w]) <= cutoff:
                rare = np.union1d(rare, first[k])
        rare = np.searchsorted(memory.ids[:n], rare[_present(memory, rare)])
        for rank, part in enumerate((rare, rows1)):
            for toks in memory.tokens[part]:
                for w in toks:
                    if w not in STOP_WORDS and w not in known:
                        source.setdefault(w, rank)
        # only rare words (names, objects) link memories; a word in a large share of them is no evidence
        link = max(cutoff, n // LINK_SHARE)
        words2 = sorted((w for w in source if len(self.postings.get(w, ())) <= link),
                        key=lambda w: (source[w], len(self.postings.get(w, ()))))
        # the memory written right after each found by a rare question word: "Mary went home. Then she ..."
        nxt = rare[rare + 1 < n] + 1
        nxt = np.setdiff1d(memory.ids[nxt], ids1)[-max(0, self.max_candidates - len(ids1)):]
        budget = self.max_candidates - len(ids1) - len(nxt)
        picked = [ids1, nxt]
        for part in self._take(words2, self.per_word_expand):
            if budget <= 0:
                break
            part = part[-budget:]
            picked.append(part)
            budget -= len(part)
        if not len(ids1):        # nothing shares a word with the question: the newest memories
            picked.append(memory.ids[np.arange(max(0, n - self.recent), n)])
        ids = np.unique(np.concatenate(picked))
        return np.searchsorted(memory.ids[:n], ids[_present(memory, ids)])   # only ids the memory holds


def _present(memory, ids: np.ndarray) -> np.ndarray:
    """Which of `ids` the memory still holds (its ids are ascending)."""
    mids = memory.ids
    if not len(mids):
        return np.zeros(len(ids), dtype=bool)
    at = np.searchsorted(mids, ids).clip(max=len(mids) - 1)
    return mids[at] == ids


class AllMemories:
    """No retrieval: O scores every memory (the brute-force reference)."""

    def candidates(self, memory, tokens, embedding=None):
        return None
