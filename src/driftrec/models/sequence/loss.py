"""Full-softmax cross-entropy over the catalogue, computed in cache-sized chunks.

The plain ``F.cross_entropy(h @ E.T, y)`` writes an ``(N, n_items)`` logit matrix, its
log-softmax and its gradient to memory; with ``N`` around 25,000 positions per batch the
CPU spends most of an epoch moving those matrices. Here each chunk of rows is computed,
turned into its gradient and consumed while it is still in cache, and nothing of size
``N x n_items`` is ever stored. The result equals the plain loss (up to float rounding).
"""

from __future__ import annotations

import torch
from torch import Tensor

#: Rows per chunk: 128 x 3,706 float32 logits is about 2 MB, cache-resident on most CPUs.
CHUNK_ROWS = 128


class _ChunkedSoftmaxCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden: Tensor, table: Tensor, targets: Tensor, chunk: int) -> Tensor:
        n = hidden.shape[0]
        lse = torch.empty(n, dtype=torch.float32)
        table_t = table.T
        for start in range(0, n, chunk):
            lse[start : start + chunk] = torch.logsumexp(hidden[start : start + chunk] @ table_t, 1)
        target_logit = (hidden * table[targets]).sum(1)
        ctx.save_for_backward(hidden, table, targets, lse)
        ctx.chunk = chunk
        return (lse - target_logit).mean()

    @staticmethod
    def backward(ctx, grad: Tensor):
        hidden, table, targets, lse = ctx.saved_tensors
        chunk = ctx.chunk
        n = hidden.shape[0]
        scale = grad / n
        grad_hidden = torch.empty_like(hidden)
        grad_table = torch.zeros_like(table)
        table_t = table.T
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            h = hidden[start:stop]
            probs = h @ table_t
            probs.sub_(lse[start:stop, None]).exp_()
            probs[torch.arange(stop - start), targets[start:stop]] -= 1.0
            probs.mul_(scale)
            torch.mm(probs, table, out=grad_hidden[start:stop])
            grad_table.addmm_(probs.T, h)
        return grad_hidden, grad_table, None, None


def softmax_cross_entropy(
    hidden: Tensor, table: Tensor, targets: Tensor, chunk: int = CHUNK_ROWS
) -> Tensor:
    """Mean of ``-log softmax(hidden @ table.T)[targets]`` without materialising logits."""
    return _ChunkedSoftmaxCE.apply(hidden.float(), table.float(), targets, chunk)
