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
def calibrating_in(model: torch.nn.Module, device: torch.device, compute: torch.dtype,
                   layer_classes: list[str]) -> Iterator[torch.dtype]:
    """Run the decoder layers of `model` (on the CPU, in its stored dtype) in `compute` while
    llm-compressor calibrates, where that differs only because the CPU lacks native bf16:
    llm-compressor computes in the weights' own dtype, and bf16 matmuls on such a CPU run
    several times slower than fp32. Each layer is cast to fp32 as it is called and back as it
    returns (its inputs and outputs too), so at most one layer exists in fp32 at a time, the
    calibration hooks see fp32 activations, and the weights they quantize or prune stay in the
    stored dtype, as the GPU path leaves them. Yields the dtype the layers computed in.

    Only for modifiers that calibrate through hooks on the layers (GPTQ, SmoothQuant,
    SparseGPT, Wanda); AWQ runs sub-modules itself on the inputs it caught, which would
    then meet weights of the other dtype.
    """
    stored = next(model.parameters()).dtype
    if not (device.type == "cpu" and compute == torch.float32 and stored != torch.float32):
        yield stored
        return
    from torch.utils._pytree import tree_map

    from slimline.runtime import return_freed_memory

    return_freed_memory()  # each call allocates and frees a layer's fp32 copy

    def cast(tree, dtype):
        return tree_map(lambda x: x.to(dtype) if isinstance(x, torch.Tensor)
                        and x.is_floating_point() else x, tree)

    def before(module, args, kwargs):
        module.to(torch.float32)
        return cast(args, torch.float32), cast(kwargs, torch.float32)

    def after(module, args, kwargs, output):
        module.to(stored)
        return cast(output, stored)

    layers = [m for m in model.modules() if type(m).__name__ in layer_classes]
    handles = [h for layer in layers for h in (
        layer.register_forward_pre_hook(before, with_kwargs=True),
        layer.register_forward_hook(after, with_kwargs=True))]
    try:
        yield torch.float32
    finally:
        for handle in handles:
            handle.remove()
        for layer in layers:  # a call interrupted by an error leaves its layer in fp32
            layer.to(stored)
