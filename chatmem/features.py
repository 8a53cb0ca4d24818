"""Feature maps Φ for the O and R scorers.

Word identity enters through learned embeddings (bags, with position slots for word order).
Match features (paper §3.6) compare words by identity only, so they work for words
never seen in training. Write-time features (paper §3.4) are relative ages: for each
reference (the question and the last two chosen memories) a candidate memory knows
whether it is before or after it, how far, and whether it is the latest, or the latest
before, or the first after the reference to share a word with it.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

L = 12            # word positions kept per sentence
N_REFS = 3        # references for O: question, last chosen memory, the one before
N_PAIR = 18       # features per (candidate, reference)
N_GLOBAL = 3      # already chosen, age, is-STOP
F_O = N_REFS * N_PAIR + N_GLOBAL
KR = 8            # supporting memories R looks at
MAX_HOPS = 8
MAX_ANSWER_WORDS = 3
T_SEQ = 4 * L
PAD, UNK = 0, 1
STOP = "<stop>"

# Function words never count as a match between sentences. Clitics too, also with a phone's curly ’: the "'s" of
# "What's my job?" is not the "'s" of "My sister's husband" ("whats" splits as "what" "s").
_CLITICS = ("'s", "'m", "'re", "'ve", "'d", "'ll")
STOP_WORDS = frozenset(
    """a an the is are was were be been am to of in on at into there here where what who whom whose how
    why which when did does do doing done you your i me my we us our it its this that these those and or
    then than after afterwards following before as by for with from go went back up s""".split()
) | frozenset(_CLITICS) | frozenset(w.replace("'", "\u2019") for w in _CLITICS)


@dataclass
class Vocab:
    words: list[str]             # index -> word; 0 is padding, 1 unknown
    answers: list[str]           # R's dictionary; 0 is STOP
    entities: list[str]          # words that may be swapped for UNK in training (names, places, objects)

    def __post_init__(self):
        self.index = {w: i for i, w in enumerate(self.words)}
        self.answer_index = {w: i for i, w in enumerate(self.answers)}
        self._answer_of: np.ndarray | None = None

    def answer_of(self) -> np.ndarray:
        """Global word id -> R dictionary index (-1 if the word is not in the dictionary): built once, as a
        vocabulary never changes once made."""
        if self._answer_of is None:
            t = np.full(len(self.words), -1, dtype=np.int64)
            for w, a in self.answer_index.items():
                if w in self.index:
                    t[self.index[w]] = a
            # a story's lower-case token is its answer too ("mary" says "Mary"), as "kitchen" is "kitchen". In a
            # conversation "bill" (the gas bill) so becomes the answer "Bill": bAbI's four names are the only capitals
            for w, a in self.answer_index.items():
                if w.lower() in self.index and t[self.index[w.lower()]] < 0:
                    t[self.index[w.lower()]] = a
            self._answer_of = t
        return self._answer_of

    def id(self, w: str) -> int:
        return self.index.get(w, UNK)

    def ids(self, toks: Sequence[str]) -> np.ndarray:
        out = np.zeros(L, dtype=np.int64)
        for p, w in enumerate(toks[:L]):
            out[p] = self.index.get(w, UNK)
        return out

    def to_json(self) -> dict:
        return {"words": self.words, "answers": self.answers, "entities": self.entities}

    @classmethod
    def from_json(cls, obj: dict) -> "Vocab":
        return cls(list(obj["words"]), list(obj["answers"]), list(obj["entities"]))

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=0), encoding="utf-8")

    @classmethod
    def build(cls, statements: list[Sequence[str]], questions: list[Sequence[str]], answers: list[Sequence[str]],
              names: Sequence[str] = ()) -> "Vocab":
        """`names`: people's names (lower case) the stories use, entities too whether or not they are answers."""
        words: dict[str, None] = {}
        for toks in list(statements) + list(questions):
            for w in toks:
                words.setdefault(w, None)
        ans: dict[str, None] = {}
        for a in answers:
            for w in a:
                ans.setdefault(w, None)
                words.setdefault(w, None)
        in_stories = {w for toks in statements for w in toks}
        # Entities in the stories' (lower-case) form: an answer is one whatever its case ("Mary" answers, "mary"
        # is what the stories' tokens say); names were left out when only the exact case counted, so O and R
        # never saw a person's name as an unknown word, and renamed people failed task 5 (32%) and 14 (78%).
        entities = sorted(({w.lower() for w in ans if w.lower() in in_stories} | {n for n in names if n in in_stories})
                          - STOP_WORDS - {"yes", "no", "maybe", "nothing", "none"})
        return cls(["<pad>", "<unk>"] + sorted(words), [STOP] + sorted(ans), entities)

    def entity_ids(self) -> list[int]:
        """Word ids word dropout swaps for UNK: every entity, in the stories' form and as a dictionary answer."""
        forms = set(self.entities)
        return sorted(i for w, i in self.index.items() if w.lower() in forms)


class StoryIndex:
    """Per-story token tables: global ids (for embeddings) and story-local ids (for exact matches,
    unseen words included)."""

    def __init__(self, token_lists: Sequence[Sequence[str]], vocab: Vocab):
        self.vocab = vocab
        self.local: dict[str, int] = {}       # match key (see key()) -> local id
        self._words: list[str] = []           # local id -> word (word())
        self._keys: dict[str, str] = {}       # word -> match key, memoised
        self._said: set[int] = set()          # local ids whose word() a memory wrote
        self._mem_words: set[str] = set()     # every word the memories write
        self.gid = np.zeros((0, L), dtype=np.int64)
        self.lid = np.full((0, L), -1, dtype=np.int64)
        self.content: list[list[int]] = []
        self.ngrams: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.blocks: dict = {}     # feature blocks keyed by (memories visible, reference)
        self.extend(token_lists)

    def __len__(self) -> int:
        return len(self.content)

    def extend(self, token_lists: Sequence[Sequence[str]]) -> None:
        """Add newer memories at the end (G only ever appends)."""
        n = len(token_lists)
        for toks in token_lists:           # first, so that a batch's plurals meet its singulars in any order
            self._mem_words.update(toks)
        gid = np.zeros((n, L), dtype=np.int64)
        lid = np.full((n, L), -1, dtype=np.int64)
        # The same ids as local_ids and content_ids memory by memory, gathered flat: one copy into each table
        index, content, lid_of = self.vocab.index, self.content, self._lid
        flat_g: list[int] = []
        flat_l: list[int] = []
        lens = np.zeros(n, dtype=np.int64)
        for i, toks in enumerate(token_lists):
            head = toks[:L]
            lens[i] = len(head)
            flat_g += [index.get(w, UNK) for w in head]
            flat_l += [lid_of(w) for w in head]
            content.append(sorted({lid_of(w) for w in toks if w not in STOP_WORDS}))
        filled = np.arange(L) < lens[:, None]
        gid[filled] = flat_g
        lid[filled] = flat_l
        self.gid = np.concatenate([self.gid, gid])
        self.lid = np.concatenate([self.lid, lid])
        self.ngrams = {g: _ngrams(self.lid, g) for g in (2, 3)}
        self.blocks = {}

    def key(self, w: str) -> str:
        """What exact matches compare. A word of the vocabulary is itself: its embedding carries the rest, and
        bAbI's features stay as trained. An unseen word loses a plural "s" where the memories also write it
        without (and that is unseen too), so that "Zorbs are afraid of glims." matches "Tim is a zorb." by
        identity, as "wolves" meets "wolf" through the embeddings. Only memories count: "Where does Kevin live?"
        must not make "lives" a match of "live" (verbs take an "s" too, and s_O was not trained on that)."""
        k = self._keys.get(w)
        if k is None:
            k = self._keys[w] = w[:-1] if self._plural_form(w) and w[:-1] in self._mem_words else w
        return k

    def _plural_form(self, w: str) -> bool:
        """Whether `w` reads as the plural of an unseen word (key() keys it bare once a memory writes that)."""
        return (len(w) > 3 and w.endswith("s") and not w.endswith("ss") and w[-2].isalpha()
                and w not in self.vocab.index and w[:-1] not in self.vocab.index and w not in STOP_WORDS)

    def rekeys(self, token_lists: Sequence[Sequence[str]]) -> bool:
        """Whether these newer memories write the bare form of a plural already keyed as itself (written, or
        asked about, before it): extended, they would not meet it, so the index must be built anew."""
        keys = self._keys
        return any(keys.get(w + "s") == w + "s" and self._plural_form(w + "s") for toks in token_lists for w in toks)

    def _lid(self, w: str, said: bool = True) -> int:
        """`said`: a memory's word, whose bare form is how the word is said ("glim" over "glims"); a question's
        word names a new id only."""
        k = self.key(w)
        lid = self.local.get(k)
        if lid is None:
            lid = self.local[k] = len(self._words)
            self._words.append(w)
            if said:
                self._said.add(lid)
        elif said and (w == k or lid not in self._said):
            self._words[lid] = w
            self._said.add(lid)
        return lid

    def lid_of(self, w: str, default: int | None = -1) -> int | None:
        """The local id of `w`, without handing out a new one. Memories' tokens are lower case, so is the lookup:
        R's answer "Mary" is the story's "mary"."""
        return self.local.get(self.key(w.lower()), default)

    def word(self, lid: int) -> str:
        """A word of a story-local id, as written: the bare form where the memories have both."""
        return self._words[lid]

    def local_ids(self, toks: Sequence[str]) -> list[int]:
        return [self._lid(w, False) for w in toks]

    def content_ids(self, toks: Sequence[str]) -> list[int]:
        return sorted({self._lid(w, False) for w in toks if w not in STOP_WORDS})

    def query(self, toks: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        lid = np.full(L, -1, dtype=np.int64)
        lid[: min(L, len(toks))] = self.local_ids(toks[:L])
        return self.vocab.ids(toks), lid, self.content_ids(toks)


_B = 100_003  # base for packing n-grams of local ids into one integer


def _ngrams(lid: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Packed n-grams of each row of a (rows, L) local-id matrix, and which are real."""
    k = lid.shape[-1] - n + 1
    code = np.zeros(lid.shape[:-1] + (k,), dtype=np.int64)
    ok = np.ones_like(code, dtype=bool)
    for j in range(n):
        part = lid[..., j: j + k]
        code = code * _B + part
        ok &= part >= 0
    return code, ok


def _content_matrix(idx: StoryIndex, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Which content words (columns: local ids) each of the first n memories holds; cached per n."""
    key = (n, "W")
    if key not in idx.blocks:
        lens = [len(c) for c in idx.content[:n]]
        flat = np.fromiter(itertools.chain.from_iterable(idx.content[:n]), dtype=np.int64, count=sum(lens))
        cols = np.unique(flat)
        W = np.zeros((n, cols.size), dtype=np.float32)
        W[np.repeat(np.arange(n), lens), np.searchsorted(cols, flat)] = 1.0
        idx.blocks[key] = (W, cols)
    return idx.blocks[key]


def _cooccurrence(idx: StoryIndex, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, n) content words each pair of the first n memories share, off the diagonal, and the columns of
    _content_matrix it counts: the words at least two memories hold (a word of one memory adds to the diagonal
    alone, and the bridge feature never reads the diagonal). Cached per n like the blocks."""
    key = (n, "WW")
    if key not in idx.blocks:
        W, _ = _content_matrix(idx, n)
        shared = W.sum(0) > 1
        Ws = W[:, shared]
        idx.blocks[key] = (Ws @ Ws.T, shared)
    return idx.blocks[key]


def _word_positions(idx: StoryIndex, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Where each local id sits among the first n memories: (ids ascending, rows, positions), row by row and left
    to right within an id, and each memory's length in words; cached per n like the blocks."""
    key = (n, "P")
    if key not in idx.blocks:
        lid = idx.lid[:n]
        rows, pos = np.nonzero(lid >= 0)
        ids = lid[rows, pos]
        order = np.argsort(ids, kind="stable")
        idx.blocks[key] = (ids[order], rows[order], pos[order], (lid >= 0).sum(1))
    return idx.blocks[key]


def _ngram_ids(idx: StoryIndex, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Every memory's real g-grams numbered (-1: none there) and the sorted distinct codes; cached like the blocks."""
    key = ("G", g)
    if key not in idx.blocks:
        code, ok = idx.ngrams[g]
        uniq = np.unique(code[ok])
        num = np.full(code.shape, -1, dtype=np.int64)
        num[ok] = np.searchsorted(uniq, code[ok])
        idx.blocks[key] = (num, uniq)
    return idx.blocks[key]


def _pair_block(idx: StoryIndex, n: int, ref_pos: int, ref_content: list[int], ref_seq: np.ndarray,
                out: np.ndarray, mask: np.ndarray) -> None:
    """Fill the N_PAIR features of every memory 0..n-1 against one reference at time `ref_pos`.

    0 present, 1-2 shared words, 3-5 latest / latest before / first after the reference to share a word,
    6-10 relative time, 11-12 shared bigrams and trigrams, 13-14 shared words in the same / opposite order,
    15 bridges: other memories that share a word with this one and another word with the reference
    (a lookahead, so a first hop can be judged by where it leads), 16-17 where the shared words sit in the
    reference and in the memory (0 start .. 1 end): "from the kitchen to the garden" tells from and to apart.

    A word's memories are read from a table of where every word sits (_word_positions) and n-grams by number,
    not by comparing every memory's 12 slots: the same numbers (tests/test_features.py keeps the direct form)."""
    pos = np.arange(n)
    out[:n, 0] = 1.0
    shared = np.zeros(n, dtype=np.float32)
    first_pos = []
    rel_ref = np.zeros(n)
    rel_mem = np.zeros(n)
    ref_len = int((ref_seq >= 0).sum())
    w_ids, w_rows, w_pos, lens = _word_positions(idx, n)
    bounds = np.searchsorted(w_ids, np.repeat(np.asarray(ref_content, dtype=np.int64), 2) + np.tile([0, 1], len(ref_content)))
    for k, w in enumerate(ref_content):
        lo, hi = int(bounds[2 * k]), int(bounds[2 * k + 1])
        if lo == hi:
            continue
        r, p = w_rows[lo:hi], w_pos[lo:hi]
        mask[r, p] = True
        starts = np.flatnonzero(np.concatenate([[True], r[1:] != r[:-1]]))
        occ = r[starts]                               # the memories holding w, ascending
        shared[occ] += 1
        out[occ[-1], 3] = 1.0
        before = occ[occ < ref_pos]
        if before.size:
            out[before[-1], 4] = 1.0
        after = occ[occ > ref_pos]
        if after.size:
            out[after[0], 5] = 1.0
        where = np.flatnonzero(ref_seq == w)
        if where.size:
            cpos = np.full(n, -1, dtype=np.int64)
            cpos[occ] = p[starts]                     # w's first place in each memory
            first_pos.append((where[0], cpos))
            rel_ref[occ] += where[0] / max(1, ref_len - 1)
            rel_mem[occ] += cpos[occ] / np.maximum(1, lens[occ] - 1)
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
        rcode, rok = _ngrams(ref_seq, g)
        rcode = rcode[rok]
        if rcode.size:
            num, uniq = _ngram_ids(idx, g)
            held = np.zeros(uniq.size + 1, dtype=bool)      # the last slot: no n-gram (number -1)
            if uniq.size:
                at = np.searchsorted(uniq, rcode).clip(max=uniq.size - 1)
                held[at[uniq[at] == rcode]] = True
            out[:n, col] = np.minimum(held[num[:n]].sum(1), 3) / 3
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
        # Only a memory j holding a reference word can be reached (reaches_ref's other columns are False).
        WW, shared_cols = _cooccurrence(idx, n)
        J = np.flatnonzero(B.any(1))
        Bs = W[:, in_ref & shared_cols]
        via_other = WW[:, J] - Bs @ Bs[J].T > 0
        reaches_ref = (1 - B) @ B[J].T > 0             # j shares a reference word that i lacks
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


def o_features(idx: StoryIndex, n: int, q_lid: np.ndarray, q_content: list[int], chosen: Sequence[int]
               ) -> tuple[np.ndarray, np.ndarray]:
    """Features of the n memories plus STOP (row n) for the next hop, given the hops chosen so far.

    Returns F (n+1, F_O) float32 and shared-word masks (n+1, N_REFS, L) bool."""
    F = np.zeros((n + 1, F_O), dtype=np.float32)
    M = np.zeros((n + 1, N_REFS, L), dtype=bool)
    refs = [(("q", tuple(q_lid)), n, q_content, q_lid)]
    for c in list(chosen)[::-1][:2]:
        refs.append((("m", c), c, idx.content[c], idx.lid[c]))
    if len(idx.blocks) > 4096:
        idx.blocks = {}
    for r, (key, rpos, rcontent, rseq) in enumerate(refs):
        key = (n, key)               # blocks depend only on (n, reference): reuse them across hops, beams, questions
        if key not in idx.blocks:
            fb = np.zeros((n + 1, N_PAIR), dtype=np.float32)
            mb = np.zeros((n + 1, L), dtype=bool)
            _pair_block(idx, n, rpos, rcontent, rseq, fb, mb)
            idx.blocks[key] = (fb, mb)
        fb, mb = idx.blocks[key]
        F[:, r * N_PAIR:(r + 1) * N_PAIR] = fb
        M[:, r] = mb
    g = N_REFS * N_PAIR
    if chosen:
        F[list(chosen), g] = 1.0
    F[:n, g + 1] = np.log1p(n - 1 - np.arange(n)) / 3.0
    F[n, :] = 0.0
    M[n] = False
    F[n, g + 2] = 1.0
    return F, M


@dataclass
class RInput:
    """What R sees for one question: the question and its supporting memories in hop order."""

    q_gid: np.ndarray         # (L,)
    s_gid: np.ndarray         # (KR, L)
    s_lid: np.ndarray         # (KR, L) story-local ids, -1 = empty
    q_match: np.ndarray       # (3, L, L) content match of support k (rows) with question (cols)
    s_match: np.ndarray       # (L, L) content match of support 1 with support 2
    pos_feat: np.ndarray      # (KR, L, 4): in question, in a later support, in an earlier support, last word
    n_support: int
    seq_gid: np.ndarray       # (T_SEQ,) question then supports 1-3, words only, for R's recurrent reader
    seq_seg: np.ndarray       # (T_SEQ,) 0 question, k support k
    seq_flag: np.ndarray      # (T_SEQ, 4) the word also occurs in: question, support 1, 2, 3
    seq_len: int
    seq_index: np.ndarray     # (KR, L) where each support word sits in the sequence (-1: not in it)


def _isin(a: np.ndarray, b) -> np.ndarray:
    """np.isin for the few ids of a sentence or two: one comparison, without np.isin's sorting."""
    return (a[..., None] == np.asarray(b, dtype=np.int64)).any(-1)


def r_input(idx: StoryIndex, q_toks: Sequence[str], support: Sequence[int]) -> RInput:
    q_gid, q_lid, _ = idx.query(q_toks)
    sup = list(support)[:KR]
    s_gid = np.zeros((KR, L), dtype=np.int64)
    s_lid = np.full((KR, L), -1, dtype=np.int64)
    for k, m in enumerate(sup):
        s_gid[k] = idx.gid[m]
        s_lid[k] = idx.lid[m]
    local_stop = [lid for lid in (idx.lid_of(w, None) for w in STOP_WORDS) if lid is not None]
    content = (s_lid >= 0) & ~_isin(s_lid, local_stop)
    q_content = (q_lid >= 0) & ~_isin(q_lid, local_stop)
    q_match = np.zeros((3, L, L), dtype=np.float32)
    for k in range(min(3, len(sup))):
        q_match[k] = (s_lid[k][:, None] == q_lid[None, :]) & content[k][:, None] & q_content[None, :]
    s_match = ((s_lid[0][:, None] == s_lid[1][None, :]) & content[0][:, None] & content[1][None, :]).astype(np.float32)
    pos_feat = np.zeros((KR, L, 4), dtype=np.float32)
    in_q = q_lid[q_lid >= 0]
    for k in range(len(sup)):
        valid = s_lid[k] >= 0
        pos_feat[k, :, 0] = _isin(s_lid[k], in_q) & valid
        later = s_lid[k + 1: len(sup)].ravel()
        earlier = s_lid[:k].ravel()
        pos_feat[k, :, 1] = _isin(s_lid[k], later[later >= 0]) & valid & content[k]
        pos_feat[k, :, 2] = _isin(s_lid[k], earlier[earlier >= 0]) & valid & content[k]
        nv = int(valid.sum())
        if nv:
            pos_feat[k, nv - 1, 3] = 1.0
    parts = [(q_gid, q_lid, q_content)] + [(s_gid[k], s_lid[k], content[k]) for k in range(min(3, len(sup)))]
    sets = [set(lid[c].tolist()) for _, lid, c in parts] + [set()] * (4 - len(parts))
    seq_gid = np.zeros(T_SEQ, dtype=np.int64)
    seq_seg = np.zeros(T_SEQ, dtype=np.int64)
    seq_flag = np.zeros((T_SEQ, 4), dtype=np.float32)
    seq_index = np.full((KR, L), -1, dtype=np.int64)
    t = 0
    for seg, (g, lid, _) in enumerate(parts):
        for p in np.flatnonzero(lid >= 0):
            seq_gid[t], seq_seg[t] = g[p], seg
            seq_flag[t] = [lid[p] in st for st in sets]
            if seg:
                seq_index[seg - 1, p] = t
            t += 1
    return RInput(q_gid, s_gid, s_lid, q_match, s_match, pos_feat, len(sup), seq_gid, seq_seg, seq_flag, max(t, 1),
                  seq_index)
