"""The quantization registry: in step with the config, each entry's recipe, config bounds."""

from typing import get_args

import pytest

from slimline.config import QuantizeConfig, QuantizeStageConfig, parse_section
from slimline.config.quantize import FIXED_FORMAT_METHODS
from slimline.errors import SlimlineError
from slimline.quantize.methods import METHODS, method_for


def test_config_literal_and_registry_name_the_same_methods():
    assert set(get_args(QuantizeConfig.model_fields["method"].annotation)) == set(METHODS)
    assert all(name == method.name for name, method in METHODS.items())
    # the fixed-format methods (bits/group_size refused) are those quantizing to a preset
    assert {n for n, m in METHODS.items() if m.scheme is not None} == FIXED_FORMAT_METHODS


def _quantizer(recipe):
    """The recipe's modifier that carries the quantization config (the last one)."""
    return recipe[-1]


@pytest.mark.parametrize(("method", "modifiers", "calibrated"), [
    ("gptq", ["GPTQModifier"], True),
    ("awq", ["AWQModifier", "QuantizationModifier"], True),
    ("rtn", ["QuantizationModifier"], False),
    ("fp8", ["QuantizationModifier"], False),
    ("w8a8", ["SmoothQuantModifier", "GPTQModifier"], True),
])
def test_each_entry_builds_its_recipe(method, modifiers, calibrated):
    cfg = QuantizeConfig(method=method)
    entry = METHODS[method]
    recipe = entry.modifiers(cfg)
    assert [type(m).__name__ for m in recipe] == modifiers
    assert entry.calibrated(cfg) is calibrated
    groups = _quantizer(recipe).resolved_config.config_groups
    weights = groups["group_0"].weights
    assert _quantizer(recipe).ignore == ["lm_head"]
    if method in ("fp8", "w8a8"):
        assert (weights.type, weights.num_bits, weights.strategy) == (
            "float" if method == "fp8" else "int", 8, "channel")
        activations = groups["group_0"].input_activations
        assert (activations.num_bits, activations.dynamic, activations.strategy) == (
            8, True, "token")
    else:
        assert (weights.num_bits, weights.group_size, weights.strategy) == (4, 128, "group")
        assert groups["group_0"].input_activations is None


def test_kv_cache_option_adds_the_scheme_and_calibrates():
    cfg = QuantizeConfig(method="fp8", kv_cache="fp8")
    recipe = METHODS["fp8"].modifiers(cfg)
    kv = _quantizer(recipe).resolved_config.kv_cache_scheme
    assert (kv.type, kv.num_bits, kv.strategy, kv.dynamic) == ("float", 8, "tensor", False)
    assert METHODS["fp8"].calibrated(cfg)  # static key/value scales need data
    assert "FP8 KV cache" in METHODS["fp8"].describe(cfg)
    assert METHODS["fp8"].modifiers(QuantizeConfig(method="fp8"))[-1].kv_cache_scheme is None


def test_smoothing_strength_reaches_smoothquant():
    recipe = METHODS["w8a8"].modifiers(QuantizeConfig(method="w8a8", smoothing_strength=0.6))
    assert recipe[0].smoothing_strength == 0.6


def test_default_gptq_card_text_is_unchanged():
    assert METHODS["gptq"].describe(QuantizeConfig()) == \
        "4-bit weights (group 128, symmetric)"


@pytest.mark.parametrize(("values", "key", "says"), [
    ({"method": "gptq", "group_size": 48}, "quantize.group_size",
     "not served by vLLM's compressed-tensors kernels: use one of 32, 64, 128"),
    ({"method": "gptq", "bits": 3}, "quantize.bits", "4 or 8"),
    ({"method": "fp8", "bits": 4}, "quantize.bits", "does not apply to method=fp8"),
    ({"method": "w8a8", "group_size": 64}, "quantize.group_size",
     "does not apply to method=w8a8"),
    ({"method": "fp8", "symmetric": False}, "quantize.symmetric", "compose quantize=fp8"),
    ({"method": "gptq", "smoothing_strength": 0.5}, "quantize.smoothing_strength",
     "w8a8 only"),
    ({"method": "w8a8", "smoothing_strength": 1.5}, "quantize.smoothing_strength", "less"),
    ({"method": "rtn", "kv_cache": "int8"}, "quantize.kv_cache", "'none' or 'fp8'"),
    ({"method": "awq", "bits": 8, "symmetric": False}, "quantize",
     "quantize.bits=8 with quantize.symmetric=false is not served"),
])
def test_unsupported_settings_are_refused_naming_the_key(values, key, says):
    with pytest.raises(SlimlineError, match=rf"{key}: .*{says}"):
        parse_section(QuantizeStageConfig, values, "quantize")


def test_fixed_format_methods_are_eight_bit_and_accept_their_true_settings():
    assert QuantizeConfig(method="fp8").bits == 8
    assert QuantizeConfig(method="w8a8", bits=8, symmetric=True).bits == 8
    assert QuantizeConfig(method="gptq").bits == 4


def test_compose_refuses_an_unserved_group_size_naming_the_key():
    from pathlib import Path

    from slimline.config import compose

    conf = Path(__file__).resolve().parents[2] / "conf"
    with pytest.raises(SlimlineError, match="quantize.group_size: group_size=96"):
        compose(["quantize.group_size=96"], conf)
    assert compose(["quantize=fp8", "quantize.kv_cache=fp8"], conf)["quantize"] == {
        "method": "fp8", "kv_cache": "fp8", "ignore": ["lm_head"], "num_samples": 64,
        "seq_len": 128, "seed": 0}


def test_an_unregistered_method_is_named():
    cfg = QuantizeConfig.model_construct(method="nope")
    with pytest.raises(SlimlineError, match="quantize.method=nope is not a registered"):
        method_for(cfg)
