"""Tiny models and data shared by the quantization tests."""

import pytest
import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from slimline.checkpoint import load_checkpoint, token_stream
from slimline.data.corpus import build_corpus

TEXTS = list(build_corpus().train[:400])
HELDOUT = list(build_corpus().heldout[:30])


def heldout_loss(model_dir) -> float:
    """Mean next-token loss on 10 held-out sequences of 64 tokens."""
    model, tok = load_checkpoint(model_dir)
    x = token_stream(tok, HELDOUT)[:640].reshape(10, 64)
    with torch.no_grad():
        return model(input_ids=x, labels=x).loss.item()


@pytest.fixture(scope="session")
def qwen2_checkpoint(tmp_path_factory, trained_checkpoint):
    """A tiny Qwen2 (q/k/v biases) sharing the trained tokenizer, briefly trained."""
    from slimline.lineage.metadata import ArtifactMetadata

    _, tok = load_checkpoint(trained_checkpoint)
    cfg = Qwen2Config(vocab_size=len(tok), hidden_size=64, intermediate_size=128,
                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                      max_position_embeddings=64, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg)
    stream = token_stream(tok, TEXTS)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    for step in range(40):
        x = stream[step * 512:(step + 1) * 512].reshape(8, 64)
        model(input_ids=x, labels=x).loss.backward()
        opt.step()
        opt.zero_grad()
    out = tmp_path_factory.mktemp("qwen2") / "ckpt"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    ArtifactMetadata(stage="base", digest="q" * 64, parent_digest=None, params={}).write(out)
    return out
