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


def test_calibrating_in_upcasts_a_bf16_model_only_on_a_cpu_computing_fp32():
    from slimline.quantize._onload import calibrating_in

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.Linear(8, 4)).to(torch.bfloat16)
    before = [p.detach().clone() for p in model.parameters()]
    with calibrating_in(model, torch.device("cpu"), torch.float32) as used:
        assert used == torch.float32
        assert {p.dtype for p in model.parameters()} == {torch.float32}
        model[0].weight.data[0, 0] = 0.5  # what calibration writes back
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}  # stored as it came
    assert model[0].weight[0, 0].item() == 0.5
    for p, b in zip(list(model.parameters())[1:], before[1:], strict=True):
        assert torch.equal(p, b)  # bf16 → fp32 → bf16 is exact
    # Computing in the stored dtype, or onloading to a GPU: nothing is cast.
    for device, compute in (("cpu", torch.bfloat16), ("cuda", torch.float32)):
        with calibrating_in(model, torch.device(device), compute) as used:
            assert used == torch.bfloat16
            assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
