"""The tiny models and batches that `fixtures/reference_scores.json` was recorded on.

The fixture holds the scores and kept indices of the pruning code before importance became
memory-bounded (commit bb4445a), so the rewrite is pinned to the old behaviour.
"""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

ESTIMATORS = ("taylor_first", "taylor_vector", "taylor_second", "magnitude", "random")
CONFIGS = {"llama": LlamaConfig, "qwen2": Qwen2Config}
VOCAB = 96


def tiny_model(arch: str):
    """A random fp32 decoder with 4 kv groups of 2 query heads and random biases."""
    cfg = CONFIGS[arch](vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                        num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=4,
                        max_position_embeddings=32, tie_word_embeddings=arch == "qwen2")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():  # random biases, so bias scores count
        for p in model.parameters():
            if p.dim() == 1 and p.shape[0] != cfg.hidden_size:
                p.normal_()
    return model.eval()


def batches() -> list[torch.Tensor]:
    """Three batches of token ids: several, so per-batch accumulation is exercised."""
    gen = torch.Generator().manual_seed(7)
    return [torch.randint(0, VOCAB, (2, 16), generator=gen) for _ in range(3)]


def plan_kwargs() -> dict:
    """Prune every group kind at once: MLP channels, query heads and whole kv groups."""
    return {"channel_ratio": 0.5, "head_ratio": 0.5, "kv_group_ratio": 0.5, "round_to": 16}
