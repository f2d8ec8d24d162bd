"""Depth pruning: Block Influence scores, block removal, and the checkpoint it leaves."""

import pytest
import torch
from safetensors import safe_open
from torch import nn
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

from slimline.config.prune import DepthPruneConfig
from slimline.errors import SlimlineError
from slimline.prune.depth import (
    angular_distance,
    block_influence,
    blocks_to_remove,
    lowest,
    prune_depth,
)

CONFIGS = {"llama": LlamaConfig, "qwen2": Qwen2Config}
VOCAB = 128


class _Bypass(nn.Module):
    """A decoder block that hands its input on unchanged."""

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states


class _Tokenizer:
    """Token ids are the bytes of the text, modulo the tiny vocabulary."""

    eos_token_id = 0

    def __call__(self, texts, add_special_tokens=True):
        return {"input_ids": [[1 + b % (VOCAB - 1) for b in t.encode()] for t in texts]}


TEXTS = [f"document {i}: " + "the quick brown fox jumps over the lazy dog. " * 3
         for i in range(40)]


def tiny(arch: str, layers: int = 6):
    extra = {"use_sliding_window": True, "sliding_window": 8, "max_window_layers": 3} \
        if arch == "qwen2" else {}
    cfg = CONFIGS[arch](vocab_size=VOCAB, hidden_size=32, intermediate_size=64,
                        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                        max_position_embeddings=64, **extra)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg).eval()


def test_angular_distance_by_hand():
    x = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [3.0, 4.0]])
    y = torch.tensor([[2.0, 0.0], [0.0, 5.0], [-1.0, 0.0], [4.0, 3.0]])
    # same direction, orthogonal, opposite, cos = 24/25
    torch.testing.assert_close(angular_distance(x, y), torch.tensor([0.0, 1.0, 2.0, 0.04]))


def test_a_block_that_adds_nothing_scores_zero_and_goes_first():
    model = tiny("llama", layers=4)
    with torch.no_grad():  # block 2 writes nothing into the residual stream: identity
        model.model.layers[2].self_attn.o_proj.weight.zero_()
        model.model.layers[2].mlp.down_proj.weight.zero_()
    batches = [torch.randint(1, VOCAB, (2, 16), generator=torch.Generator().manual_seed(i))
               for i in range(2)]
    scores = block_influence(model, batches)
    assert scores.shape == (4,)
    assert scores[2] == pytest.approx(0.0, abs=1e-6)
    assert (scores[[0, 1, 3]] > 1e-3).all()
    assert lowest(scores, 1) == [2]
    # hand check of one block: the mean over tokens of 1 - cos(input, output)
    seen = []

    def keep(module, args, kwargs, output):
        seen.append((args[0] if args else kwargs["hidden_states"], output))

    model.model.layers[1].register_forward_hook(keep, with_kwargs=True)
    with torch.no_grad():
        for b in batches:
            model(input_ids=b)
    by_hand = torch.cat([angular_distance(i, o).flatten() for i, o in seen]).mean()
    assert scores[1] == pytest.approx(float(by_hand), rel=1e-5)


def test_counts_and_their_errors():
    assert blocks_to_remove(8, depth_ratio=0.25) == 2
    assert blocks_to_remove(8, count=3) == 3
    assert lowest(torch.tensor([0.5, 0.1, 0.1, 0.9]), 2) == [1, 2]
    with pytest.raises(SlimlineError, match="between 1 and 1"):
        blocks_to_remove(2, depth_ratio=0.1)
    with pytest.raises(SlimlineError, match="num_layers=4"):
        blocks_to_remove(4, count=4)


def _loss(model, x) -> float:
    with torch.no_grad():
        return model(input_ids=x, labels=x).loss.item()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_pruned_checkpoint_is_the_original_with_blocks_bypassed(arch, tmp_path):
    original = tiny(arch)
    pruned = tiny(arch)
    cfg = DepthPruneConfig(depth_ratio=0.34, num_batches=2, batch_size=2, seq_len=16)
    record, digest = prune_depth(pruned, _Tokenizer(), TEXTS, cfg, device=torch.device("cpu"))
    assert len(record["removed"]) == 2 and len(digest) == 64
    assert record["removed"] == lowest(torch.tensor(record["block_influence"]), 2)
    pruned.save_pretrained(tmp_path)

    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    cfg_after = reloaded.config
    assert cfg_after.num_hidden_layers == len(reloaded.model.layers) == 4
    assert [layer.self_attn.layer_idx for layer in reloaded.model.layers] == [0, 1, 2, 3]
    if arch == "qwen2":  # blocks 0-2 full attention, 3-5 sliding: the list follows the blocks
        types = ["full_attention"] * 3 + ["sliding_attention"] * 3
        assert cfg_after.layer_types == [types[i] for i in record["kept"]]
        assert cfg_after.max_window_layers == sum(i < 3 for i in record["kept"])
    # the stored weights are the kept blocks', renumbered
    with safe_open(tmp_path / "model.safetensors", "pt") as st:
        names = {k for k in st.keys() if k.startswith("model.layers.")}  # noqa: SIM118
        assert {int(k.split(".")[2]) for k in names} == {0, 1, 2, 3}
        for new, old in enumerate(record["kept"]):
            torch.testing.assert_close(
                st.get_tensor(f"model.layers.{new}.mlp.down_proj.weight"),
                original.model.layers[old].mlp.down_proj.weight.detach(), rtol=0, atol=0)

    # masked original: the full model with the removed blocks bypassed gives the same logits
    x = torch.randint(1, VOCAB, (2, 24), generator=torch.Generator().manual_seed(3))
    before = _loss(original, x)
    for i in record["removed"]:
        original.model.layers[i] = _Bypass()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(input_ids=x).logits, original(input_ids=x).logits,
                                   rtol=1e-5, atol=1e-5)
    # a random-init model's loss is ~ln(vocab); removing a third of its blocks keeps it near
    assert _loss(reloaded, x) < before * 1.10, (before, _loss(reloaded, x))


def test_prune_stage_writes_a_depth_pruned_artifact(tmp_path, trained_checkpoint):
    import json

    from slimline.checkpoint import count_parameters, load_checkpoint, token_stream
    from slimline.data.corpus import build_corpus
    from slimline.lineage.metadata import ArtifactMetadata
    from slimline.prune.build import prune_checkpoint
    from slimline.prune.depth import DEPTH_FILE

    cfg = DepthPruneConfig(depth_ratio=None, num_layers=1, num_batches=2, batch_size=4,
                           seq_len=32)
    out = tmp_path / "pruned"
    result = prune_checkpoint(trained_checkpoint, out, cfg,
                              texts=list(build_corpus().train[:200]))
    meta = ArtifactMetadata.read(out)
    assert meta.digest == result.digest
    assert len(meta.inputs["calibration_tokens"]) == 64
    assert result.metrics["layers_removed_share"] == 0.5
    assert result.metrics["num_parameters"] == count_parameters(out)
    assert 0.2 < result.metrics["params_removed_share"] < 0.5
    record = json.loads((out / DEPTH_FILE).read_text())
    assert record["removed"] == lowest(torch.tensor(record["block_influence"]), 1)
    model, tok = load_checkpoint(out)
    assert model.config.num_hidden_layers == len(model.model.layers) == 1
    x = token_stream(tok, list(build_corpus().heldout[:30]))[:640].reshape(10, 64)
    base, _ = load_checkpoint(trained_checkpoint)
    # one of two blocks of a 60-step model: a large loss rise, still far from chance (ln 384)
    assert _loss(model, x) < _loss(base, x) * 1.5 < 5.95
