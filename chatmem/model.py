"""O and R: the Memory Network scorers.

Both scorers keep the paper's form s(x, y) = Φx(x)ᵀ UᵀU Φy(y) and add the bAbI paper's
nonlinearity (an MLP over the same features) where it helps:

- O scores a candidate memory against the question and the memories chosen so far,
  plus a learned STOP "memory" that ends the hops (adaptive memory).
- R scores answer words: words of R's dictionary (yes/no, counts, directions, known words)
  and words of the supporting memories themselves, so unseen names can be answered.
  Multi-word answers (lists, paths) are emitted one word at a time until STOP.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as Fn

from chatmem.features import F_O, KR, L, MAX_ANSWER_WORDS, MAX_HOPS, N_REFS, T_SEQ

NEG = -1e4


@dataclass
class ModelConfig:
    vocab_size: int
    n_answers: int
    d: int = 48          # O word embedding size
    d_r: int = 32        # R word embedding size
    hidden: int = 256    # R's MLP
    hidden_o: int = 128  # O's embedding space and MLP
    gru: int = 64        # R's recurrent reader
    minilm_dim: int = 384
    margin: float = 1.0

    def to_json(self) -> dict:
        return asdict(self)


def _gather(rows: torch.Tensor, n: int):
    """t[rows] for tables t of n rows, row -1 the last: at inference by index_select, the same copy at a
    fraction of the time of advanced indexing (training keeps indexing and its backward)."""
    if torch.is_grad_enabled():
        return lambda t: t[rows]
    flat = (rows % n).reshape(-1)
    return lambda t: t.index_select(0, flat).view(*rows.shape, *t.shape[1:])


@dataclass
class OTable:
    """s_O's view of a sentence table (S sentences), row S being none / STOP."""
    tok: torch.Tensor    # (S+1, L, d) word embeddings, row S padding
    enc: torch.Tensor    # (S+1, d) encode_o, row S zeros
    Y: torch.Tensor      # (S+1, d) the memory side, row S the STOP "memory"
    v_in: torch.Tensor   # (S+1, h) o_in_v(U_oy Y)


@dataclass
class RContext:
    """What s_R reads that stays the same for every answer word of a question (MemNN.r_context)."""
    head: torch.Tensor      # (H, *) R's MLP input before the step, the words emitted and the reader's summary
    summary: torch.Tensor   # (H, 2g) the recurrent reader's summary
    ptr_in: torch.Tensor    # (H, KR*L, *) the pointer's input after its step context
    lid: torch.Tensor       # (H, KR*L) story-local id of each support word position (-1 none)
    same: torch.Tensor      # (H, KR*L, KR*L) the two positions hold the same word
    first: torch.Tensor     # (H, KR*L) the word's first position
    pos2ans: torch.Tensor   # (H, KR*L) the position's word in R's dictionary (-1 none)
    ans_mask: torch.Tensor  # (H, A) usable dictionary words


class MemNN(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        d, dr, h = cfg.d, cfg.d_r, cfg.hidden
        # --- O ---
        self.E_o = nn.Embedding(cfg.vocab_size, d, padding_idx=0)
        self.pos_o = nn.Parameter(torch.ones(L, d))
        self.mini_o = nn.Linear(cfg.minilm_dim, d, bias=False)
        ho = cfg.hidden_o
        self.U_ox = nn.Linear(4 * d + MAX_HOPS + 1, ho, bias=False)  # question side: [x, m_o1, m_o2, Σ chosen]
        self.U_oy = nn.Linear(d, ho, bias=False)                     # memory side
        self.stop = nn.Parameter(torch.zeros(d))
        # The nonlinear part: an MLP over [u, v, u*v, match and time features, shared-word embeddings].
        # Its first layer is split by input so the per-question and per-memory parts are computed once.
        self.o_in_u = nn.Linear(ho, ho)
        self.o_in_v = nn.Linear(ho, ho, bias=False)
        self.o_in_uv = nn.Linear(ho, ho, bias=False)
        self.o_in_f = nn.Linear(F_O + N_REFS * d, ho, bias=False)
        self.o_out = nn.Sequential(nn.ReLU(), nn.Linear(ho, ho), nn.ReLU(), nn.Linear(ho, 1))
        # --- R ---
        self.E_r = nn.Embedding(cfg.vocab_size, dr, padding_idx=0)
        self.mini_r = nn.Linear(cfg.minilm_dim, dr, bias=False)
        # A bidirectional GRU reads the question and supports 1-3 as one word sequence, each word marked
        # with where else it occurs: entity names of any length line up with their roles.
        self.r_seg = nn.Embedding(4, 8)
        self.r_gru = nn.GRU(dr + 8 + 4, cfg.gru, batch_first=True, bidirectional=True)
        n_r = 4 * L * dr + 3 * dr + 4 * L * L + (KR + 1) + (MAX_ANSWER_WORDS + 1) + dr + 2 * cfg.gru
        self.r_mlp = nn.Sequential(nn.Linear(n_r, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU())
        self.U_r = nn.Linear(h, cfg.n_answers)                       # R's dictionary words
        self.ptr_ctx = nn.Linear(h, 64)
        self.ptr_k = nn.Embedding(KR, 8)
        self.ptr_p = nn.Embedding(L, 8)
        self.ptr_mlp = nn.Sequential(nn.Linear(64 + 2 * dr + 16 + 4 + 2 * cfg.gru, 128), nn.ReLU(), nn.Linear(128, 1))
        nn.init.normal_(self.E_o.weight, std=0.3)
        nn.init.normal_(self.E_r.weight, std=0.3)

    # -- sentence encodings ------------------------------------------------------
    def encode_o(self, gid: torch.Tensor, mini: torch.Tensor) -> torch.Tensor:
        """Position-weighted bag of words plus a projection of the MiniLM embedding: (S, d)."""
        return (self.E_o(gid) * self.pos_o).sum(-2) + self.mini_o(mini)

    # -- O ---------------------------------------------------------------------------
    def o_table(self, sent_gid: torch.Tensor, sent_mini: torch.Tensor) -> OTable:
        """What s_O reads of the sentence table alone: computed once and reused at every hop and beam entry."""
        tok = self.E_o(torch.cat([sent_gid, torch.zeros(1, L, dtype=sent_gid.dtype)], 0))
        enc = (tok[:-1] * self.pos_o).sum(-2) + self.mini_o(sent_mini)      # encode_o, its lookups reused
        enc = torch.cat([enc, torch.zeros(1, enc.shape[1])], 0)     # row -1: none / STOP
        Y = torch.cat([enc[:-1], self.stop[None]], 0)                 # (S+1, d) row -1 is STOP
        V = self.U_oy(Y)                                              # (S+1, h) once per sentence
        return OTable(tok, enc, Y, self.o_in_v(V))

    def score_o(self, sent_gid, sent_mini, q_row, prev_rows, chosen_rows, hop, cand_rows, feats, shared_mask,
                table: OTable | None = None):
        """Scores (H, C) of candidate memories (row -1 = STOP) for one hop of H questions.

        sent_gid (S, L), sent_mini (S, 384): the sentences referenced by row; prev_rows (H, 2):
        the last two chosen memories (-1 none); chosen_rows (H, MAX_HOPS); hop (H,);
        cand_rows (H, C); feats (H, C, F_O); shared_mask (H, C, N_REFS, L); table: o_table(sent_gid,
        sent_mini) where the caller keeps it across hops (the same numbers)."""
        t = self.o_table(sent_gid, sent_mini) if table is None else table
        tok, enc, Y = t.tok, t.enc, t.Y
        x = torch.cat([
            enc[q_row], enc[prev_rows[:, 0]], enc[prev_rows[:, 1]], enc[chosen_rows].sum(1),
            Fn.one_hot(hop.clamp(max=MAX_HOPS), MAX_HOPS + 1).float(),
        ], -1)
        u = self.U_ox(x)                                              # (H, h)
        at = _gather(cand_rows, Y.shape[0])                           # rows of the tables, all S+1 long
        y = at(Y)                                                     # (H, C, d)
        # v = U_oy y is linear, so u·v and W_uv(u*v) are folded into per-question (d)-sized maps:
        # the same numbers as scoring in the h-dimensional space, for a fraction of the work per memory.
        Uy = self.U_oy.weight                                         # (h, d)
        bilinear = torch.bmm(y, (u @ Uy)[:, :, None]).squeeze(-1)     # Φx(x)ᵀ UᵀU Φy(m)
        uv = torch.bmm(y, ((self.o_in_uv.weight * u[:, None, :]) @ Uy).transpose(1, 2))   # o_in_uv(u * v)
        ctok = at(tok)                                                # (H, C, L, d)
        m = shared_mask.float()
        shared = torch.einsum("hcrl,hcld->hcrd", m, ctok) / m.sum(-1, keepdim=True).clamp(min=1)
        z = (self.o_in_u(u)[:, None, :] + at(t.v_in) + uv
             + self.o_in_f(torch.cat([feats, shared.flatten(2)], -1)))
        return bilinear + self.o_out(z).squeeze(-1)

    # -- R ---------------------------------------------------------------------------
    def read(self, seq_gid, seq_seg, seq_flag, seq_len) -> tuple[torch.Tensor, torch.Tensor]:
        """The recurrent reader: a summary (H, 2g) and each word in context (H, T_SEQ, 2g)."""
        x = torch.cat([self.E_r(seq_gid), self.r_seg(seq_seg), seq_flag], -1)
        packed = nn.utils.rnn.pack_padded_sequence(x, seq_len.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        out, h = self.r_gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T_SEQ)
        return torch.cat([h[0], h[1]], -1), out

    def score_r(self, sent_gid, sent_mini, q_row, s_rows, s_gid, s_lid, q_match, s_match, pos_feat, n_sup,
                seq_gid, seq_seg, seq_flag, seq_len, seq_index, step, prev_gid, pos2ans, ans_mask, prev_ans, prev_lid,
                reader: tuple[torch.Tensor, torch.Tensor] | None = None):
        """Scores over [dictionary (A) + support word positions (KR*L)] and the candidate mask.

        s_gid/s_lid (H, KR, L) global/story-local ids of the supports in hop order; pos2ans (H, KR*L)
        the dictionary index of each position's word (-1 none); ans_mask (H, A) usable dictionary
        words; prev_gid/prev_ans/prev_lid (H, MAX_ANSWER_WORDS) words already emitted (-1/0 none)."""
        ctx = self.r_context(sent_gid, sent_mini, q_row, s_rows, s_gid, s_lid, q_match, s_match, pos_feat, n_sup,
                             seq_gid, seq_seg, seq_flag, seq_len, seq_index, pos2ans, ans_mask, reader)
        return self.r_step(ctx, step, prev_gid, prev_ans, prev_lid)

    def r_context(self, sent_gid, sent_mini, q_row, s_rows, s_gid, s_lid, q_match, s_match, pos_feat, n_sup,
                  seq_gid, seq_seg, seq_flag, seq_len, seq_index, pos2ans, ans_mask,
                  reader: tuple[torch.Tensor, torch.Tensor] | None = None) -> RContext:
        """What score_r reads that does not change from one answer word to the next: decoding computes it once."""
        H = q_row.shape[0]
        Er = self.E_r
        # the reader's output does not depend on the step: decoding passes it in, read once per question
        summary, words = self.read(seq_gid, seq_seg, seq_flag, seq_len) if reader is None else reader
        mini = torch.cat([sent_mini, torch.zeros(1, sent_mini.shape[1])], 0)
        q_tok = Er(sent_gid[q_row])                                   # (H, L, dr)
        s_tok = Er(s_gid)                                             # (H, KR, L, dr)
        s_mini = mini[s_rows]                                         # (H, KR, 384)
        head = torch.cat([
            q_tok.flatten(1), s_tok[:, :3].flatten(1), s_tok.sum((1, 2)),
            self.mini_r(mini[q_row]), self.mini_r(s_mini.sum(1)),
            q_match.flatten(1), s_match.flatten(1),
            Fn.one_hot(n_sup.clamp(max=KR), KR + 1).float(),
        ], -1)
        # the pointer's inputs per support word position, all but the step's context (r_step adds it)
        P = KR * L
        s_bag = s_tok.sum(2)                                          # (H, KR, dr)
        k_idx = torch.arange(KR).repeat_interleave(L)
        p_idx = torch.arange(L).repeat(KR)
        ptr_in = torch.cat([
            s_tok.reshape(H, P, -1), s_bag[:, k_idx],
            self.ptr_k(k_idx).expand(H, P, 8), self.ptr_p(p_idx).expand(H, P, 8),
            pos_feat.reshape(H, P, 4),
            torch.cat([words, torch.zeros(H, 1, words.shape[-1])], 1)[torch.arange(H)[:, None], seq_index.reshape(H, P)],
        ], -1)
        lid = s_lid.reshape(H, P)
        valid = lid >= 0
        same = (lid[:, :, None] == lid[:, None, :]) & valid[:, :, None] & valid[:, None, :]
        earlier = torch.tril(same, diagonal=-1).any(-1)
        first = valid & ~earlier
        return RContext(head, summary, ptr_in, lid, same, first, pos2ans, ans_mask)

    def r_step(self, c: RContext, step, prev_gid, prev_ans, prev_lid):
        """score_r for one answer word, given its context (r_context)."""
        H, P = c.lid.shape
        Er = self.E_r
        feats = torch.cat([
            c.head,
            Fn.one_hot(step.clamp(max=MAX_ANSWER_WORDS), MAX_ANSWER_WORDS + 1).float(),
            Er(prev_gid.clamp(min=0)).mul((prev_gid >= 0).float()[..., None]).sum(1),
            c.summary,
        ], -1)
        hr = self.r_mlp(feats)
        dict_logits = self.U_r(hr)                                    # (H, A)
        # pointer logits per support word position
        pin = torch.cat([self.ptr_ctx(hr)[:, None, :].expand(H, P, 64), c.ptr_in], -1)
        ptr = self.ptr_mlp(pin).squeeze(-1)                           # (H, P)
        lid, same, first, pos2ans = c.lid, c.same, c.first, c.pos2ans
        pos_score = torch.where(same, ptr[:, None, :], torch.full_like(ptr[:, None, :], NEG)).logsumexp(-1)
        in_dict = pos2ans >= 0
        add = torch.where(first & in_dict, pos_score, torch.zeros_like(pos_score))
        combined = dict_logits.scatter_add(1, pos2ans.clamp(min=0), add)
        emitted_lid = (lid[:, :, None] == prev_lid[:, None, :]) & (prev_lid[:, None, :] >= 0)
        ptr_ok = first & ~in_dict & ~emitted_lid.any(-1)
        emitted_ans = torch.zeros_like(c.ans_mask)
        emitted_ans.scatter_(1, prev_ans.clamp(min=0), prev_ans >= 0)
        ans_ok = c.ans_mask & ~emitted_ans
        scores = torch.cat([combined, pos_score], 1)
        mask = torch.cat([ans_ok, ptr_ok], 1)
        return scores, mask


def margin_loss(scores: torch.Tensor, mask: torch.Tensor, target: torch.Tensor, margin: float) -> torch.Tensor:
    """Margin ranking loss of the target against the (sampled) negatives: mean hinge plus the worst one."""
    ok = target >= 0
    if not ok.any():
        return scores.sum() * 0.0
    s, m, t = scores[ok], mask[ok], target[ok]
    pos = s.gather(1, t[:, None])
    neg_mask = m.clone()
    neg_mask.scatter_(1, t[:, None], False)
    hinge = (margin - pos + s).clamp(min=0) * neg_mask.float()
    mean = hinge.sum(1) / neg_mask.float().sum(1).clamp(min=1)
    return (mean + hinge.max(1).values).mean()
