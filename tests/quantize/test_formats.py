"""FP8 and INT8 W8A8 checkpoints, the FP8 KV cache, and a method added through the registry
alone: each on tiny Llama and Qwen2 models, reloaded with `from_pretrained` on CPU.

compressed-tensors decompresses FP8 and INT8 weights to the model's dtype when transformers
loads them on a CPU, so the reloaded model runs here; vLLM serves the same files with its
FP8/INT8 kernels on a GPU (not exercised on this machine).
"""

import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from slimline.config import QuantizeConfig
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata
from slimline.quantize import quantize_checkpoint
from slimline.quantize.check import check_kv_cache
from slimline.quantize.methods import METHODS, Method
from tests.quantize.conftest import TEXTS, heldout_loss

CALIBRATION = {"num_samples": 16, "seq_len": 64}
LAYER = "model.layers.0.mlp.down_proj."
# Loss on held-out text may rise by at most 3% (+0.02 nats): 8-bit weights and activations
# lose far less than the 4-bit weight-only methods' 10% bound.
RISE, SLACK = 1.03, 0.02


@pytest.fixture(params=["llama", "qwen2"])
def parent(request):
    return request.getfixturevalue("trained_checkpoint" if request.param == "llama" else
                                   "qwen2_checkpoint")


def _quantization_config(out) -> dict:
    return json.loads((out / "config.json").read_text())["quantization_config"]


def _reloaded_layer(out):
    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 2]]))
    return model.model.layers[0].mlp.down_proj


def _assert_small_loss_rise(parent, out):
    before, after = heldout_loss(parent), heldout_loss(out)
    assert after < before * RISE + SLACK, (before, after)


@pytest.mark.parametrize(("method", "dtype", "kind", "calibrated"), [
    ("fp8", torch.float8_e4m3fn, "float", False),
    ("w8a8", torch.int8, "int", True),
])
def test_eight_bit_formats_reload_with_scales_and_small_loss_rise(parent, method, dtype, kind,
                                                                   calibrated, tmp_path):
    out = tmp_path / "q"
    result = quantize_checkpoint(parent, out, QuantizeConfig(method=method, **CALIBRATION),
                                 texts=TEXTS)
    # fp8 is data-free: like rtn, no calibration token digest is recorded
    assert ("calibration_tokens" in result.inputs) == calibrated
    assert ("calibration_tokens" in ArtifactMetadata.read(out).inputs) == calibrated
    with safe_open(out / "model.safetensors", "pt") as st:
        weight = st.get_tensor(LAYER + "weight")
        scale = st.get_tensor(LAYER + "weight_scale")
        assert not any(k.endswith("weight_packed") for k in st.keys())  # noqa: SIM118
    assert weight.dtype == dtype
    assert scale.shape == (weight.shape[0], 1)  # one scale per output channel
    # 8 bits per weight plus one 32-bit scale per row of 64 or 128 inputs
    assert 8 + 32 / 128 <= result.metrics["effective_bits_per_weight"] <= 8 + 32 / 64

    qc = _quantization_config(out)
    group = qc["config_groups"]["group_0"]
    assert qc["quant_method"] == "compressed-tensors"
    assert qc["format"] == f"{kind}-quantized"
    assert (group["weights"]["type"], group["weights"]["num_bits"],
            group["weights"]["strategy"]) == (kind, 8, "channel")
    assert (group["input_activations"]["type"], group["input_activations"]["num_bits"],
            group["input_activations"]["dynamic"], group["input_activations"]["strategy"]) \
        == (kind, 8, True, "token")
    assert qc["ignore"] == ["lm_head"] and qc["kv_cache_scheme"] is None

    # the reloaded (decompressed) weight is exactly the stored 8-bit value times its scale
    layer = _reloaded_layer(out)
    torch.testing.assert_close(layer.weight.float(), weight.float() * scale.float())
    # and its input is quantized per token on the fly, so CPU evaluation sees the activation
    # error too: the output is close to, but not, the plain product with that weight
    x = torch.randn(1, 3, weight.shape[1])
    with torch.no_grad():
        quantized, plain = layer(x), torch.nn.functional.linear(x, layer.weight)
    assert not torch.equal(quantized, plain)
    assert (quantized - plain).norm() < 0.1 * plain.norm()
    _assert_small_loss_rise(parent, out)


def test_fp8_kv_cache_stores_calibrated_key_value_scales(parent, tmp_path):
    out = tmp_path / "q"
    cfg = QuantizeConfig(method="fp8", kv_cache="fp8", **CALIBRATION)
    result = quantize_checkpoint(parent, out, cfg, texts=TEXTS)
    assert "calibration_tokens" in result.inputs  # the static scales were calibrated
    with safe_open(out / "model.safetensors", "pt") as st:
        for i in (0, 1):
            for name in ("k_scale", "v_scale"):
                value = st.get_tensor(f"model.layers.{i}.self_attn.{name}")
                assert value.numel() == 1 and value.item() > 0
    kv = _quantization_config(out)["kv_cache_scheme"]
    assert (kv["type"], kv["num_bits"], kv["strategy"], kv["dynamic"]) == (
        "float", 8, "tensor", False)
    assert "FP8 KV cache" in (out / "README.md").read_text()
    _assert_small_loss_rise(parent, out)


def test_kv_cache_is_refused_where_no_attention_caches():
    model = torch.nn.Sequential(torch.nn.Linear(8, 8))
    with pytest.raises(SlimlineError, match=r"quantize.kv_cache=fp8: .*no attention module "
                       r".* set quantize.kv_cache=none"):
        check_kv_cache(model, "fp8")


def test_a_method_added_through_the_registry_alone_runs(monkeypatch, trained_checkpoint,
                                                       tmp_path):
    """A new method is one registry entry: here static FP8 (per-tensor activation scales,
    so it must calibrate), which slimline has never heard of."""
    from llmcompressor.modifiers.quantization import QuantizationModifier

    def recipe(cfg, quant):
        return [QuantizationModifier(**quant)]

    monkeypatch.setitem(METHODS, "fp8_static",
                        Method("fp8_static", needs_calibration=True, recipe=recipe,
                               scheme="FP8", label="static FP8 weights and activations"))
    # the config's Literal does not know it; the registry alone decides what runs
    cfg = QuantizeConfig.model_construct(method="fp8_static", **CALIBRATION)
    out = tmp_path / "q"
    result = quantize_checkpoint(trained_checkpoint, out, cfg, texts=TEXTS)
    assert "calibration_tokens" in result.inputs
    with safe_open(out / "model.safetensors", "pt") as st:
        assert st.get_tensor(LAYER + "weight").dtype == torch.float8_e4m3fn
        assert st.get_tensor(LAYER + "input_scale").numel() == 1  # calibrated, per tensor
    group = _quantization_config(out)["config_groups"]["group_0"]
    assert group["input_activations"]["dynamic"] is False
    assert "static FP8 weights and activations" in (out / "README.md").read_text()
    assert heldout_loss(out) < heldout_loss(trained_checkpoint) * RISE + SLACK
