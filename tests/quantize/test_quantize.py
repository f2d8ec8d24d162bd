import pytest
import torch
from compressed_tensors.compressors.pack_quantized.helpers import unpack_from_int32
from safetensors import safe_open
from transformers import AutoModelForCausalLM

from slimline.checkpoint import load_checkpoint
from slimline.config import QuantizeConfig, SkippedStage
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata, Provenance
from slimline.quantize import calibration_samples, quantize_checkpoint, token_digest
from slimline.quantize._compat import cpu_safe_awq
from slimline.quantize.check import check_group_widths
from tests.quantize.conftest import TEXTS, heldout_loss

CFG = {"group_size": 32, "num_samples": 16, "seq_len": 64}


@pytest.mark.parametrize("method", ["gptq", "awq", "rtn"])
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_methods_reload_on_grid_with_small_loss_rise(arch, method, tmp_path, request):
    parent = request.getfixturevalue("trained_checkpoint" if arch == "llama" else
                                     "qwen2_checkpoint")
    cfg = QuantizeConfig(method=method, symmetric=method != "awq", **CFG)
    out = tmp_path / "q"
    result = quantize_checkpoint(parent, out, cfg, texts=TEXTS)
    assert ("calibration_tokens" not in result.inputs) == (method == "rtn")
    assert result.metrics["effective_bits_per_weight"] < 5.5
    before, after = heldout_loss(parent), heldout_loss(out)
    assert after < before * 1.10 + 0.05, (before, after)

    # Stored weights are 4-bit integers; the reloaded layer's weight is exactly q * scale.
    model = AutoModelForCausalLM.from_pretrained(out)
    with torch.no_grad():
        model(input_ids=torch.tensor([[1, 2]]))  # compressed-tensors decompresses on first use
    layer = model.model.layers[0].mlp.down_proj
    prefix = "model.layers.0.mlp.down_proj."
    with safe_open(out / "model.safetensors", "pt") as st:
        shape = torch.Size(st.get_tensor(prefix + "weight_shape").tolist())
        q = unpack_from_int32(st.get_tensor(prefix + "weight_packed"), 4, shape)
        scale = st.get_tensor(prefix + "weight_scale")
        zero = torch.zeros_like(scale)
        if not cfg.symmetric:  # asymmetric zero points are packed along the rows
            zero = unpack_from_int32(st.get_tensor(prefix + "weight_zero_point"), 4,
                                     scale.shape, packed_dim=0)
    assert q.min() >= -8 and q.max() <= 7
    groups = q.reshape(shape[0], -1, 32).float() - zero.float()[:, :, None]
    w_hat = (groups * scale[:, :, None]).reshape(shape)
    torch.testing.assert_close(layer.weight.float(), w_hat, atol=1e-6, rtol=1e-5)


def test_eight_bit_reloads(tmp_path, trained_checkpoint):
    cfg = QuantizeConfig(method="rtn", bits=8, **CFG)
    quantize_checkpoint(trained_checkpoint, tmp_path / "q", cfg, texts=[])
    assert heldout_loss(tmp_path / "q") == pytest.approx(heldout_loss(trained_checkpoint), rel=0.01)


def test_calibration_digest_names_the_exact_tokens(trained_checkpoint):
    _, tok = load_checkpoint(trained_checkpoint)
    samples = calibration_samples(tok, TEXTS, num_samples=8, seq_len=32, seed=0)
    again = calibration_samples(tok, TEXTS, num_samples=8, seq_len=32, seed=0)
    assert token_digest(samples) == token_digest(again)
    changed = [list(s) for s in samples]
    changed[3][5] += 1
    assert token_digest(changed) != token_digest(samples)
    assert token_digest(samples[::-1]) != token_digest(samples)
    assert token_digest([s[:-1] for s in samples]) != token_digest(samples)
    other_seed = calibration_samples(tok, TEXTS, num_samples=8, seq_len=32, seed=1)
    assert token_digest(other_seed) != token_digest(samples)
    # pinned: an accidental change to how the digest is computed is caught
    assert token_digest([[1, 2, 3]])[:16] == "81b61ebe3dc134c9"


def test_digest_is_recorded_in_metadata(tmp_path, trained_checkpoint):
    cfg = QuantizeConfig(method="gptq", **CFG)
    result = quantize_checkpoint(trained_checkpoint, tmp_path / "q", cfg, texts=TEXTS,
                                 record=Provenance(inputs={"calibration": "c"}))
    meta = ArtifactMetadata.read(tmp_path / "q")
    tokens = result.inputs["calibration_tokens"]
    assert meta.inputs == {"calibration": "c", "calibration_tokens": tokens,
                           "device": "cpu", "compute_dtype": "float32"}  # where it computed
    assert meta.parent_digest == ArtifactMetadata.read(trained_checkpoint).digest


def test_widths_that_do_not_fit_the_group_fail_before_calibrating(tmp_path, trained_checkpoint):
    cfg = QuantizeConfig(method="gptq", group_size=128, num_samples=4, seq_len=32)
    with pytest.raises(SlimlineError, match=r"group_size=128 does not divide .*q_proj \(64\)"
                       r".* and 6 more. Prune with prune.round_to=128"):
        quantize_checkpoint(trained_checkpoint, tmp_path / "q", cfg, texts=TEXTS)
    assert not (tmp_path / "q").exists()
    model, _ = load_checkpoint(trained_checkpoint)
    names = check_group_widths(model, 32, ["lm_head", "re:.*mlp.*"])
    assert names and not any("mlp" in n or "lm_head" in n for n in names)


def test_none_passes_through(tmp_path, trained_checkpoint):
    result = quantize_checkpoint(trained_checkpoint, tmp_path / "q", SkippedStage(), texts=[])
    assert result.skipped and result.digest == ArtifactMetadata.read(trained_checkpoint).digest


def test_awq_pin_memory_workaround_is_narrow():
    """Without an accelerator the patch applies (while upstream still pins) and is undone."""
    from llmcompressor.pipelines.cache import IntermediatesCache

    original = IntermediatesCache.pin_memory
    with cpu_safe_awq() as applied:
        assert applied == (not torch.accelerator.is_available())
        if applied:
            assert IntermediatesCache.pin_memory is not original
    assert IntermediatesCache.pin_memory is original


def test_a_bf16_checkpoint_calibrates_in_fp32_on_a_cpu_and_stays_bf16(tmp_path,
                                                                       trained_checkpoint):
    """A CPU without native bf16 computes GPTQ in fp32 (runtime.dtype auto there), and the
    checkpoint comes out as the bf16 path stores it: bf16 scales and unquantized weights,
    4-bit integers whose dequantization is the reloaded weight."""
    from slimline.config import RuntimeConfig

    model, tok = load_checkpoint(trained_checkpoint)
    model.to(torch.bfloat16).save_pretrained(tmp_path / "bf16")
    tok.save_pretrained(tmp_path / "bf16")
    ArtifactMetadata(stage="recovered", digest="b" * 64, parent_digest=None,
                     params={}).write(tmp_path / "bf16")
    cfg = QuantizeConfig(method="gptq", **CFG)
    runs = {}
    for dtype in ("float32", "bfloat16"):
        out = tmp_path / dtype
        quantize_checkpoint(tmp_path / "bf16", out, cfg, texts=TEXTS,
                            runtime=RuntimeConfig(device="cpu", dtype=dtype))
        assert ArtifactMetadata.read(out).inputs["compute_dtype"] == dtype
        with safe_open(out / "model.safetensors", "pt") as st:
            for name in ("model.layers.0.mlp.down_proj.weight_scale",
                         "model.embed_tokens.weight"):
                assert st.get_tensor(name).dtype == torch.bfloat16, (dtype, name)
        runs[dtype] = heldout_loss(out)
    # Same method and data, other arithmetic: the two agree closely.
    assert runs["float32"] == pytest.approx(runs["bfloat16"], abs=0.05), runs
    assert runs["float32"] < heldout_loss(tmp_path / "bf16") * 1.10 + 0.05
