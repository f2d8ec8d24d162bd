"""The backward pass behind the Taylor estimators, one decoder layer at a time.

Weights stay frozen and in their stored dtype. The forward pass runs layer by layer over all
batches, keeping only each layer's input hidden states (a few MB per layer); the loss runs over
the vocabulary in chunks, so full logits never exist; the backward pass then walks the layers
from the top, recomputing one layer at a time with its weights upcast to the compute dtype
once, and hands each batch's weight gradients to the layer's `_Sink`, which folds them into
what its estimator needs. Upcasting per layer rather than per matmul matters: on a CPU without
native bf16, casting is memory-bound and a per-matmul cast costs more than the matmuls.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from tqdm.auto import tqdm

from slimline.prune import importance as imp
from slimline.prune.architectures import layer_map
from slimline.prune.structure import decoder_layers

VOCAB_CHUNK = 2048  # rows of the output embedding upcast and multiplied at once in the loss


class _Sink:
    """What one scored linear layer (or one block of rows of a fused one) keeps between
    batches, for one estimator."""

    def __init__(self, linear: torch.nn.Linear, estimator: imp.Estimator, n: int, block: int,
                 axis: str, start: int | None = None):
        self.linear, self.estimator, self.axis = linear, estimator, axis
        # In a fused linear, the rows from `start` on that this group kind owns.
        self.rows = None if start is None else slice(start, start + n * block)
        # Linear in each batch's gradient: fold every batch into n numbers at once.
        self.folds = estimator.needs_gradients and not estimator.needs & (
            imp.Needs.SUMMED_GRADIENT | imp.Needs.SQUARED_BATCH_GRADIENT)
        self.n, self.block = n, block
        self.stored_dtype = linear.weight.dtype
        self.with_bias = linear.bias is not None and axis == "rows"  # a column bias is shared
        self.summed: list[torch.Tensor | None] = [None, None]  # weight, bias
        self.fisher: list[torch.Tensor | None] = [None, None]
        self.vector = torch.zeros(n, device=linear.weight.device)

    def params(self) -> list[torch.Tensor]:
        return [self.linear.weight, self.linear.bias] if self.with_bias else [self.linear.weight]

    def _part(self, t: torch.Tensor) -> torch.Tensor:
        return t if self.rows is None else t[self.rows]

    def add(self, grads: list[torch.Tensor]) -> None:
        """Fold one whole batch's gradients (weight, then bias) into the accumulators."""
        for i, (p, g) in enumerate(zip(self.params(), grads, strict=True)):
            w, g = self._part(p.data), self._part(g)
            if self.folds:
                c = self.estimator.contribution(w.float(), g, None)
                self.vector += imp.group_sum(c.reshape(w.shape), self.n, self.block, self.axis)
                continue
            # Summed in the stored dtype, as `.grad` of the stored weights was before.
            # `g` is a `.grad` the caller drops right after, so it can become the sum itself
            # (a block of a fused one is copied, or it would keep the whole gradient alive).
            g_stored = g.to(self.stored_dtype, copy=self.rows is not None)
            if self.summed[i] is None:
                self.summed[i] = g_stored
            else:
                self.summed[i] += g_stored
            if self.estimator.needs & imp.Needs.SQUARED_BATCH_GRADIENT:
                sq = g.float().pow(2)
                self.fisher[i] = sq if self.fisher[i] is None else self.fisher[i] + sq

    def add_to(self, total: torch.Tensor) -> None:
        """Add this layer's per-group contributions (weight, then bias) to `total` (on CPU)."""
        if self.folds:
            total += self.vector.cpu()
            return
        for i, p in enumerate(self.params()):
            w = self._part(p.data)
            c = self.estimator.contribution(w.float(), self.summed[i], self.fisher[i])
            total += imp.group_sum(c.reshape(w.shape), self.n, self.block, self.axis).cpu()
        self.summed, self.fisher = [None, None], [None, None]  # free the full-size sums


@contextmanager
def _computing_in(layer: torch.nn.Module, dtype: torch.dtype):
    """Give `layer` copies of its weights in `dtype` for a while, then its own tensors back.

    The stored tensors are put back as they were rather than converted back: a loaded
    checkpoint's weights are views of the memory-mapped file, and a converted copy would sit
    in memory next to the file's pages, doubling the model's share of the resident set.
    """
    params = list(layer.parameters())
    stored = [p.data for p in params]
    for p in params:
        p.data = p.data.to(dtype)
    try:
        yield
    finally:
        for p, data in zip(params, stored, strict=True):
            p.data = data


def _capture(model, batch: torch.Tensor, compute_dtype: torch.dtype):
    """The first layer's input and every layer's other call arguments for `batch`.

    The model's own forward builds the masks and rotary embeddings each layer gets; the layers
    are replaced by the identity meanwhile, so nothing but the embedding is computed.
    """
    calls: list[tuple[tuple, dict]] = []
    first: list[torch.Tensor] = []
    arch = layer_map(model.config.model_type)
    layers = decoder_layers(model, arch)

    def identity(hidden_states, *args, **kwargs):
        if not calls:
            first.append(hidden_states)
        calls.append((args, kwargs))
        return hidden_states

    hook = model.get_input_embeddings().register_forward_hook(
        lambda _m, _i, out: out.to(compute_dtype))  # rotary tables and masks follow this dtype
    for layer in layers:
        layer.forward = identity
    try:
        with torch.no_grad():
            model.get_submodule(arch.decoder)(input_ids=batch, use_cache=False)
    finally:
        for layer in layers:
            del layer.forward
        hook.remove()
    return first[0], calls


def _loss_gradient(hidden: torch.Tensor, head: torch.Tensor,
                   targets: torch.Tensor) -> torch.Tensor:
    """d(sum of next-token cross-entropies)/d(hidden), the vocabulary taken in chunks.

    An online softmax (running max and sum, as in flash attention) gives the softmax-weighted
    sum of output embeddings without ever holding a full row of logits.
    """
    n = hidden.shape[0]
    run_max = torch.full((n,), float("-inf"), dtype=hidden.dtype, device=hidden.device)
    run_sum = torch.zeros(n, dtype=hidden.dtype, device=hidden.device)
    acc = torch.zeros_like(hidden)  # sum_v exp(z_v - max) * w_v
    for start in range(0, head.shape[0], VOCAB_CHUNK):
        w = head[start:start + VOCAB_CHUNK].to(hidden.dtype)
        z = hidden @ w.t()
        new_max = torch.maximum(run_max, z.max(dim=1).values)
        scale = torch.exp(run_max - new_max)
        z = z.sub_(new_max[:, None]).exp_()
        run_sum = run_sum * scale + z.sum(dim=1)
        acc = acc.mul_(scale[:, None]).addmm_(z, w)
        run_max = new_max
    return acc.div_(run_sum[:, None]).sub_(head[targets].to(hidden.dtype))


def _top_gradients(model, tops: list[torch.Tensor], batches: list[torch.Tensor]
                   ) -> list[torch.Tensor]:
    """Gradient of each batch's mean next-token loss w.r.t. the last layer's output."""
    norm = model.get_submodule(layer_map(model.config.model_type).norm)
    head = model.get_output_embeddings().weight
    xs = [t.detach().requires_grad_() for t in tops]
    normed = [norm(x) for x in xs]
    d = normed[0].shape[-1]
    grad = _loss_gradient(torch.cat([h[:, :-1].detach().reshape(-1, d) for h in normed]), head,
                          torch.cat([b[:, 1:].reshape(-1) for b in batches]))
    out, start = [], 0
    for x, h, batch in zip(xs, normed, batches, strict=True):
        count = batch.shape[0] * (batch.shape[1] - 1)  # the mean of transformers' labels= loss
        g = torch.zeros_like(h)
        g[:, :-1] = grad[start:start + count].reshape(batch.shape[0], -1, d) / count
        start += count
        h.backward(g)
        out.append(x.grad)
    return out


def run_backward(model, sinks: list[list[_Sink]], batches: list[torch.Tensor], *,
                 compute_dtype: torch.dtype, device: torch.device) -> None:
    """Feed every batch forward and backward, each layer's sinks collecting its gradients.

    Args:
        model: a Llama-family causal LM; its parameters are left as found.
        sinks: the sinks of each decoder layer, in layer order.
        batches: token ids, each a (sequences, tokens) batch whose loss is its mean
            next-token cross-entropy, as `labels=` gives in transformers.
        compute_dtype: dtype of the arithmetic; weights go back to their stored dtype.
        device: where the model is.
    """
    layers = decoder_layers(model, layer_map(model.config.model_type))
    batches = [b.to(device) for b in batches]
    params = list(model.parameters())
    was_trainable = [p.requires_grad for p in params]
    bar = tqdm(total=sum(b.numel() for b in batches), desc="importance", unit="tok",
               unit_scale=True, mininterval=2.0)
    step = [b.numel() / (2 * len(layers)) for b in batches]  # a full pass = every token once
    try:
        for p in params:
            p.requires_grad_(False)
        captured = [_capture(model, b, compute_dtype) for b in batches]
        states = [[h for h, _ in captured]]  # states[l][b]: input of layer l for batch b
        with torch.no_grad():
            for i, layer in enumerate(layers):
                with _computing_in(layer, compute_dtype):
                    states.append([layer(x, *calls[i][0], **calls[i][1])
                                   for x, (_, calls) in zip(states[i], captured, strict=True)])
                bar.update(sum(step))
        grads = _top_gradients(model, states.pop(), batches)
        for i in reversed(range(len(layers))):
            inputs = states.pop()
            with _computing_in(layers[i], compute_dtype):
                for sink in sinks[i]:
                    for p in sink.params():
                        p.requires_grad_(True)
                for b, (x, (_, calls)) in enumerate(zip(inputs, captured, strict=True)):
                    x = x.requires_grad_(i > 0)
                    layers[i](x, *calls[i][0], **calls[i][1]).backward(grads[b])
                    for sink in sinks[i]:  # all first: sinks of a fused linear share it
                        sink.add([p.grad for p in sink.params()])
                    for sink in sinks[i]:
                        for p in sink.params():
                            p.grad = None
                    grads[b] = x.grad
                    bar.update(step[b])
                for sink in sinks[i]:
                    for p in sink.params():
                        p.requires_grad_(False)
    finally:
        for p, trainable in zip(params, was_trainable, strict=True):
            p.requires_grad_(trainable)
        bar.close()
