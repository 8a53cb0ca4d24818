"""all-MiniLM-L6-v2 without sentence-transformers: a BERT forward pass in plain torch over the package's own
safetensors weights and tokenizer.json (the `tokenizers` library).

Why: importing sentence-transformers pulls in transformers, scikit-learn and scipy (about 4.5 s), most of the
app's start-up. The embeddings are the same ones (mean of the last layer over real tokens, L2-normalised);
tests/test_minilm.py compares them with sentence-transformers.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


class MiniLM:
    def __init__(self, path: str | Path, max_len: int | None = None):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        path = Path(path)
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        st_cfg = path / "sentence_bert_config.json"
        self.max_len = max_len or json.loads(st_cfg.read_text(encoding="utf-8")).get("max_seq_length", 256)
        self.heads = cfg["num_attention_heads"]
        self.layers = cfg["num_hidden_layers"]
        self.eps = cfg.get("layer_norm_eps", 1e-12)
        self.w = load_file(str(path / "model.safetensors"))
        self.tok = Tokenizer.from_file(str(path / "tokenizer.json"))
        self.tok.enable_truncation(self.max_len)
        self.tok.enable_padding(pad_id=cfg.get("pad_token_id", 0))

    def _ln(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.w[name + ".weight"], self.w[name + ".bias"], self.eps)

    def _lin(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.w[name + ".weight"], self.w[name + ".bias"])

    @torch.inference_mode()
    def hidden(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The last layer's token vectors (sentence-transformers' "token_embeddings")."""
        w = self.w
        b, n = ids.shape
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._ln(x, "embeddings.LayerNorm")
        h = self.heads
        d = x.shape[-1] // h
        bias = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (self._lin(x, p + f"attention.self.{t}").view(b, n, h, d).transpose(1, 2)
                       for t in ("query", "key", "value"))
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + bias, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(b, n, h * d)
            x = self._ln(x + self._lin(ctx, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            mid = F.gelu(self._lin(x, p + "intermediate.dense"))
            x = self._ln(x + self._lin(mid, p + "output.dense"), p + "output.LayerNorm")
        return x

    @torch.inference_mode()
    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.hidden(ids, mask)
        m = mask[..., None].to(x.dtype)
        pooled = (x * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)

    def _batches(self, texts: list[str], batch_size: int):
        """(indices, encodings, ids, mask) per batch of `texts`, sorted by length so a batch pads little, as
        sentence-transformers does."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for s in range(0, len(texts), batch_size):
            idx = order[s:s + batch_size]
            enc = self.tok.encode_batch([texts[i] for i in idx])
            yield (idx, enc, torch.tensor([e.ids for e in enc], dtype=torch.long),
                   torch.tensor([e.attention_mask for e in enc], dtype=torch.long))

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = np.zeros((len(texts), self.w["embeddings.word_embeddings.weight"].shape[1]), dtype=np.float32)
        for idx, _, ids, mask in self._batches(texts, batch_size):
            out[idx] = self.forward(ids, mask).numpy()
        return out

    def token_vectors(self, texts: list[str], batch_size: int = 64) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per text, its word pieces' character offsets (n, 2) and contextual vectors (n, 384), the special
        tokens left out (a text longer than max_len pieces: its head)."""
        out: list = [None] * len(texts)
        for idx, enc, ids, mask in self._batches(texts, batch_size):
            h = self.hidden(ids, mask).numpy()
            for j, (i, e) in enumerate(zip(idx, enc)):
                keep = [t for t, (sp, m) in enumerate(zip(e.special_tokens_mask, e.attention_mask)) if m and not sp]
                out[i] = (np.asarray([e.offsets[t] for t in keep], dtype=np.int32).reshape(-1, 2),
                          np.ascontiguousarray(h[j, keep], dtype=np.float32))
        return out
