"""The per-architecture map: its names match real transformers models, and what derives from it."""

import subprocess
import sys

import pytest
import torch
import yaml
from transformers import AutoModelForCausalLM, Phi3Config

from slimline.config import LoraRecoverConfig
from slimline.errors import SlimlineError
from slimline.prune.architectures import ARCHITECTURES, DEFAULT_LORA_TARGETS, lora_targets

from ..conftest import REPO


def test_default_lora_targets_are_the_llama_projections():
    assert DEFAULT_LORA_TARGETS == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                    "up_proj", "down_proj"]
    assert LoraRecoverConfig().target_modules == DEFAULT_LORA_TARGETS
    lora = yaml.safe_load((REPO / "conf" / "recover" / "lora.yaml").read_text())
    assert lora["target_modules"] == DEFAULT_LORA_TARGETS


def test_config_reads_the_map_without_torch():
    code = "import sys, slimline.config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def _phi3():
    cfg = Phi3Config(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                     num_attention_heads=8, num_key_value_heads=4, pad_token_id=0)
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(cfg)


def test_every_mapped_name_is_a_linear_of_the_real_phi3_model():
    model = _phi3()
    arch = ARCHITECTURES["phi3"]
    layer = model.get_submodule(arch.layers)[0]
    for leaf in arch.linears():
        path = arch.attn(leaf) if leaf in (arch.qkv, arch.o) else arch.ffn(leaf)
        assert isinstance(layer.get_submodule(path), torch.nn.Linear), path


def test_lora_on_phi3_names_the_fused_targets():
    from slimline.recover.train import add_adapters

    with pytest.raises(SlimlineError, match=r"for phi3: recover.target_modules=\[qkv_proj,"
                       r"o_proj,gate_up_proj,down_proj\]"):
        add_adapters(_phi3(), LoraRecoverConfig())
    wrapped = add_adapters(_phi3(), LoraRecoverConfig(target_modules=lora_targets("phi3")))
    assert wrapped.get_nb_trainable_parameters()[0] > 0
