"""The backward pass behind the Taylor estimators, bounded in memory.

Every parameter stays frozen and in its stored dtype. Each scored linear layer runs through
`_ScoredLinear`, which casts its weight to the compute dtype one matmul at a time and, in
backward, hands the weight gradient of the current (micro-)batch to the layer's `_Sink`; the
sink folds it into what its estimator needs and drops it. The loss runs over the vocabulary in
chunks (`_ChunkedLoss`), so neither full logits nor an upcast copy of a large embedding exist.
What remains is the model itself plus, for the element-wise estimators, one summed gradient
per scored weight, in the stored dtype as `.grad` had it before (issue 12).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from slimline.prune import importance as imp

VOCAB_CHUNK = 8192  # rows of the output embedding upcast at once in the loss


class _Sink:
    """What one scored linear layer keeps between batches, for one estimator."""

    def __init__(self, linear: torch.nn.Linear, estimator: str, n: int, block: int, axis: str):
        self.linear, self.estimator, self.axis = linear, estimator, axis
        self.n, self.block = n, block
        self.with_bias = linear.bias is not None and axis == "rows"  # a column bias is shared
        self.summed: list[torch.Tensor | None] = [None, None]  # weight, bias
        self.fisher: list[torch.Tensor | None] = [None, None]
        self.vector = torch.zeros(n, device=linear.weight.device)

    def _params(self) -> list[torch.Tensor]:
        return [self.linear.weight, self.linear.bias] if self.with_bias else [self.linear.weight]

    def add(self, grads: list[torch.Tensor]) -> None:
        """Fold one (micro-)batch's gradients (weight, then bias) into the accumulators."""
        for i, (p, g) in enumerate(zip(self._params(), grads, strict=False)):
            if self.estimator == "taylor_vector":
                c = imp.contributions("taylor_vector", p.data, g)
                self.vector += imp.group_sum(c.reshape(p.shape), self.n, self.block, self.axis)
                continue
            if self.summed[i] is None:
                self.summed[i] = g.to(p.dtype)
            else:
                self.summed[i] += g.to(p.dtype)
            if self.estimator in imp.SQUARES_BATCH_GRADIENT:  # called once per whole batch
                sq = g.float().pow(2)
                self.fisher[i] = sq if self.fisher[i] is None else self.fisher[i] + sq

    def add_to(self, total: torch.Tensor) -> None:
        """Add this layer's per-group contributions (weight, then bias) to `total` (on CPU)."""
        if self.estimator == "taylor_vector":
            total += self.vector.cpu()
            return
        for i, p in enumerate(self._params()):
            c = imp.contributions(self.estimator, p.data, self.summed[i], self.fisher[i])
            total += imp.group_sum(c.reshape(p.shape), self.n, self.block, self.axis).cpu()
        self.summed, self.fisher = [None, None], [None, None]  # free the full-size sums


class _ScoredLinear(torch.autograd.Function):
    """`F.linear` in the input's dtype whose weight gradient goes to a sink, not to `.grad`."""

    @staticmethod
    def forward(ctx, x, weight, bias, sink):
        ctx.save_for_backward(x, weight)
        ctx.sink = sink
        b = None if bias is None else bias.to(x.dtype)
        return F.linear(x, weight.to(x.dtype), b)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        g = grad_out.reshape(-1, grad_out.shape[-1])
        grads = [g.t() @ x.reshape(-1, x.shape[-1])]
        if ctx.sink.with_bias:
            grads.append(g.sum(0))
        ctx.sink.add(grads)
        return grad_out @ weight.to(grad_out.dtype), None, None, None


class _ChunkedLoss(torch.autograd.Function):
    """Summed next-token cross-entropy / `denominator`, the vocabulary taken in chunks.

    An online softmax (running max and sum, as in flash attention) gives the loss and its
    gradient w.r.t. the hidden states in one pass; the gradient is computed here in forward
    because the loss is always differentiated once, right away.
    """

    @staticmethod
    def forward(ctx, hidden, weight, targets, denominator):
        h = hidden.detach()
        n = h.shape[0]
        run_max = torch.full((n,), float("-inf"), dtype=h.dtype, device=h.device)
        run_sum = torch.zeros(n, dtype=h.dtype, device=h.device)
        acc = torch.zeros_like(h)  # sum_v exp(z_v - max) * w_v
        target_logit = torch.zeros(n, dtype=h.dtype, device=h.device)
        for start in range(0, weight.shape[0], VOCAB_CHUNK):
            w = weight[start:start + VOCAB_CHUNK].to(h.dtype)
            z = h @ w.t()
            new_max = torch.maximum(run_max, z.max(dim=1).values)
            scale = torch.exp(run_max - new_max)
            p = torch.exp(z - new_max[:, None])
            run_sum = run_sum * scale + p.sum(dim=1)
            acc = acc * scale[:, None] + p @ w
            run_max = new_max
            inside = (targets >= start) & (targets < start + w.shape[0])
            rows = inside.nonzero().squeeze(1)
            target_logit[rows] = z[rows, targets[rows] - start]
        loss = (run_max + run_sum.log() - target_logit).sum() / denominator
        grad = (acc / run_sum[:, None] - weight[targets].to(h.dtype)) / denominator
        ctx.save_for_backward(grad)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        (grad,) = ctx.saved_tensors
        return grad * grad_loss, None, None, None


@contextmanager
def _scoring(model, sinks: list[_Sink], compute_dtype: torch.dtype, checkpointing: bool):
    """Route the scored linears through their sinks; undo everything afterwards."""
    params = list(model.parameters())
    was_trainable = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)

    def embed_hook(_module, _inputs, output):
        # Weights are frozen, so the graph starts at the embedding output.
        return output.to(compute_dtype).requires_grad_()

    hook = model.get_input_embeddings().register_forward_hook(embed_hook)
    for sink in sinks:
        sink.linear.forward = (lambda x, s=sink: _ScoredLinear.apply(
            x, s.linear.weight, s.linear.bias, s))
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()  # transformers checkpoints only in training mode; dropout is 0 in these
    try:
        yield
    finally:
        model.eval()
        if checkpointing:
            model.gradient_checkpointing_disable()
        for sink in sinks:
            del sink.linear.forward
        hook.remove()
        for p, trainable in zip(params, was_trainable, strict=True):
            p.requires_grad_(trainable)


def run_backward(model, sinks: list[_Sink], batches: list[torch.Tensor], *,
                 compute_dtype: torch.dtype, device: torch.device, micro_batch: int) -> None:
    """Feed every batch forward and backward, the sinks collecting what their scores need.

    A batch's loss is the mean over its tokens, as `labels=` gives in transformers. Batches
    are split into micro-batches of `micro_batch` sequences (their gradients sum to the
    batch's), except for estimators that square whole-batch gradients: those run whole batches
    with gradient checkpointing so activations stay one layer deep.
    """
    whole = sinks[0].estimator in imp.SQUARES_BATCH_GRADIENT
    head = model.get_output_embeddings().weight
    bar = tqdm(total=sum(b.numel() for b in batches), desc="importance", unit="tok",
               unit_scale=True, mininterval=2.0)
    with _scoring(model, sinks, compute_dtype, checkpointing=whole):
        for batch in batches:
            batch = batch.to(device)
            denominator = batch.shape[0] * (batch.shape[1] - 1)
            for part in batch.split(batch.shape[0] if whole else micro_batch):
                hidden = model.model(input_ids=part, use_cache=False).last_hidden_state
                loss = _ChunkedLoss.apply(hidden[:, :-1].reshape(-1, hidden.shape[-1]), head,
                                          part[:, 1:].reshape(-1), denominator)
                loss.backward()
                bar.update(part.numel())
    bar.close()
