"""Compute in fp32 over frozen bf16 weights without an fp32 copy of the model.

On a CPU without native bf16, recovery computes in fp32. Upcasting the whole model
(`model.float()`) would hold an fp32 copy of every frozen weight: twice the bf16 checkpoint,
next to the file's pages. Instead every frozen linear layer casts its weight for the matmul
only, in blocks of rows (a 151,936-row output head is never upcast whole), and keeps nothing
but the stored weight for its backward pass; the embedding's output is cast to the compute
dtype, and norms promote on their own (bf16 weight x fp32 activations gives fp32). The values
are the ones `model.float()` gives: an upcast bf16 number is exact.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import torch
import torch.nn.functional as F

BLOCK_BYTES = 32 * 2**20  # upcast weight rows computed with at once


def _row_blocks(weight: torch.Tensor, dtype: torch.dtype) -> list[slice]:
    rows = max(1, BLOCK_BYTES // (weight.shape[1] * dtype.itemsize))
    return [slice(s, s + rows) for s in range(0, weight.shape[0], rows)]


class _FrozenLinear(torch.autograd.Function):
    """y = x W^T + b with W, b frozen in their stored dtype and the maths in x's dtype."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
        ctx.save_for_backward(weight)  # the stored weight itself, not a copy
        blocks = _row_blocks(weight, x.dtype)
        if len(blocks) == 1:
            return F.linear(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype))
        out = x.new_empty(*x.shape[:-1], weight.shape[0])
        for rows in blocks:
            b = None if bias is None else bias[rows].to(x.dtype)
            out[..., rows] = F.linear(x, weight[rows].to(x.dtype), b)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (weight,) = ctx.saved_tensors
        blocks = _row_blocks(weight, grad.dtype)
        if len(blocks) == 1:
            return grad @ weight.to(grad.dtype), None, None
        out = None
        for rows in blocks:
            part = grad[..., rows] @ weight[rows].to(grad.dtype)
            out = part if out is None else out.add_(part)
        return out, None, None


def _frozen_forward(module: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
    return _FrozenLinear.apply(x, module.weight, module.bias)


@contextmanager
def computing_in(model: torch.nn.Module, dtype: torch.dtype):
    """Run `model` in `dtype` while its frozen weights stay as stored.

    Trainable parameters (LoRA adapters) must already be in `dtype`; nothing changes for
    weights already in `dtype`. The model's modules are restored on exit.
    """
    patched: list[torch.nn.Module] = []
    hooks = []
    for module in model.modules():
        if (isinstance(module, torch.nn.Linear) and module.weight.dtype != dtype
                and not module.weight.requires_grad):
            module.forward = partial(_frozen_forward, module)
            patched.append(module)
        elif isinstance(module, torch.nn.Embedding) and module.weight.dtype != dtype:
            hooks.append(module.register_forward_hook(lambda _m, _i, out: out.to(dtype)))
    try:
        yield model
    finally:
        for module in patched:
            del module.forward
        for hook in hooks:
            hook.remove()
