"""LoRA recovery of a 2:4 sparse model keeps its zeros."""

import torch
from torch import nn
from transformers import AutoModelForCausalLM, LlamaConfig

from slimline.config import LoraRecoverConfig
from slimline.prune.sparse import is_24_sparse, zeros_per_group
from slimline.recover.mask import apply_masks, sparsity_masks
from slimline.recover.train import add_adapters, train_adapters


def _sparse_24(model: nn.Module) -> None:
    """Keep the 2 largest of every 4 input weights of each decoder linear layer."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, nn.Linear) and name.startswith("model.layers."):
                w = module.weight
                groups = w.reshape(w.shape[0], -1, 4)
                small = groups.abs().argsort(-1)[..., :2]
                groups.scatter_(-1, small, 0.0)


def _tiny():
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg)


def _recover(model, masks):
    cfg = LoraRecoverConfig(rank=4, steps=4, warmup_steps=1, batch_size=2, seq_len=16, lr=1e-2)
    peft_model = add_adapters(model, cfg)
    stream = torch.randint(0, 64, (400,), generator=torch.Generator().manual_seed(1))
    train_adapters(peft_model, stream, cfg)
    merged = peft_model.merge_and_unload()
    apply_masks(merged, masks)
    return merged


def test_masks_cover_only_24_sparse_layers():
    model = _tiny()
    assert sparsity_masks(model) == {}  # a dense model: nothing is masked
    _sparse_24(model)
    masks = sparsity_masks(model)
    assert len(masks) == 7 * 2 and "lm_head" not in masks
    assert all(m.dtype == torch.bool and m.float().mean() == 0.5 for m in masks.values())


def test_lora_merge_keeps_two_of_four_zero_and_updates_the_rest():
    model = _tiny()
    _sparse_24(model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    masks = sparsity_masks(model)
    merged = _recover(model, masks)
    changed = 0
    for name, module in merged.named_modules():
        if name in masks:
            w = module.weight.detach()
            assert (zeros_per_group(w) == 2).all(), name
            assert torch.equal(w != 0, masks[name])
            changed += int(not torch.equal(w, before[name + ".weight"]))
    assert changed == len(masks)  # every adapted layer's kept weights moved


def test_without_the_mask_the_merge_fills_the_zeros():
    model = _tiny()
    _sparse_24(model)
    merged = _recover(model, {})
    assert not is_24_sparse(merged.model.layers[0].mlp.down_proj.weight.detach())


def test_recover_stage_keeps_a_24_parent_sparse(tmp_path, trained_checkpoint):
    from slimline.checkpoint import load_checkpoint
    from slimline.data.corpus import build_corpus
    from slimline.lineage.metadata import ArtifactMetadata
    from slimline.recover import recover_checkpoint

    model, tok = load_checkpoint(trained_checkpoint)
    _sparse_24(model)
    parent = tmp_path / "pruned"
    model.save_pretrained(parent)
    tok.save_pretrained(parent)
    ArtifactMetadata(stage="pruned", digest="s" * 64, parent_digest=None, params={}).write(parent)
    masks = sparsity_masks(model)
    cfg = LoraRecoverConfig(steps=4, batch_size=4, seq_len=32, warmup_steps=1, lr=5e-3)
    recover_checkpoint(parent, tmp_path / "recovered", cfg,
                       texts=list(build_corpus().train[:200]), teacher=None)
    recovered = dict(AutoModelForCausalLM.from_pretrained(tmp_path / "recovered")
                     .named_modules())
    for name, mask in masks.items():
        w = recovered[name].weight.detach()
        assert (zeros_per_group(w) == 2).all(), name
        assert torch.equal(w != 0, mask), name
        assert not torch.equal(w, dict(model.named_modules())[name].weight.detach()), name
