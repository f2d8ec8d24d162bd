"""Where each decoder family keeps the linear layers that structured pruning slices.

One `LayerMap` per `model_type`, on the model of llm-compressor's AWQ mappings
(`modifiers/awq/mappings.py`, a list of layer names registered per architecture): the
module names inside one decoder layer, whether q/k/v carry a bias, and where the layer list
is. Supporting a new decoder whose layers look like Llama's is one entry here. Kept free of
torch so the configuration can derive the default LoRA targets from it.
"""

from __future__ import annotations

from dataclasses import dataclass

from slimline.errors import SlimlineError


@dataclass(frozen=True)
class LayerMap:
    """Module names of one decoder family, relative to a decoder layer.

    A fused family names `qkv` (q, k and v rows stacked in one linear) and/or `gate_up` (gate
    and up rows stacked) instead of the separate projections. `decoder`, `layers` and `norm`
    are paths from the causal LM itself.
    """

    decoder: str = "model"
    layers: str = "model.layers"
    norm: str = "model.norm"
    attention: str = "self_attn"
    mlp: str = "mlp"
    q: str | None = "q_proj"
    k: str | None = "k_proj"
    v: str | None = "v_proj"
    o: str = "o_proj"
    gate: str | None = "gate_proj"
    up: str | None = "up_proj"
    down: str = "down_proj"
    qkv: str | None = None
    gate_up: str | None = None
    qkv_bias: bool = False

    def linears(self) -> list[str]:
        """The leaf names of every projection in a layer (attention first, then MLP)."""
        attention = [self.qkv] if self.qkv else [self.q, self.k, self.v]
        mlp = [self.gate_up] if self.gate_up else [self.gate, self.up]
        return [n for n in (*attention, self.o, *mlp, self.down) if n]

    def attn(self, leaf: str) -> str:
        """Path of an attention projection inside a decoder layer."""
        return f"{self.attention}.{leaf}"

    def ffn(self, leaf: str) -> str:
        """Path of an MLP projection inside a decoder layer."""
        return f"{self.mlp}.{leaf}"


_LLAMA = LayerMap()
ARCHITECTURES: dict[str, LayerMap] = {
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": LayerMap(qkv_bias=True),
    # q_norm/k_norm normalise each head over head_dim, which head pruning leaves unchanged.
    "qwen3": _LLAMA,
    "gemma": _LLAMA,
    "phi3": LayerMap(q=None, k=None, v=None, qkv="qkv_proj", gate=None, up=None,
                     gate_up="gate_up_proj"),
}
SUPPORTED = frozenset(ARCHITECTURES)
DEFAULT_LORA_TARGETS = _LLAMA.linears()


def layer_map(model_type: str) -> LayerMap:
    """The map of a model type slimline can prune, or a SlimlineError naming those it can."""
    found = ARCHITECTURES.get(model_type)
    if found is None:
        raise SlimlineError(
            f"cannot prune model_type={model_type!r}: slimline prunes "
            f"{', '.join(sorted(SUPPORTED))} decoders. Use prune=none for this model.")
    return found


def lora_targets(model_type: str) -> list[str] | None:
    """The projections LoRA adapts by default in a model type (None if unknown)."""
    found = ARCHITECTURES.get(model_type)
    return found.linears() if found else None
