"""Minitron activation importance: a forward pass only, scores checkable by hand."""

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM

from slimline.prune import compute_scores, make_plan, model_shape, prune_layers
from slimline.prune.importance import ESTIMATORS

from .reference_setup import VOCAB, batches, tiny_model
from .test_apply import _masked

ACT = ESTIMATORS["activation"]


def test_contribution_is_the_group_norm_of_each_token():
    # two tokens, one head of two features: |(3, 4)| = 5, |(0, -5)| = 5
    heads = torch.tensor([[[3.0, 4.0]], [[0.0, -5.0]]])
    assert ACT.contribution(heads).tolist() == [[5.0], [5.0]]
    # one-wide groups (MLP channels): the absolute value
    channels = torch.tensor([[-2.0, 1.0], [4.0, 0.0]]).reshape(2, 2, 1)
    assert ACT.contribution(channels).sum(0).tolist() == [6.0, 1.0]
    assert not ACT.needs_gradients and ACT.needs_calibration


def _plan(model, channel=0.5, head=0.5, kv=0.0):
    return make_plan(model_shape(model.config), model.config.hidden_size, channel_ratio=channel,
                     head_ratio=head, kv_group_ratio=kv, round_to=16)


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_scores_are_the_mean_inputs_of_down_and_o_proj(arch):
    """The layer-by-layer pass equals hooks on the model's own forward, averaged by hand."""
    model = tiny_model(arch)
    cfg = model.config
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    seen: dict[str, list[torch.Tensor]] = {}
    hooks = [m.register_forward_pre_hook(
        lambda _m, args, name=name: seen.setdefault(name, []).append(args[0].detach()))
        for name, m in model.named_modules() if name.endswith(("down_proj", "o_proj"))]
    with torch.no_grad():
        for b in batches():
            model(input_ids=b)
    for h in hooks:
        h.remove()
    scores = compute_scores(model, _plan(model), "activation", batches())
    for i in range(cfg.num_hidden_layers):
        down = torch.cat(seen[f"model.layers.{i}.mlp.down_proj"]).reshape(-1, 128)
        o = torch.cat(seen[f"model.layers.{i}.self_attn.o_proj"]).reshape(-1, 8, head_dim)
        torch.testing.assert_close(scores[f"layers.{i}.mlp_channels"], down.abs().mean(0))
        torch.testing.assert_close(scores[f"layers.{i}.query_heads"], o.norm(dim=-1).mean(0))
        assert scores[f"layers.{i}.kv_heads"].tolist() == [0.0] * 4


def test_silenced_channels_and_heads_score_zero_and_go_first():
    model = tiny_model("llama")
    layer = model.model.layers[0]
    with torch.no_grad():
        layer.mlp.up_proj.weight[:64] = 0  # channel = act(gate) * up: silent
        layer.self_attn.v_proj.weight[:16] = 0  # kv heads 0, 1 (8 rows each): 4 query heads
    plan = _plan(model, channel=0.5, head=0.0, kv=0.5)
    scores = compute_scores(model, plan, "activation", batches())
    assert scores["layers.0.mlp_channels"][:64].abs().max() == 0
    assert scores["layers.0.mlp_channels"][64:].min() > 0
    assert scores["layers.0.query_heads"][:4].tolist() == [0.0] * 4
    assert scores["layers.0.query_heads"][4:].min() > 0
    kept = prune_layers(model, plan, scores)
    assert kept[0]["mlp_channels"] == list(range(64, 128))
    assert kept[0]["kv_heads"] == [2, 3]


def _loss(model, x):
    with torch.no_grad():
        return model(input_ids=x, labels=x).loss.item()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_activation_prune_reloads_and_keeps_the_loss(arch, tmp_path):
    model = tiny_model(arch)
    plan = _plan(model, channel=0.5, head=0.5)
    scores = compute_scores(model, plan, "activation", batches())
    original = copy.deepcopy(model)
    kept = prune_layers(model, plan, scores)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    x = torch.randint(0, VOCAB, (2, 16), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=x).logits,
                                   _masked(original, kept, plan.before)(input_ids=x).logits,
                                   atol=1e-5, rtol=1e-4)
    # Half the channels and heads gone from a random model, whose loss is near ln(VOCAB) =
    # 4.56: measured 4.537 -> 4.536 (llama) and 4.571 -> 4.557 (qwen2); bound 2%.
    assert abs(_loss(reloaded, x) - _loss(original, x)) < 0.02 * _loss(original, x)
