"""Pruned models equal their masked originals: the removed channels and heads zeroed."""

import copy

import pytest
import torch
from transformers import (
    AutoModelForCausalLM,
    GemmaConfig,
    LlamaConfig,
    MistralConfig,
    Phi3Config,
    Qwen2Config,
    Qwen3Config,
)

from slimline.errors import SlimlineError
from slimline.prune import compute_scores, make_plan, model_shape, prune_layers
from slimline.prune.architectures import ARCHITECTURES, SUPPORTED
from slimline.prune.importance import ESTIMATORS
from slimline.prune.structure import head_rows

CONFIGS = {
    "llama": LlamaConfig,
    "mistral": MistralConfig,
    "qwen2": Qwen2Config,
    "qwen3": Qwen3Config,
    "gemma": GemmaConfig,
}
# (channel_ratio, head_ratio, kv_group_ratio): each group kind alone, then all together
KINDS = {"mlp": (0.25, 0.0, 0.0), "heads": (0.0, 0.5, 0.0), "kv_groups": (0.0, 0.0, 0.5),
         "all": (0.5, 0.5, 0.5)}


def _model(arch: str):
    cfg = CONFIGS[arch](vocab_size=64, hidden_size=64, intermediate_size=64,
                        num_hidden_layers=2, num_attention_heads=8, num_key_value_heads=4,
                        max_position_embeddings=32, head_dim=8)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    with torch.no_grad():  # random biases, so a wrongly sliced q/k/v bias shows up
        for p in model.parameters():
            if p.dim() == 1 and p.shape[0] != cfg.hidden_size:
                p.normal_()
    return model.eval()


def _masked(model, kept, shape):
    """The original model with everything the pruned one dropped set to zero."""
    masked = copy.deepcopy(model)
    for layer, rec in zip(masked.model.layers, kept, strict=True):
        with torch.no_grad():
            if "mlp_channels" in rec:
                drop = torch.ones(shape.intermediate_size, dtype=torch.bool)
                drop[rec["mlp_channels"]] = False
                layer.mlp.down_proj.weight[:, drop] = 0
            if "query_heads" in rec:
                keep = head_rows(torch.tensor(rec["query_heads"]), shape.head_dim)
                drop = torch.ones(shape.num_attention_heads * shape.head_dim, dtype=torch.bool)
                drop[keep] = False
                layer.self_attn.o_proj.weight[:, drop] = 0
    return masked


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("arch", CONFIGS)
def test_pruned_equals_masked_original(arch, kind, tmp_path):
    model = _model(arch)
    shape = model_shape(model.config)
    channel, head, kv = KINDS[kind]
    plan = make_plan(shape, model.config.hidden_size, channel_ratio=channel, head_ratio=head,
                     kv_group_ratio=kv, round_to=16)
    x = torch.randint(0, 64, (2, 12))
    scores = compute_scores(model, plan, "taylor_first", [x])
    original = copy.deepcopy(model)
    kept = prune_layers(model, plan, scores)
    masked = _masked(original, kept, shape)
    with torch.no_grad():
        got = model(input_ids=x).logits
        want = masked(input_ids=x).logits
        assert not torch.allclose(original(input_ids=x).logits, want, atol=1e-4)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    assert model_shape(model.config) == plan.after
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=x).logits, got)
    assert sum(p.numel() for p in reloaded.parameters()) < sum(
        p.numel() for p in original.parameters())


def test_every_supported_architecture_is_tested():
    assert set(CONFIGS) == SUPPORTED


def test_fused_projections_are_refused_by_model_type():
    cfg = Phi3Config(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=8, num_key_value_heads=4)
    assert ARCHITECTURES["phi3"].linears() == ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"]
    with pytest.raises(SlimlineError, match=r"model_type='phi3'.*qkv_proj, gate_up_proj.*"
                       r"prune=none"):
        model_shape(cfg)


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_every_estimator_prunes_to_the_plan(estimator):
    model = _model("llama")
    shape = model_shape(model.config)
    plan = make_plan(shape, 64, channel_ratio=0.5, head_ratio=0.5, kv_group_ratio=0.0,
                     round_to=16)
    scores = compute_scores(model, plan, estimator, [torch.randint(0, 64, (2, 8))], seed=1)
    kept = prune_layers(model, plan, scores)
    assert all(len(r["mlp_channels"]) == 32 and len(r["query_heads"]) == 4 for r in kept)
    assert model.model.layers[0].mlp.down_proj.weight.shape == (64, 32)


def test_magnitude_keeps_the_largest_channels():
    model = _model("llama")
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight[:, :16] *= 100
    plan = make_plan(model_shape(model.config), 64, channel_ratio=0.75, head_ratio=0,
                     kv_group_ratio=0, round_to=16)
    kept = prune_layers(model, plan, compute_scores(model, plan, "magnitude"))
    assert kept[0]["mlp_channels"] == list(range(16))
