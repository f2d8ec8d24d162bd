import os

import pytest
import torch
from transformers import AutoModelForCausalLM

from slimline.base import build_base
from slimline.config import HFModelConfig
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata


def test_local_checkpoint_is_linked_and_fingerprinted(tmp_path, trained_checkpoint):
    cfg = HFModelConfig(source=str(trained_checkpoint), name="mine")
    result = build_base(cfg, tmp_path / "base", params={"model": cfg.model_dump()})
    out = tmp_path / "base"
    weights = out / "model.safetensors"
    assert os.stat(weights).st_ino == os.stat(trained_checkpoint / "model.safetensors").st_ino
    # The base of a base: same weights and config, so the same content digest.
    assert result.digest == ArtifactMetadata.read(trained_checkpoint).digest
    assert ArtifactMetadata.read(out).inputs["source"] == str(trained_checkpoint)
    x = torch.tensor([[1, 5, 9, 12]])
    a = AutoModelForCausalLM.from_pretrained(out)(input_ids=x).logits
    b = AutoModelForCausalLM.from_pretrained(trained_checkpoint)(input_ids=x).logits
    assert torch.equal(a, b)


def test_copy_mode_copies(tmp_path, trained_checkpoint):
    cfg = HFModelConfig(source=str(trained_checkpoint), name="mine", link=False)
    build_base(cfg, tmp_path / "base", params={})
    src = os.stat(trained_checkpoint / "model.safetensors")
    assert os.stat(tmp_path / "base" / "model.safetensors").st_ino != src.st_ino


def test_hub_id_offline_without_cache_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cfg = HFModelConfig(source="someorg/not-cached", name="x")
    with pytest.raises(SlimlineError, match="not in the local Hugging Face cache"):
        build_base(cfg, tmp_path / "base", params={})
    assert not (tmp_path / "base").exists()


@pytest.mark.parametrize("make, message", [
    (lambda d: None, "has no config.json"),
    (lambda d: (d / "config.json").write_text("{}"), "has no .safetensors weights"),
])
def test_not_a_checkpoint(tmp_path, make, message):
    src = tmp_path / "src"
    src.mkdir()
    make(src)
    with pytest.raises(SlimlineError, match=message):
        build_base(HFModelConfig(source=str(src), name="x"), tmp_path / "base", params={})
