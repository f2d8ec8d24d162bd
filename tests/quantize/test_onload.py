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



class Block(torch.nn.Module):  # a stand-in decoder layer
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)

    def forward(self, x, scale=None):
        return self.linear(x) * (1 if scale is None else scale)


def test_calibrating_in_runs_each_layer_in_fp32_only_on_a_cpu_computing_fp32():
    from slimline.quantize._onload import calibrating_in

    torch.manual_seed(0)
    model = torch.nn.Sequential(Block(), Block()).to(torch.bfloat16)
    before = [p.detach().clone() for p in model.parameters()]
    seen = []  # what a calibration hook on a linear layer sees
    model[0].linear.register_forward_hook(
        lambda m, args, out: seen.append((args[0].dtype, m.weight.dtype,
                                          model[1].linear.weight.dtype)))
    x = torch.randn(2, 8, dtype=torch.bfloat16)
    with calibrating_in(model, torch.device("cpu"), torch.float32, ["Block"]) as used:
        assert used == torch.float32
        out = model[1](model[0](x, scale=torch.tensor(2.0, dtype=torch.bfloat16)))
        assert out.dtype == torch.bfloat16  # what the next layer and the cache get
        # between calls every weight is in its stored dtype: what GPTQ quantizes
        assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    # inside its call the layer and its input were fp32; the other layer was not cast
    assert seen == [(torch.float32, torch.float32, torch.bfloat16)]
    for p, b in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, b)  # bf16 → fp32 → bf16 is exact
    model[0](x)
    assert seen[-1][0] == torch.bfloat16  # the hooks are gone
    # Computing in the stored dtype, or onloading to a GPU: nothing is cast.
    for device, compute in (("cpu", torch.bfloat16), ("cuda", torch.float32)):
        with calibrating_in(model, torch.device(device), compute, ["Block"]) as used:
            assert used == torch.bfloat16
            model[0](x)
            assert seen[-1][:2] == (torch.bfloat16, torch.bfloat16)
