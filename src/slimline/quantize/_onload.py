"""Where llm-compressor computes: the model stays on CPU, its layers are onloaded one at a time.

llm-compressor 0.14's own big-model path: `oneshot(pipeline="sequential")` traces the model
into one subgraph per `sequential_targets` module (a decoder layer), onloads that layer to
its main device, calibrates it (GPTQ/AWQ hooks) and moves on, keeping the activations
between layers on the CPU; the datafree pipeline (RTN) onloads the same way without data. So
peak GPU memory is about one decoder layer plus one batch of activations, whatever the model
size, and slimline never moves the whole model to the GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

# The modules that ask llm-compressor's `get_main_device()` where to onload.
_PIPELINE_MODULES = ("llmcompressor.pipelines.sequential.pipeline",
                     "llmcompressor.pipelines.data_free.pipeline")


@dataclass(frozen=True)
class OnloadPlan:
    """How oneshot runs: its pipeline, the modules it onloads one by one, and where to.

    The model itself is always loaded on (and saved from) the CPU.
    """

    pipeline: str
    onload_device: torch.device
    sequential_targets: list[str] = field(default_factory=list)

    def oneshot_kwargs(self) -> dict:
        """The keyword arguments of `llmcompressor.oneshot` this plan stands for."""
        kwargs: dict = {"pipeline": self.pipeline}
        if self.pipeline == "sequential":
            kwargs.update(sequential_targets=list(self.sequential_targets),
                          sequential_offload_device="cpu")
        return kwargs


def plan_onload(needs_calibration: bool, device: torch.device,
                decoder_layers: list[str]) -> OnloadPlan:
    """The pipeline for a method on `device`.

    Args:
        needs_calibration: whether the method runs calibration data (GPTQ, AWQ) or not (RTN).
        device: the runtime device (`slimline.runtime.resolve`): where layers are onloaded.
        decoder_layers: class names of the model's decoder layers (`_no_split_modules`),
            the units onloaded one at a time.
    """
    if not needs_calibration:
        return OnloadPlan("datafree", device)
    return OnloadPlan("sequential", device, list(decoder_layers))


@contextmanager
def onload_to(device: torch.device) -> Iterator[None]:
    """Make llm-compressor onload to `device`: its pipelines always use `get_main_device()`
    (cuda:0 whenever an accelerator exists), so runtime.device=cpu or cuda:1 would otherwise
    be ignored."""
    import importlib

    modules = [importlib.import_module(name) for name in _PIPELINE_MODULES]
    originals = [module.get_main_device for module in modules]
    for module in modules:
        module.get_main_device = lambda: device
    try:
        yield
    finally:
        for module, original in zip(modules, originals, strict=True):
            module.get_main_device = original


@contextmanager
def calibrating_in(model: torch.nn.Module, device: torch.device,
                   compute: torch.dtype) -> Iterator[torch.dtype]:
    """Calibrate `model` (on the CPU, in its stored dtype) in `compute` where that differs
    only because the CPU lacks native bf16/fp16: llm-compressor computes in the weights' own
    dtype, and bf16 matmuls on such a CPU run several times slower than fp32 (a 10 M bf16
    Llama's GPTQ: 138 CPU-s in bf16, 70 in fp32). The parameters are cast one at a time, so
    no second copy of the weights exists (the fp32 model is twice the bf16 bytes), and cast
    back to the stored dtype afterwards, quantization scales included, so the checkpoint is
    stored as the GPU path would store it. Yields the dtype calibration ran in.

    A scale rounded back to bf16 can move an 8-bit weight's integer by one when the
    checkpoint is compressed; 4-bit integers are exact (|q| ≤ 8 stays within bf16's
    relative precision of 2^-8).
    """
    stored = next(model.parameters()).dtype
    upcast = device.type == "cpu" and compute == torch.float32 and stored != torch.float32
    if not upcast:
        yield stored
        return
    model.to(torch.float32)
    try:
        yield torch.float32
    finally:
        model.to(stored)
