"""The causal transformer (SASRec-style) whose items are ID embedding + projected text.

Index 0 of every item table is padding; catalogue item ``i`` is row ``i + 1``. Sequences
are right-aligned (the most recent item is last) and positions are counted back from the
most recent item, so the amount of left padding never changes a sequence's output.

Dropout draws from the generator set by ``random_source`` for the current thread, so that
batch shards trained in parallel threads each have their own reproducible random stream.
"""

from __future__ import annotations

import logging
import math
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from driftrec.models.sequence.config import SequenceConfig

log = logging.getLogger(__name__)
_thread = threading.local()


@contextmanager
def random_source(generator: torch.Generator | None) -> Iterator[None]:
    """Dropout in this thread draws from ``generator`` (``None``: torch's global one)."""
    previous = getattr(_thread, "generator", None)
    _thread.generator = generator
    try:
        yield
    finally:
        _thread.generator = previous


def _keep_mask(shape: tuple[int, ...], keep_prob: float, like: Tensor) -> Tensor:
    mask = torch.empty(shape, dtype=like.dtype, device=like.device)
    return mask.bernoulli_(keep_prob, generator=getattr(_thread, "generator", None))


class Dropout(nn.Module):
    """Inverted dropout whose masks come from the thread's ``random_source``."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        return x * _keep_mask(x.shape, keep, x).div_(keep)


class ItemTable(nn.Module):
    """Every item's vector: a learned ID embedding plus a learned projection of its text.

    An item with a text embedding but no trained ID row (a new item) keeps a meaningful
    vector through the projection; the same table scores the output (tied weights).
    """

    def __init__(self, n_items: int, hidden: int, text: Tensor | None, id_dropout: float = 0.0):
        super().__init__()
        self.hidden = hidden
        self.id_dropout = id_dropout
        self.id_emb = nn.Embedding(n_items + 1, hidden, padding_idx=0)
        nn.init.normal_(self.id_emb.weight, std=1.0 / math.sqrt(hidden))
        with torch.no_grad():
            self.id_emb.weight[0].zero_()
        self.text_proj: nn.Linear | None = None
        if text is not None:
            self.register_buffer("text", _with_pad_row(_unit_rows(text)))
            self.text_proj = nn.Linear(text.shape[1], hidden, bias=False)
        else:
            self.register_buffer("text", torch.zeros(n_items + 1, 0))

    @property
    def n_items(self) -> int:
        return self.id_emb.num_embeddings - 1

    def forward(self) -> Tensor:
        """The table, shape ``(n_items + 1, hidden)``; row 0 (padding) is zero."""
        ids = self.id_emb.weight
        if self.training and self.id_dropout > 0 and self.text_proj is not None:
            ids = ids * _keep_mask((ids.shape[0], 1), 1.0 - self.id_dropout, ids)
        if self.text_proj is None:
            return ids
        return ids + self.text_proj(self.text)

    @torch.no_grad()
    def add_items(self, text: Tensor | None, count: int) -> None:
        """Append ``count`` items with zero ID rows and the given text embeddings."""
        old = self.id_emb.weight
        new = torch.zeros(old.shape[0] + count, old.shape[1], dtype=old.dtype)
        new[: old.shape[0]] = old
        self.id_emb = nn.Embedding.from_pretrained(new, freeze=False, padding_idx=0)
        if self.text_proj is not None:
            if text is None or text.shape != (count, self.text.shape[1]):
                raise ValueError(
                    f"text embeddings for new items must have shape ({count}, "
                    f"{self.text.shape[1]}), got {None if text is None else tuple(text.shape)}"
                )
            self.text = torch.cat([self.text, _unit_rows(text.float())])
        else:
            self.text = torch.zeros(new.shape[0], 0)


class Block(nn.Module):
    """Pre-norm transformer block: masked self-attention, then a feed-forward layer."""

    def __init__(self, hidden: int, n_heads: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.proj = nn.Linear(hidden, hidden)
        self.ln2 = nn.LayerNorm(hidden)
        self.ffn = nn.Sequential(
            nn.Linear(hidden, ffn_mult * hidden),
            nn.GELU(),
            Dropout(dropout),
            nn.Linear(ffn_mult * hidden, hidden),
        )
        self.drop = Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor | None, last_only: bool = False) -> Tensor:
        """``mask``: the :func:`attention_mask`, or None for sequences without padding
        (plain causal attention: the kernel skips the masked half instead of reading a
        mask). ``last_only``: attend from the last position only and return
        ``(B, 1, hidden)``; every position is still a key, so that row equals the full
        forward's last row."""
        b, length, h = x.shape
        qkv = self.qkv(self.ln1(x)).view(b, length, 3, self.n_heads, h // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        causal = mask is None
        if last_only:
            # the last position sees every key: causal without padding means no mask
            q, x, length, causal = q[:, :, -1:], x[:, -1:], 1, False
            mask = None if mask is None else mask[:, :, -1:]
        # No dropout on the attention weights: on CPU its (B, L, L) masks cost more than
        # they help; hidden-state dropout regularises enough.
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal)
        x = x + self.drop(self.proj(att.transpose(1, 2).reshape(b, length, h)))
        return x + self.drop(self.ffn(self.ln2(x)))


class SequenceNet(nn.Module):
    """Item table, reversed positions, causal blocks; scores are dot products with the table."""

    def __init__(
        self,
        n_items: int,
        *,
        hidden: int,
        n_layers: int,
        n_heads: int,
        ffn_mult: int,
        dropout: float,
        max_len: int,
        text: Tensor | None = None,
        id_dropout: float = 0.0,
        similarity: str = "dot",
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.similarity = similarity
        self.temperature = temperature
        self.items = ItemTable(n_items, hidden, text, id_dropout)
        self.pos = nn.Embedding(max_len, hidden)
        nn.init.normal_(self.pos.weight, std=1.0 / math.sqrt(hidden))
        self.drop = Dropout(dropout)
        self.blocks = nn.ModuleList(
            Block(hidden, n_heads, ffn_mult, dropout) for _ in range(n_layers)
        )
        self.ln = nn.LayerNorm(hidden)
        self.scale = math.sqrt(hidden)

    @classmethod
    def from_config(cls, cfg: SequenceConfig, n_items: int,
                    text: Tensor | None = None) -> SequenceNet:
        """The network a ``SequenceConfig`` describes (``text``: item text embeddings)."""
        return cls(
            n_items, hidden=cfg.hidden, n_layers=cfg.n_layers, n_heads=cfg.n_heads,
            ffn_mult=cfg.ffn_mult, dropout=cfg.dropout, max_len=cfg.max_len, text=text,
            id_dropout=cfg.id_dropout, similarity=cfg.similarity, temperature=cfg.temperature,
        )

    def encode(self, seqs: Tensor, table: Tensor | None = None, *,
               last_only: bool = False, padded: bool | None = None) -> Tensor:
        """Hidden states ``(B, L, hidden)`` of right-aligned sequences (0 = padding).

        ``last_only``: the state after each sequence's most recent item, ``(B, hidden)``,
        which is all scoring needs; the last block then computes that position alone.
        ``padded``: whether any sequence has padding (None: look); without, attention
        needs no mask (one user's history, as serving scores it).
        """
        if table is None:
            table = self.items()
        length = seqs.shape[1]
        if length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.max_len}")
        if padded is None:
            padded = has_padding(seqs)
        rev = torch.arange(length - 1, -1, -1, device=seqs.device)
        x = self.drop(table[seqs] * self.scale + self.pos(rev)[None])
        mask = None
        if padded:
            valid = seqs > 0
            x, mask = x * valid[..., None], attention_mask(valid)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, last_only=last_only and i == len(self.blocks) - 1)
        return self.ln(x[:, -1]) if last_only else self.ln(x)

    def logit_factors(self, hidden: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        """``(queries, keys)`` whose products are the logits: plain for ``dot``; unit
        vectors with the queries divided by the temperature for ``cosine``."""
        if self.similarity == "cosine":
            return (F.normalize(hidden, dim=-1) / self.temperature,
                    F.normalize(table, dim=-1))
        return hidden, table

    def score_last(self, seqs: Tensor) -> Tensor:
        """Scores of every catalogue item after each sequence, shape ``(B, n_items)``."""
        table = self.serving_table()
        padded = has_padding(seqs)
        if not self._serving():
            last = self.encode(seqs, table, last_only=True, padded=padded)
        else:
            if seqs.shape[1] > self.max_len:
                raise ValueError(f"sequence length {seqs.shape[1]} exceeds max_len "
                                 f"{self.max_len}")
            last = self._traced_encoder(seqs, table, padded)(seqs, table)
        queries, keys = self.logit_factors(last, table[1:])
        return queries @ keys.T

    def _traced_encoder(self, seqs: Tensor, table: Tensor, padded: bool) -> nn.Module:
        """:meth:`encode`'s last hidden state as a TorchScript trace, made once for
        batches with padding and once for batches without (one history).

        Serving scores one short sequence per request, where the eager forward spends more
        time dispatching its few dozen operators than computing them; the trace runs the
        same operators (the same numbers, tested) for about two thirds of the time. It
        shares this network's parameters, so training or loading weights updates it too.
        ``torch.export`` measured slower than eager here, so TorchScript it is; where a
        PyTorch release cannot trace, the eager forward is used.
        """
        traces = self.__dict__.setdefault("_traced", {})
        traced = traces.get(padded)
        if traced is None:
            try:
                with warnings.catch_warnings():
                    # the trace fixes Python-level checks (the length check is done above)
                    warnings.simplefilter("ignore", torch.jit.TracerWarning)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    traced = torch.jit.trace(_LastHidden(self, padded), (seqs, table),
                                             check_trace=False)
            except Exception as exc:  # any failure: serve the eager forward
                log.warning("cannot trace the sequence network (%s); serving it eagerly", exc)
                traced = _LastHidden(self, padded)
            traces[padded] = traced
        return traced

    def _serving(self) -> bool:
        """Eval mode under inference mode: weights cannot change during the call, so what
        is made of them (the item table, the trace) can be kept."""
        return not self.training and torch.is_inference_mode_enabled()

    def serving_table(self) -> Tensor:
        """The item table; while serving (eval mode, inference mode) computed once per
        version of the weights it is made of, not once per request.

        The key holds the weight tensors themselves, their in-place version counters and
        storage: an optimiser step, ``load_state_dict`` or :meth:`add_items` gives a new
        key.
        """
        if not self._serving():
            return self.items()
        items = self.items
        parts = (items.id_emb.weight, items.text,
                 *(() if items.text_proj is None else (items.text_proj.weight,)))
        try:
            versions = tuple((p._version, p.data_ptr()) for p in parts)
        except RuntimeError:  # inference tensors keep no version: nothing to key on
            return self.items()
        cached = self.__dict__.get("_serving_table")
        if cached is None or cached[1] != versions or len(cached[0]) != len(parts) or \
                any(a is not b for a, b in zip(cached[0], parts, strict=True)):
            cached = (parts, versions, self.items())
            self.__dict__["_serving_table"] = cached
        return cached[2]

    def add_items(self, text: Tensor | None, count: int) -> None:
        """Append ``count`` new items (see :meth:`ItemTable.add_items`)."""
        self.items.add_items(text, count)


class _LastHidden(nn.Module):
    """The hidden state after each sequence's most recent item (what serving traces)."""

    def __init__(self, net: SequenceNet, padded: bool) -> None:
        super().__init__()
        self.net = net
        self.padded = padded

    def forward(self, seqs: Tensor, table: Tensor) -> Tensor:
        return self.net.encode(seqs, table, last_only=True, padded=self.padded)


class SequenceEnsemble(nn.Module):
    """Networks of one architecture trained from different seeds; scores are their mean.

    Averaging logits equals averaging log-probabilities up to a per-sequence constant, so
    the ranking is that of the members' geometric-mean probability.
    """

    def __init__(self, members: list[SequenceNet]) -> None:
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def score_last(self, seqs: Tensor) -> Tensor:
        """Mean of the members' scores, shape ``(B, n_items)``."""
        return torch.stack([m.score_last(seqs) for m in self.members]).mean(0)

    def add_items(self, text: Tensor | None, count: int) -> None:
        for member in self.members:
            member.add_items(text, count)


def build_network(cfg: SequenceConfig, n_items: int,
                  text: Tensor | None = None) -> SequenceNet | SequenceEnsemble:
    """One ``SequenceNet``, or an ensemble of ``cfg.members`` of them (fresh weights each)."""
    if cfg.members == 1:
        return SequenceNet.from_config(cfg, n_items, text)
    return SequenceEnsemble([SequenceNet.from_config(cfg, n_items, text)
                             for _ in range(cfg.members)])


def has_padding(seqs: Tensor) -> bool:
    """Whether any sequence holds padding (item 0)."""
    return bool((seqs == 0).any())


def attention_mask(valid: Tensor) -> Tensor:
    """Boolean ``(B, 1, L, L)`` mask: a query sees itself and earlier non-padding keys."""
    length = valid.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=valid.device).tril()
    eye = torch.eye(length, dtype=torch.bool, device=valid.device)
    return ((causal[None] & valid[:, None, :]) | eye[None])[:, None]


def _unit_rows(x: Tensor) -> Tensor:
    x = x.float()
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _with_pad_row(x: Tensor) -> Tensor:
    return torch.cat([torch.zeros(1, x.shape[1], dtype=x.dtype), x])
