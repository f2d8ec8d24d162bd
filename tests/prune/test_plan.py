import pytest
from transformers import GPT2Config, LlamaConfig

from slimline.errors import SlimlineError
from slimline.prune import Shape, make_plan, model_shape

SHAPE = Shape(intermediate_size=512, num_attention_heads=4, num_key_value_heads=2, head_dim=32)


def _plan(**kw):
    args = {"channel_ratio": 0.25, "head_ratio": 0.0, "kv_group_ratio": 0.0, "round_to": 128}
    return make_plan(SHAPE, 128, **{**args, **kw})


def test_default_tiny_plan_keeps_group_128_widths():
    plan = _plan()
    assert plan.after == Shape(384, 4, 2, 32)
    assert not plan.prunes_attention


@pytest.mark.parametrize("kw, message", [
    ({"channel_ratio": 1.0}, r"prune.channel_ratio=1.0 is out of range"),
    ({"head_ratio": -0.1}, r"prune.head_ratio=-0.1 is out of range"),
    ({"channel_ratio": 0.1}, r"rounds to no pruning at all with prune.round_to=128"),
    ({"channel_ratio": 0.9}, r"leaves 0 of 512 MLP channels"),
    ({"channel_ratio": 0.0, "head_ratio": 0.5}, r"o_proj 64 wide, not a multiple of "
                                                r"prune.round_to=128"),
    ({"channel_ratio": 0.0, "head_ratio": 0.5, "kv_group_ratio": 0.5, "round_to": 1},
     None),
    ({"round_to": 0}, r"prune.round_to=0 must be a positive width"),
])
def test_plan_fails_fast_naming_the_setting(kw, message):
    if message is None:
        assert _plan(**kw).after.num_attention_heads == 1
        return
    with pytest.raises(SlimlineError, match=message):
        _plan(**kw)


def test_head_count_must_divide_hidden_size():
    shape = Shape(512, 12, 4, 32)  # hidden 384: 4 kv groups of 3 query heads
    ok = make_plan(shape, 384, channel_ratio=0, head_ratio=0.34, kv_group_ratio=0, round_to=1)
    assert ok.after.num_attention_heads == 8  # 4 groups x 2 heads; 384 % 8 == 0
    with pytest.raises(SlimlineError, match="9 attention heads.*divide hidden_size=384"):
        make_plan(shape, 384, channel_ratio=0, head_ratio=0, kv_group_ratio=0.25, round_to=1)


def test_unknown_architecture_is_refused():
    with pytest.raises(SlimlineError, match="cannot prune model_type='gpt2'"):
        model_shape(GPT2Config())
    assert model_shape(LlamaConfig(hidden_size=64, num_attention_heads=4,
                                   num_key_value_heads=2)).head_dim == 16
