"""Coupled structure groups of Llama-like decoders and the slicing that removes them.

A group is everything that must go together for the model to stay a dense, standard
checkpoint: an MLP channel is a row of gate_proj and up_proj plus a column of down_proj; an
attention head is a block of q_proj rows plus the matching o_proj columns; a key/value group
is a kv head (k_proj and v_proj rows) with all the query heads that read it. In a fused
layout (Phi-3's qkv_proj, gate_up_proj) the same rows sit at offsets inside one weight. Pure tensor
code: no I/O, no configuration parsing; module names come from `architectures`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from slimline.prune.architectures import LayerMap, layer_map


def decoder_layers(model, arch: LayerMap):
    """The list of decoder layers of `model`."""
    return model.get_submodule(arch.layers)


@dataclass(frozen=True)
class Shape:
    """The widths a decoder layer has (or will have after pruning)."""

    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int

    @property
    def heads_per_group(self) -> int:
        return self.num_attention_heads // self.num_key_value_heads


def model_shape(config) -> Shape:
    """Read the layer widths of a supported config, refusing other architectures."""
    layer_map(config.model_type)
    head_dim = getattr(config, "head_dim", None) or (
        config.hidden_size // config.num_attention_heads)
    return Shape(config.intermediate_size, config.num_attention_heads,
                 config.num_key_value_heads, head_dim)


Part = tuple[str, str, int | None]


def groups(arch: LayerMap, shape: Shape) -> dict[str, tuple[Part, ...]]:
    """Group kind -> the linear layers whose weights make up one group of that kind.

    Each part is (path inside a decoder layer, whether a group owns rows or columns of it,
    the first row of the group's block when the linear is fused, else None). The order is the
    order importance is summed in, kept fixed so scores reproduce bit for bit.
    """
    inter, q_width = shape.intermediate_size, shape.num_attention_heads * shape.head_dim
    kv_width = shape.num_key_value_heads * shape.head_dim
    if arch.gate_up:
        mlp = ((arch.ffn(arch.gate_up), "rows", 0), (arch.ffn(arch.gate_up), "rows", inter))
    else:
        mlp = ((arch.ffn(arch.gate), "rows", None), (arch.ffn(arch.up), "rows", None))
    if arch.qkv:
        q = ((arch.attn(arch.qkv), "rows", 0),)
        kv = ((arch.attn(arch.qkv), "rows", q_width),
              (arch.attn(arch.qkv), "rows", q_width + kv_width))
    else:
        q = ((arch.attn(arch.q), "rows", None),)
        kv = ((arch.attn(arch.k), "rows", None), (arch.attn(arch.v), "rows", None))
    return {"mlp_channels": (*mlp, (arch.ffn(arch.down), "cols", None)),
            "query_heads": (*q, (arch.attn(arch.o), "cols", None)),
            "kv_heads": kv}


def group_sizes(shape: Shape) -> dict[str, tuple[int, int]]:
    """Group kind -> (number of groups, rows or columns per group) of a layer of `shape`."""
    return {"mlp_channels": (shape.intermediate_size, 1),
            "query_heads": (shape.num_attention_heads, shape.head_dim),
            "kv_heads": (shape.num_key_value_heads, shape.head_dim)}


def _keep_rows(linear: nn.Linear, rows: torch.Tensor) -> None:
    linear.weight = nn.Parameter(linear.weight.data[rows].clone())
    if linear.bias is not None:
        linear.bias = nn.Parameter(linear.bias.data[rows].clone())
    linear.out_features = len(rows)


def _keep_cols(linear: nn.Linear, cols: torch.Tensor) -> None:
    linear.weight = nn.Parameter(linear.weight.data[:, cols].clone())
    linear.in_features = len(cols)


def head_rows(heads: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Row indices of a projection's output that belong to `heads`."""
    return (heads[:, None] * head_dim + torch.arange(head_dim)[None, :]).reshape(-1)


def slice_mlp(layer: nn.Module, arch: LayerMap, shape: Shape, keep: torch.Tensor) -> None:
    """Keep MLP channels `keep` (sorted indices) in gate/up rows and down columns."""
    if arch.gate_up:  # gate rows, then up rows, in one weight
        _keep_rows(layer.get_submodule(arch.ffn(arch.gate_up)),
                   torch.cat([keep, keep + shape.intermediate_size]))
    else:
        _keep_rows(layer.get_submodule(arch.ffn(arch.gate)), keep)
        _keep_rows(layer.get_submodule(arch.ffn(arch.up)), keep)
    _keep_cols(layer.get_submodule(arch.ffn(arch.down)), keep)


def slice_attention(layer: nn.Module, arch: LayerMap, shape: Shape, keep_kv: torch.Tensor,
                    keep_q_in_group: torch.Tensor) -> None:
    """Keep kv heads `keep_kv` and, in each, the query heads at positions `keep_q_in_group`.

    `keep_q_in_group` is a (len(keep_kv), G') tensor of positions within each kept group, so
    every group keeps the same number of query heads and the layout stays grouped-query.
    """
    g = shape.heads_per_group
    q_heads = (keep_kv[:, None] * g + keep_q_in_group).reshape(-1)
    q_rows = head_rows(q_heads, shape.head_dim)
    kv_rows = head_rows(keep_kv, shape.head_dim)
    if arch.qkv:  # q rows, k rows, v rows, in one weight
        q_width = shape.num_attention_heads * shape.head_dim
        kv_width = shape.num_key_value_heads * shape.head_dim
        _keep_rows(layer.get_submodule(arch.attn(arch.qkv)),
                   torch.cat([q_rows, kv_rows + q_width, kv_rows + q_width + kv_width]))
    else:
        _keep_rows(layer.get_submodule(arch.attn(arch.q)), q_rows)
        _keep_rows(layer.get_submodule(arch.attn(arch.k)), kv_rows)
        _keep_rows(layer.get_submodule(arch.attn(arch.v)), kv_rows)
    _keep_cols(layer.get_submodule(arch.attn(arch.o)), q_rows)
    attn = layer.get_submodule(arch.attention)
    attn.num_key_value_groups = keep_q_in_group.shape[1]
    if hasattr(attn, "num_heads"):
        attn.num_heads = len(q_heads)
    if hasattr(attn, "num_key_value_heads"):
        attn.num_key_value_heads = len(keep_kv)
