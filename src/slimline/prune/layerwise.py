"""A forward pass over the decoder one layer at a time, for the scores that need no gradient.

Every batch's hidden states enter layer 0; each layer is upcast to the compute dtype once,
fed all batches, and put back in its stored dtype before the next. Memory beyond the stored
model: one upcast layer and one layer's hidden states for all batches — no full-precision
copy of the model and no logits (the output head never runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from slimline.prune._gradients import _capture, _computing_in
from slimline.prune.architectures import LayerMap
from slimline.prune.structure import decoder_layers

# What `forward()` returns: each batch's input to the layer and its output.
Forward = Callable[[], tuple[list[torch.Tensor], list[torch.Tensor]]]


def layers_forward(model: nn.Module, arch: LayerMap, batches: list[torch.Tensor], *,
                   compute_dtype: torch.dtype, device: torch.device
                   ) -> Iterator[tuple[int, nn.Module, Forward]]:
    """Yield (index, layer, forward) for each decoder layer in order.

    The caller may attach hooks to `layer`, then must call `forward()` once: it runs the
    layer on every batch (no gradients) and returns (inputs, outputs), the outputs becoming
    the next layer's inputs.
    """
    batches = [b.to(device) for b in batches]
    captured = [_capture(model, b, compute_dtype) for b in batches]
    states = [h for h, _ in captured]
    for i, layer in enumerate(decoder_layers(model, arch)):
        done: list[list[torch.Tensor]] = []

        def forward(i: int = i, layer: nn.Module = layer, inputs=states, done=done):
            with torch.no_grad(), _computing_in(layer, compute_dtype):
                done.append([layer(x, *calls[i][0], **calls[i][1])
                             for x, (_, calls) in zip(inputs, captured, strict=True)])
            return inputs, done[0]

        yield i, layer, forward
        if not done:
            raise RuntimeError(f"layers_forward: forward() of layer {i} was not called")
        states = done[0]
