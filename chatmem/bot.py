"""The whole pipeline, I -> G -> O -> R, behind two calls: `Bot.observe` and `Bot.ask`.

The app and replays both use it; nothing here imports Textual.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from chatmem import ChatmemError
from chatmem.features import STOP_WORDS
from chatmem.input import Encoder, MiniLMEncoder, Utterance, encode, make_utterance, parse
from chatmem.memory import Memory, MemoryBase, new_session_id
from chatmem.paths import assets_dir
from chatmem.util import TokenVectorCache

POOL_ALL = 4096          # up to this many memories the relevance term ranks every one of them
COSINE_WINDOW = 50_000   # above it: the word-hash candidates and the MiniLM-nearest of the newest memories
COSINE_TOP = 64
CLOSED_ANSWERS = {"yes", "no", "maybe"}   # R's answers about a question's words, not copied from a memory
MEMORY_WORDS_KNOWN = 0.45   # s_O's vocabulary holds at least this share of the memories' words: bAbI-like memories
O_CANDIDATES = 48        # memories the full s_O scores at the first hop, the relevance term's best


def question_fit(q_tokens: Sequence[str], cited: Sequence[Sequence[str]], words: Sequence[str],
                 known: dict) -> tuple[bool, bool]:
    """(related, strange): whether a cited memory shares a content word with the question, and whether the
    question has a content word R never saw (`known`: its vocabulary) that no cited memory mentions."""
    told = {w for t in cited for w in t}
    content = [w for w in q_tokens if w not in STOP_WORDS]
    related = any(w in told for w in content)
    strange = any(w not in known and w not in told for w in content)
    if related and words and set(words) <= CLOSED_ANSWERS:
        strange = False
    return related, strange


def nearness(question: np.ndarray, cited: np.ndarray) -> float:
    """The MiniLM cosine of the question with the nearest cited memory (vectors are normalised)."""
    return float(np.max(np.asarray(cited, dtype=np.float32) @ np.asarray(question, dtype=np.float32), initial=-1.0))


NOT_NEAR = 2.0   # a nearness cutoff no cosine reaches: only a shared content word makes memories about the question


def about(shares_word: bool, near: float, cutoff: float) -> bool:
    """Whether the cited memories are about the question: one shares a content word with it (question_fit), or
    the nearest is at least `cutoff` near it (nearness; Bot.related_cos, fitted by chatmem.span_train)."""
    return shares_word or near >= cutoff


@dataclass(frozen=True)
class Support:
    memory: Memory
    hop: int          # 1 for o1, 2 for o2, ...
    score: float


_PLAIN = frozenset("yes no maybe none nothing".split())


def _whole_word(word: str) -> re.Pattern:
    """`word` standing alone in a memory's text, in any case."""
    return re.compile(rf"(?<![\w'-]){re.escape(word)}(?![\w'-])", re.IGNORECASE)


def as_written(word: str, texts: Sequence[str]) -> str:
    """A word of R's dictionary (lower case) as the cited memories write it: "ingrid" -> "Ingrid", "mary" -> "Mary".
    A capital that only opens a sentence counts for names, not for "no" or "nothing"."""
    pat = _whole_word(word)
    opening = None
    for t in texts:
        for m in pat.finditer(t):
            if m.group() == word:
                continue
            if not re.search(r"(^|[.!?:]\s+)[\"'(]?$", t[:m.start()]):
                return m.group()
            opening = opening or m.group()
    return opening if opening and word not in STOP_WORDS and word not in _PLAIN else word


@dataclass
class Answer:
    question: str
    words: list[str]
    score: float                       # R's margin of the best word over the runner-up
    confident: bool
    supports: list[Support]
    trace: list[list[tuple[Memory | None, float]]] = field(default_factory=list)  # per hop: top candidates (None = STOP)
    related: bool = True               # a cited memory is about the question (chatmem.bot.Bot.related_cos)
    ranking: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # O's hop 1: (memory ids, scores), best first
    span: tuple[int, int, int] | None = None   # a span answer: (memory id, start, end) of the words it copied

    @property
    def text(self) -> str:
        if not self.supports:     # O stopped before a first hop: nothing, or nothing it found, answers this
            seen = self.ranking is not None and len(self.ranking[0]) > 0
            return "I don't know that." if seen else "I don't remember anything about that yet."
        if not self.confident:
            if not self.related:
                return f"I don't know that. The closest thing I remember: {self.supports[0].memory.text}"
            return f"I'm not sure. I remember: {self.supports[0].memory.text}"
        return ", ".join(self.said_words)

    @property
    def said_words(self) -> list[str]:
        """R's words as said: a span as copied, a dictionary word as the cited memories write it."""
        if self.span is not None:
            return list(self.words)
        return [as_written(w, [s.memory.text for s in self.supports]) for w in self.words]

    @property
    def marked(self) -> tuple[int, int, int] | None:
        """The words to mark in a cited memory, as (memory id, start, end): the span R copied, or else where the
        first cited memory that writes it has a one-word dictionary answer ("kitchen" in "Mary went to the
        kitchen.")."""
        if self.span is not None or len(self.words) != 1 or self.words[0] in _PLAIN:
            return self.span
        pat = _whole_word(self.words[0])
        for s in self.supports:
            m = pat.search(s.memory.text)
            if m:
                return s.memory.id, m.start(), m.end()
        return None

    def to_json(self) -> dict:
        return {"question": self.question, "answer": self.text, "words": self.words, "score": round(self.score, 4),
                "confident": self.confident,
                "span": None if self.span is None else dict(zip(("id", "start", "end"), self.span)),
                "support": [{"id": s.memory.id, "text": s.memory.text, "hop": s.hop, "score": round(s.score, 4)}
                            for s in self.supports]}


@dataclass
class Event:
    """What happened to one utterance: a stored statement or an answered question."""

    utterance: Utterance
    stored: Memory | None = None
    answer: Answer | None = None


class Bot:
    def __init__(self, memory: MemoryBase, model_dir: Path | None = None, encoder: Encoder | None = None,
                 session: str | None = None):
        self.memory = memory
        self.model_dir = Path(model_dir) if model_dir else assets_dir()
        self.encoder = encoder or MiniLMEncoder()
        self.session = session or new_session_id()
        self._loaded = None
        self._lock = getattr(memory, "lock", None) or threading.RLock()   # the store's: UI and worker share it
        self._cache = None   # (memory version, n, StoryIndex)
        self.retriever = None  # candidate memories for O (chatmem.retrieval); made on first use
        # (memory version, R's token vectors of what it read): in RAM only, dropped when the app forgets a memory
        # (forget_caches), at the first question after any other change, or past 512 texts
        self._tv: tuple[object, TokenVectorCache] | None = None

    # -- loading -------------------------------------------------------------------
    def load(self, encoder: bool = True) -> "Bot":
        """Load the model and (unless `encoder` is False: it then loads on first use) the encoder.
        Slow: seconds. Safe to call again."""
        with self._lock:
            if self._loaded is None:
                from chatmem import checkpoint

                self._loaded = checkpoint.load(self.model_dir)
            if encoder and hasattr(self.encoder, "load"):
                self.encoder.load()
        return self

    @property
    def threshold(self) -> float:
        return float(self.load()._loaded.config.get("confidence_threshold", 0.0))

    # -- G -------------------------------------------------------------------------
    def observe(self, text: str) -> list[Memory]:
        """Store every statement in `text` (one memory per sentence); questions are ignored."""
        utts = [u for u in parse(text) if not u.is_question]
        return self.store(utts)

    def store(self, utts: list[Utterance], created: list[float] | None = None) -> list[Memory]:
        """Write statements as memories, at `created` (UNIX seconds each; default now)."""
        if not utts:
            return []
        with self._lock:
            written = self.memory.write(encode(utts, self.encoder), self.session, created)
            self._g_update(written)
            return written

    # -- G's update and H (issue 15: chatmem.update, chatmem.budget) --------------------------------------------
    link_updates = True                 # G links a new statement to the older memory it supersedes
    max_memories: int | None = None     # the memory budget (None: unbounded)
    budget_policy = "H"                 # or a fixed policy of chatmem.budget.POLICIES
    budget_rng = None                   # numpy Generator for the random policy (benchmarks seed it)
    moved_out: list[int] = []           # ids the last write moved to the archive (replaced, never mutated)
    linked: list = []                   # chatmem.update.Link values the last write made (likewise)

    def _g_update(self, written: list[Memory]) -> None:
        """After a write: link superseded memories (the trained update scorer), then, over budget, move the
        memories H chooses into the archive (`self.moved_out` lists them for the app)."""
        self.moved_out, self.linked = [], []
        if not written or not (self.link_updates or self.max_memories):
            return
        parts = self.load(encoder=False)._loaded
        ids = [m.id for m in written]
        if self.link_updates and parts.update is not None:
            from chatmem.update import link_new

            self.linked = link_new(parts.update, self.memory, ids)
        if self.max_memories and len(self.memory) > self.max_memories:
            from chatmem.budget import enforce

            if self.budget_policy == "H" and parts.budget is None:
                raise ChatmemError("the memory budget needs H, which this model lacks: train it with "
                                   "`chatmem train --stage update`")
            gone = enforce(self.memory, self.max_memories, self.budget_policy, parts.budget, ids, self.budget_rng)
            self.moved_out = gone

    def _superseded_penalty(self, rows: np.ndarray) -> np.ndarray | None:
        """O's feature from G's mark: a learned penalty on the first-hop score of each superseded memory
        among `rows` (None when no candidate is marked, or the model has no update part). Like the relevance
        term it applies only where O scores a retriever's candidates or α says s_O does not know the words:
        elsewhere bAbI's beam stays exactly as trained (with the penalty, "Sandra put down the football." pushed
        away the pick-up that a list answer needs, assets/dialogs/lists.chat)."""
        up = self._loaded.update
        if up is None or not up.cfg.penalty:
            return None
        from chatmem.update import superseded_mask

        mask = superseded_mask(self.memory, rows)
        return -float(up.cfg.penalty) * mask if mask.any() else None

    # -- O and R --------------------------------------------------------------------
    def ask(self, text: str) -> Answer:
        return self.answer(make_utterance(text))

    def handle(self, text: str) -> list[Event]:
        """Split pasted text into sentences: store statements (in one batch per run), answer questions."""
        events: list[Event] = []
        pending: list[Utterance] = []

        def flush():
            for u, m in zip(pending, self.store(pending)):
                events.append(Event(u, stored=m))
            pending.clear()

        for u in parse(text):
            if u.is_question:
                flush()
                events.append(Event(u, answer=self.answer(u)))
            else:
                pending.append(u)
        flush()
        return events

    def _story_index(self):
        from chatmem.features import StoryIndex

        mem = self.memory
        cached = self._cache
        if cached and cached[0] == mem.version and cached[1] == len(mem):
            return cached[2]
        vocab = self._loaded.vocab
        if cached and cached[1] <= len(mem) and cached[3] == (int(mem.ids[cached[1] - 1]) if cached[1] else None) \
                and not cached[2].rekeys(mem.tokens[cached[1]:]):
            idx = cached[2]
            idx.extend(mem.tokens[cached[1]:])
        else:
            idx = StoryIndex(mem.tokens, vocab)
        last = int(mem.ids[len(mem) - 1]) if len(mem) else None
        self._cache = (mem.version, len(mem), idx, last)
        return idx

    def _candidates(self, utt: Utterance):
        """Rows of memory that O scores for this question, oldest first; None means all of them.

        Above a few hundred memories a word-hashing retriever (chatmem.retrieval, paper §3.3) picks the
        candidates; `bot.retriever` may be replaced (e.g. by `retrieval.AllMemories()` for brute force)."""
        if self.retriever is None:
            from chatmem.retrieval import WordHashRetriever

            self.retriever = WordHashRetriever()
        return self.retriever.candidates(self.memory, utt.tokens, utt.embedding)

    def _relevance_candidates(self, pos: np.ndarray, k: int, retrieved: bool):
        """What O's first-hop relevance term (chatmem.relevance) reads of the memories at rows `pos`."""
        from chatmem.relevance import Candidates

        mem = self.memory
        if not retrieved:   # a few hundred memories at most, all of them candidates
            return Candidates.story(mem.tokens[:k], mem.embeddings[:k], self._loaded.vocab.index)
        post = self.retriever.postings      # the retriever's word index counts every memory
        # place in time among these memories (they are in write order), not in the whole store: among a million
        # an update and the value it replaces sit a millionth apart
        return Candidates(mem.tokens[pos], mem.embeddings[pos], lambda w: len(post.get(w, ())), len(mem),
                          np.arange(len(pos), dtype=np.float32) / max(len(pos) - 1, 1), self._loaded.vocab.index)

    def _pool(self, utt: Utterance, rows: np.ndarray) -> np.ndarray:
        """Memories the relevance term ranks before s_O sees any: every memory of a store up to POOL_ALL,
        else the word-hash candidates, and where no memory shares a word with the question, the MiniLM-nearest
        of the newest COSINE_WINDOW memories. (Where words find memories the nearest are mostly other people's
        look-alike sentences: "Lohaan moved to the hallway." for "Where is Loha?".)"""
        n = len(self.memory)
        if n <= POOL_ALL:
            return np.arange(n)
        knows = getattr(self.retriever, "knows_any", None)
        if knows is not None and knows(utt.tokens):
            return rows
        lo = max(0, n - COSINE_WINDOW)
        cos = self.memory.embeddings[lo:n] @ utt.embedding
        near = lo + np.argpartition(-cos, COSINE_TOP)[:COSINE_TOP]
        return np.union1d(rows, near)

    def _cascade(self, utt: Utterance, rows: np.ndarray):
        """O's first hop over a big store in two stages: the cheap relevance term r ranks the pool, and the
        full α s_O + r scores its top O_CANDIDATES together with the word-hash candidates. Returns (rows for s_O,
        (their r, α) or None where s_O knows the memories, (the pool, its r), what the term read of those rows:
        chatmem.relevance.Candidates, cut out of the pool's, which s_O's sentence table and the second hop read in
        turn)."""
        from chatmem.relevance import prior, question_names

        pool = self._pool(utt, rows)
        cands = self._relevance_candidates(pool, len(pool), True)
        r, alpha = prior(self._loaded.relevance, utt.tokens, utt.embedding, cands, question_names(utt.text))
        # s_O scores the term's best and the word-hash candidates, whose expansion by rare words holds the
        # memories a second hop needs ("Mary went to the kitchen." after "Mary picked up the football.")
        found = np.searchsorted(pool, rows)
        keep = np.union1d(np.argsort(-r, kind="stable")[:O_CANDIDATES], found)
        # Where the memories the question's words found are sentences s_O knows (bAbI-like), s_O ranks them alone,
        # as in a small store: with the term added (α 0.9) renamed bAbI task 2 among a million distractors fell
        # from 99% (alone) to 73%: "Where is the hamimo?" cited an older pick-up, not the latest drop.
        term = (r[keep], alpha) if self._conversational(utt, cands.subset(found) if len(found) else cands) else None
        return pool[keep], term, (pool, r), cands.subset(keep)

    def _small_prior(self, utt: Utterance, k: int):
        """The relevance term over all k memories of a small store (None where s_O knows the question and the
        memories: `_conversational`), and the candidates it read, which the second hop reads too. α is learned
        (chatmem.relevance): on bAbI stories of every task it stays at 0.91-0.93, on generated everyday
        conversations at 0.55-0.76. Where s_O knows them the term is left out,
        because O's beam over whole chains depends on the first hop's distribution: with the term at α 0.93, bAbI
        test task 17 fell from 97.6% to 96.3%. On everyday conversations it lifts the memories cited right from
        76% to 84% (the generator's held-out conversations)."""
        from chatmem.relevance import prior, question_names

        cands = self._relevance_candidates(np.arange(k), k, False)
        p = prior(self._loaded.relevance, utt.tokens, utt.embedding, cands, question_names(utt.text))
        return (p if self._conversational(utt, cands) else None), cands

    @staticmethod
    def _conversational(utt: Utterance, cands) -> bool:
        """Memories s_O was not trained on: s_O's vocabulary holds under MEMORY_WORDS_KNOWN of their words. (In
        the relevance term's training data that share is 0.59-0.96 for bAbI stories with invented names, which
        need s_O as trained (with the term, renamed test task 4 fell from 100% to 94.0%), and 0.16-0.32 for
        generated and LoCoMo conversations, 5th to 95th percentile.) The question's words do not decide it:
        requiring α (learned, and high where the question's words are bAbI's) below 0.85 as well left "Where did
        we park?" to the bAbI-trained s_O over everyday memories, which cited "I'm allergic to penicillin."."""
        return float(cands.question_features(utt.tokens)[1]) < MEMORY_WORDS_KNOWN

    def _later(self, utt: Utterance, cands):
        """The learned second hop (chatmem.hop2) where s_O does not know the memories
        (`_conversational`, in a big store too: with α alone, renamed bAbI stories among 1,000 bAbI-like
        distractors got the learned hop, which stopped after "Sanera discarded the samiis.", and task 2 fell to
        51%); from a first memory that s_O knows, s_O goes on (chatmem.hop2.Later). It reads `cands`: the small
        store's candidates the relevance term read, or a big store's candidates s_O scores (`_cascade`)."""
        hop2 = self._loaded.hop2
        if hop2 is None or not self._conversational(utt, cands):
            return None
        from chatmem.hop2 import Later
        from chatmem.relevance import question_names

        return Later(hop2, utt.tokens, utt.embedding, cands, question_names(utt.text))

    @property
    def span_threshold(self) -> float:
        return float(self.load()._loaded.config.get("span_threshold", 0.5))

    def span_calibration(self, memories: int) -> tuple[float, float, float | None]:
        """R's span threshold, how near a cited memory must be to count as about the question, and where "no
        answer" wins (chatmem.span.no_answer) for a store of `memories`: those fitted with a cut on the smallest
        stores as big (`span_stores`, chatmem.span_train: one conversation's, a few planted together); beyond the
        biggest, those fitted with "no answer" winning above the best span (LoCoMo's conversations of 300-700 turns
        hold many more look-alike facts: with the cut, its adversarial questions were declined 31% of the time,
        against 70% without it)."""
        for st in self.load()._loaded.config.get("span_stores", ()):
            if memories <= st["memories"]:
                return float(st["threshold"]), float(st["related_cos"]), st["null_cut"]
        return self.span_threshold, self.related_cos, None

    @property
    def related_cos(self) -> float:
        """How near (MiniLM cosine) a cited memory must be to the question to count as about it when they share
        no content word ("What is my job?", "I am a researcher.": 0.37). Fitted with the span threshold on
        training-split conversations (chatmem.span_train.choose_threshold); a model without it: never."""
        return float(self.load()._loaded.config.get("span_related_cos", NOT_NEAR))

    def _spans(self, utts, queries, where) -> dict:
        """R's best span in the supporting memories of each answered question (chatmem.span), by query."""
        from chatmem.span import SUPPORTS, predict, span_input
        from chatmem.when import r_text

        sr, sv = self._loaded.span, self._loaded.span_vocab
        todo = [(u, q, pos) for u, q, pos in zip(utts, queries, where) if q.chosen]
        if sr is None or sv is None or not todo:
            return {}
        sups = [[self.memory.memory_at(int(pos[i])) for i in q.chosen[:SUPPORTS]] for _, q, pos in todo]
        reads = sr.cfg.sem and hasattr(self.encoder, "token_vectors")   # else zeros: words by identity alone
        pairs = list(zip(todo, sups))
        inputs = []
        for i in range(0, len(pairs), 64):
            part = pairs[i: i + 64]
            tv = self._token_cache() if reads else None
            if tv is not None:          # a batch of questions' texts in one pass of the encoder
                tv.fill([u.text for (u, _, _), _ in part] + [r_text(m.text, m.created)[0] for _, ms in part for m in ms])
            inputs += [span_input(sv, u.tokens, u.embedding, [m.text for m in ms], [m.created for m in ms], u.text, tv)
                       for (u, _, _), ms in part]
        return {id(q): s for (_, q, _), s in zip(todo, predict(sr, inputs)) if s is not None}

    def forget_caches(self) -> None:
        """Drop what the Bot keeps of memories' text between questions (R's token vectors); call after forgetting."""
        with self._lock:
            self._tv = None

    def _token_cache(self) -> TokenVectorCache:
        version = getattr(self.memory, "version", None)
        if self._tv is None or self._tv[0] != version or len(self._tv[1].seen) > 512:
            self._tv = (version, TokenVectorCache(self.encoder))
        return self._tv[1]

    def answer(self, utt: Utterance) -> Answer:
        return self.answer_many([utt])[0]

    def _queries(self, utts: list[Utterance], visible: list[int] | None, train: bool = False):
        """O's inputs for a batch of questions: one sentence table (blocks of memory rows, each question's row
        after its block) and a Query per question over its candidates; `where` maps back to memory rows.
        `train`: no relevance term, and s_O over the whole pool the term would rank (its training data).
        The relevance term works only where a retriever's candidates are scored (more than a few hundred
        memories): up to that, O is exactly the bAbI-trained s_O, whose beam over whole chains any change to
        the first hop's distribution disturbs (with the term applied there, bAbI 1k test tasks 17 and 18 fell
        to 94.5% and 91.9% (a cross-entropy refit of the term), although held-out generated conversations gained:
        cited right 77% -> 86%)."""
        import torch

        from chatmem.features import StoryIndex
        from chatmem.output import Query

        self.memory.refresh()
        mem = self.memory
        n = len(mem)
        utts = encode(utts, self.encoder)
        visible = [n if v is None else min(v, n) for v in (visible or [None] * len(utts))]
        vocab = self._loaded.vocab
        gids, minis, queries, where = [], [], [], []
        size = 0
        all_off = None                     # where the all-memories block starts (added once)

        def add(gid_rows, emb) -> int:
            nonlocal size
            gids.append(gid_rows)
            minis.append(np.asarray(emb, dtype=np.float32))
            size += len(gid_rows)
            return size - len(gid_rows)

        rel = self._loaded.relevance
        for utt, k in zip(utts, visible):
            rows = self._candidates(utt) if k == n else None
            p, pool, cands = None, None, None
            if rows is not None and train:
                rows = self._pool(utt, rows)
            elif rows is not None and rel is not None:
                rows, p, pool, cands = self._cascade(utt, rows)
            elif rows is None and rel is not None and not train:
                p, cands = self._small_prior(utt, k)
            if rows is None:                   # score every visible memory
                idx = self._story_index()
                if all_off is None:
                    all_off = add(idx.gid[:n], mem.embeddings)
                off, pos = all_off, np.arange(k)
            else:                              # score the candidates only, in write order
                # their tokens and MiniLM rows as the relevance term read them, where it did (`_cascade`)
                toks, emb = (mem.tokens[rows], mem.embeddings[rows]) if cands is None else (cands.tokens, cands.mini)
                idx = StoryIndex(toks, vocab)
                off, k, pos = add(idx.gid[: len(rows)], emb), len(rows), rows
            q_row = add(vocab.ids(utt.tokens)[None], utt.embedding[None])
            prior_ = None if p is None else p[0]
            # G's mark, where the relevance term acts too
            pen = None if train or (rows is None and p is None) else self._superseded_penalty(np.asarray(pos))
            if pen is not None:
                prior_ = pen if prior_ is None else prior_ + pen
            later = None if p is None else self._later(utt, cands)
            queries.append(Query(idx, off + np.arange(k), q_row, utt.tokens, k, retrieved=rows is not None,
                                 prior=prior_, alpha=1.0 if p is None else p[1], pool=pool, later=later,
                                 first_stop=p is None))
            where.append(pos)
        if not queries:
            return utts, None, None, [], []
        gid, mini = torch.as_tensor(np.concatenate(gids)), torch.as_tensor(np.concatenate(minis))
        return utts, gid, mini, queries, where

    def first_hop(self, utt: Utterance):
        """s_O of every candidate at the first hop without the relevance term, with what that term reads:
        (memory rows, scores, chatmem.relevance.Candidates). Training data for the relevance term."""
        from chatmem.output import run_hops

        self.load(encoder=False)
        with self._lock:
            _, gid, mini, queries, where = self._queries([utt], None, train=True)
            q, pos = queries[0], where[0]
            run_hops(self._loaded.model, gid, mini, queries, max_hops=1, beam=1)
            return pos, q.hop1, self._relevance_candidates(pos, q.n, q.retrieved)

    def answer_many(self, utts: list[Utterance], visible: list[int] | None = None) -> list[Answer]:
        """Answer several questions in one batch through O and R.

        visible[j] is how many of the oldest memories question j may see (default: all of them), so a
        replay can store a whole story first and still ask each question at its place in the story."""
        from chatmem.output import run_hops
        from chatmem.response import decode
        from chatmem.span import SUPPORTS, choose, gate_features, use_span

        self.load(encoder=False)          # encode() loads the encoder if a question still needs embedding
        with self._lock:
            utts, gid, mini, queries, where = self._queries(utts, visible)
            if not queries:
                return []
            mem = self.memory
            model, vocab = self._loaded.model, self._loaded.vocab
            run_hops(model, gid, mini, queries)
            answered = [q for q in queries if q.chosen]
            resps = dict(zip(map(id, answered), decode(model, vocab, gid, mini, answered) if answered else []))
            spans = self._spans(utts, queries, where)
            out = []
            for utt, q, pos in zip(utts, queries, where):
                def at(i: int) -> Memory:
                    return mem.memory_at(int(pos[i]))
                supports = [Support(at(i), j + 1, s) for j, (i, s) in enumerate(zip(q.chosen, q.hop_scores))]
                trace = [[(at(i) if i >= 0 else None, s) for i, s in hop] for hop in q.trace]
                resp = resps.get(id(q))
                ranking = None
                if q.hop1 is not None:
                    order = np.argsort(-q.hop1, kind="stable")
                    ranking = (mem.ids[np.asarray(pos)[order]].copy(), q.hop1[order])
                    if q.pool is not None:      # then the rest of the pool, by the relevance term alone
                        rest = np.setdiff1d(np.arange(len(q.pool[0])), np.searchsorted(q.pool[0], pos))
                        rest = rest[np.argsort(-q.pool[1][rest], kind="stable")]
                        low = float(q.hop1.min()) - 1.0 - float(q.pool[1][rest].max(initial=0.0))
                        ranking = (np.concatenate([ranking[0], mem.ids[q.pool[0][rest]]]),
                                   np.concatenate([ranking[1], low + q.pool[1][rest]]))
                if resp is None:
                    out.append(Answer(utt.text, [], 0.0, False, [], trace, ranking=ranking))
                    continue
                # Unlike anything trained: a content word the model never saw that no cited memory mentions ("What
                # is the capital of France?"). Not a reason for doubt in a yes/no question about what the cited
                # memories tell: "Is John in the nylu?" "no", from "John moved to the mexpel.". (Counting words
                # told in any memory too left LoCoMo's unanswerable questions undoubted: 77.6% -> 50.6% declined.)
                related, strange = question_fit(utt.tokens, [s.memory.tokens for s in supports], resp.words,
                                                vocab.index)
                tau, near, cut = self.span_calibration(len(mem) if q.retrieved else q.n)
                related = about(related, nearness(utt.embedding, mem.embeddings[np.asarray(pos)[q.chosen[:SUPPORTS]]]),
                                near)
                confident = bool(resp.words) and resp.score >= self.threshold and not strange
                sp = spans.get(id(q))
                gate = sp is not None and use_span(self._loaded.span, gate_features(
                    resp.score, confident, sp, utt.tokens, [s.memory.tokens for s in supports[:SUPPORTS]],
                    vocab.index, resp.words))
                c = choose(resp.words, resp.score, confident, related, sp, gate, tau, cut)
                words, score, confident, related = c.words, c.score, c.confident, c.related
                span = None if c.span is None or c.span.in_note else \
                    (supports[c.span.support].memory.id, c.span.start, c.span.end)
                out.append(Answer(utt.text, words, score, confident, supports, trace, related, ranking, span))
            self.memory.note_cited([s.memory.id for a in out for s in a.supports])    # H reads it (issue 15)
            return out
