"""2:4 sparsity: the pattern, the checkpoint it leaves, and the loss it costs."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from slimline.checkpoint import load_checkpoint, token_stream
from slimline.config.prune import Sparse24PruneConfig
from slimline.data.corpus import build_corpus
from slimline.prune.sparse import is_24_sparse, sparse_layers, sparsify, zeros_per_group
from tests.quantize.conftest import qwen2_checkpoint  # noqa: F401  (a fixture)

TEXTS = list(build_corpus().train[:400])
HELDOUT = list(build_corpus().heldout[:30])
LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_the_pattern_by_hand():
    w = torch.tensor([[0.0, 1.0, 0.0, 2.0, 3.0, 0.0, 0.0, 4.0],
                      [0.0, 0.0, 0.0, 5.0, 6.0, 7.0, 0.0, 0.0]])
    assert zeros_per_group(w).tolist() == [[2, 2], [3, 2]]
    assert is_24_sparse(w)
    w[1, 5] = 0.0
    assert is_24_sparse(w)  # more zeros still fit the kernel's pattern
    w[0, 0] = 9.0
    assert not is_24_sparse(w)
    assert not is_24_sparse(torch.zeros(2, 6))  # width not a multiple of 4


def _loss(model, tok) -> float:
    x = token_stream(tok, HELDOUT)[:640].reshape(10, 64)
    with torch.no_grad():
        return model(input_ids=x, labels=x).loss.item()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_sparsegpt_leaves_exactly_two_of_four_zero(arch, tmp_path, request):
    parent = request.getfixturevalue("trained_checkpoint" if arch == "llama" else
                                     "qwen2_checkpoint")
    model, tok = load_checkpoint(parent)
    before = _loss(model, tok)
    assert sparse_layers(model) == []
    cfg = Sparse24PruneConfig(num_samples=16, seq_len=64)
    names, digest, _ = sparsify(model, tok, TEXTS, cfg, device=torch.device("cpu"))
    assert len(digest) == 64
    # every decoder linear layer, not lm_head (ignored) nor the embeddings
    assert {n.rsplit(".", 1)[-1] for n in names} == LINEAR
    assert len(names) == len(LINEAR) * model.config.num_hidden_layers
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    modules = dict(reloaded.named_modules())
    for name in names:
        assert (zeros_per_group(modules[name].weight) == 2).all(), name
    assert not is_24_sparse(reloaded.lm_head.weight)
    if arch == "qwen2":  # biases stay dense
        assert (modules["model.layers.0.self_attn.q_proj"].bias != 0).all()
    after = _loss(reloaded, tok)
    # measured 2.86 -> 2.93 (llama): half the weights of every layer, about 2% loss
    assert after < before * 1.10, (before, after)


def test_prune_stage_then_quantize_keeps_the_pattern(tmp_path, trained_checkpoint):
    """sparse24 through prune_checkpoint, then round-to-nearest INT4 and FP8: both map a zero
    weight to zero, so the decompressed layers are still 2:4 (GPTQ in llm-compressor 0.14
    is not: its error feedback fills zeros)."""
    from slimline.config import QuantizeConfig
    from slimline.lineage.metadata import ArtifactMetadata
    from slimline.prune.build import prune_checkpoint
    from slimline.quantize import quantize_checkpoint

    pruned = tmp_path / "pruned"
    result = prune_checkpoint(trained_checkpoint, pruned,
                              Sparse24PruneConfig(num_samples=16, seq_len=64), texts=TEXTS)
    assert result.metrics["sparse_layers"] == 14
    assert result.metrics["params_removed_share"] == 0  # stored dense, zeros included
    assert 0.3 < result.metrics["linear_weights_zero_share"] < 0.5  # lm_head stays dense
    assert len(ArtifactMetadata.read(pruned).inputs["calibration_tokens"]) == 64
    for cfg in (QuantizeConfig(method="rtn", group_size=32), QuantizeConfig(method="fp8")):
        out = tmp_path / cfg.method
        quantize_checkpoint(pruned, out, cfg, texts=[])
        model = AutoModelForCausalLM.from_pretrained(out)
        with torch.no_grad():
            model(input_ids=torch.tensor([[1, 2]]))  # compressed-tensors decompresses on use
        assert len(sparse_layers(model)) == 14, cfg.method
