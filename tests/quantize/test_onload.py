"""Which llm-compressor pipeline runs, and where it onloads layers (no GPU needed)."""

import pytest
import torch

from slimline.quantize._onload import onload_to, plan_onload

LAYERS = ["LlamaDecoderLayer"]


@pytest.mark.parametrize(("calibrated", "device", "pipeline", "targets"), [
    (True, "cpu", "sequential", LAYERS),      # GPTQ/AWQ on CPU: as before, layer by layer
    (True, "cuda", "sequential", LAYERS),     # on a GPU: one decoder layer onloaded at a time
    (True, "cuda:1", "sequential", LAYERS),
    (False, "cpu", "datafree", []),           # RTN needs no data
    (False, "cuda", "datafree", []),
])
def test_plan_per_method_and_device(calibrated, device, pipeline, targets):
    plan = plan_onload(calibrated, torch.device(device), LAYERS)
    assert plan.pipeline == pipeline
    assert plan.onload_device == torch.device(device)
    assert plan.sequential_targets == targets
    kwargs = plan.oneshot_kwargs()
    assert kwargs["pipeline"] == pipeline
    if pipeline == "sequential":  # activations between layers stay on the CPU
        assert kwargs["sequential_targets"] == LAYERS
        assert kwargs["sequential_offload_device"] == "cpu"


@pytest.mark.parametrize("device", ["cpu", "cuda:1"])
def test_onload_to_steers_llm_compressor_and_restores(device):
    from llmcompressor.pipelines.data_free import pipeline as datafree
    from llmcompressor.pipelines.sequential import pipeline as sequential

    before = sequential.get_main_device, datafree.get_main_device
    with onload_to(torch.device(device)):
        assert sequential.get_main_device() == torch.device(device)
        assert datafree.get_main_device() == torch.device(device)
    assert (sequential.get_main_device, datafree.get_main_device) == before
