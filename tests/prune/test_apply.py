"""Pruned models equal their masked originals: the removed channels and heads zeroed."""

import copy
import functools

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
from slimline.prune.architectures import SUPPORTED
from slimline.prune.importance import ESTIMATORS
from slimline.prune.structure import head_rows

CONFIGS = {
    "llama": LlamaConfig,
    "mistral": MistralConfig,
    "qwen2": Qwen2Config,
    "qwen3": Qwen3Config,
    "gemma": GemmaConfig,
    "phi3": functools.partial(Phi3Config, pad_token_id=0),  # fused qkv_proj, gate_up_proj
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


def test_unknown_architectures_are_refused_by_model_type():
    cfg = LlamaConfig()
    cfg.model_type = "falcon"
    with pytest.raises(SlimlineError, match=r"model_type='falcon'.*gemma.*phi3.*prune=none"):
        model_shape(cfg)


@pytest.mark.parametrize("arch", ["llama", "phi3"])
@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_every_estimator_prunes_to_the_plan(estimator, arch):
    model = _model(arch)
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


def _as_llama(phi3):
    """A Llama holding the Phi-3 model's weights, its fused projections split apart."""
    cfg = phi3.config
    llama = AutoModelForCausalLM.from_config(LlamaConfig(
        vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=32, head_dim=8,
        rms_norm_eps=cfg.rms_norm_eps)).eval()
    q, kv = cfg.num_attention_heads * 8, cfg.num_key_value_heads * 8
    state = {}
    for name, t in phi3.state_dict().items():
        if "qkv_proj" in name:
            for part, rows in zip("qkv", t.split([q, kv, kv]), strict=True):
                state[name.replace("qkv_proj", f"{part}_proj")] = rows
        elif "gate_up_proj" in name:
            gate, up = t.chunk(2)
            state[name.replace("gate_up_proj", "gate_proj")] = gate
            state[name.replace("gate_up_proj", "up_proj")] = up
        else:
            state[name] = t
    llama.load_state_dict(state)
    return llama


@pytest.mark.parametrize("estimator", ESTIMATORS)
def test_fused_phi3_scores_like_its_split_llama_twin(estimator):
    phi3 = _model("phi3")
    llama = _as_llama(phi3)
    x = torch.randint(0, 64, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(phi3(input_ids=x).logits, llama(input_ids=x).logits)
    plan = make_plan(model_shape(phi3.config), 64, channel_ratio=0.5, head_ratio=0.5,
                     kv_group_ratio=0.5, round_to=16)
    fused = compute_scores(phi3, plan, estimator, [x])
    split = compute_scores(llama, plan, estimator, [x])
    assert fused.keys() == split.keys()
    for key in fused:
        torch.testing.assert_close(fused[key], split[key], rtol=1e-4, atol=1e-6)
