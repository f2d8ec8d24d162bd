import json

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from slimline._digest import directory_digest
from slimline.base import build_base, count_parameters
from slimline.base._tiny import BOS, build_model, train, train_tokenizer
from slimline.checkpoint import token_stream
from slimline.data.corpus import build_corpus
from slimline.lineage.metadata import ArtifactMetadata


def test_tokenizer_prepends_bos_and_round_trips():
    tok = train_tokenizer(build_corpus().train[:300], 300)
    text = "The capital of Zorbia is Kel."
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.convert_tokens_to_ids(BOS)
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_training_lowers_loss_and_is_deterministic(tiny_config):
    cfg = tiny_config.model_copy(update={"train": tiny_config.train.model_copy(
        update={"steps": 12})})
    texts = build_corpus().train[:400]
    tok = train_tokenizer(texts, cfg.vocab_size)
    stream = token_stream(tok, texts)
    runs = []
    for _ in range(2):
        model = build_model(cfg, tok)
        result = train(model, stream, cfg)
        runs.append((result.losses, model.state_dict()["lm_head.weight"].clone()))
    losses, weights = runs[0]
    assert losses[-1] < losses[0] - 1.0
    assert runs[1][0] == losses
    assert torch.equal(runs[1][1], weights)


def test_built_base_is_a_standard_checkpoint(trained_checkpoint, tiny_config):
    meta = ArtifactMetadata.read(trained_checkpoint)
    assert meta.stage == "base" and meta.parent_digest is None
    assert meta.digest == directory_digest(trained_checkpoint)
    assert len(meta.inputs["corpus"]) == 64
    assert meta.versions["torch"] == torch.__version__.split("+")[0] or meta.versions["torch"]
    model = AutoModelForCausalLM.from_pretrained(trained_checkpoint)
    tok = AutoTokenizer.from_pretrained(trained_checkpoint)
    assert model.config.intermediate_size == tiny_config.intermediate_size
    assert count_parameters(trained_checkpoint) == sum(p.numel() for p in model.parameters())
    assert meta.metrics["num_parameters"] == count_parameters(trained_checkpoint)
    assert (trained_checkpoint / "README.md").read_text().startswith("# tiny-llama (base)")
    assert json.loads((trained_checkpoint / "config.json").read_text())["model_type"] == "llama"
    assert tok.bos_token_id == model.config.bos_token_id


def test_same_config_same_digest(tmp_path, tiny_config):
    cfg = tiny_config.model_copy(update={"train": tiny_config.train.model_copy(
        update={"steps": 3})})
    a = build_base(cfg, tmp_path / "a", params={})
    b = build_base(cfg, tmp_path / "b", params={})
    other = cfg.model_copy(update={"train": cfg.train.model_copy(update={"seed": 1})})
    c = build_base(other, tmp_path / "c", params={})
    assert a.digest == b.digest != c.digest
