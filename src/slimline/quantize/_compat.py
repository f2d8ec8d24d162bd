"""Narrow workarounds for upstream bugs; each checks the bug still exists before acting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def _pinning_fails_without_accelerator() -> bool:
    import torch
    from llmcompressor.pipelines.cache import IntermediatesCache, IntermediateValue

    if torch.accelerator.is_available():
        return False
    probe = IntermediateValue(value=torch.zeros(1), device=None)
    try:
        IntermediatesCache._pin_intermediate(probe)
    except RuntimeError:
        return True
    return False


@contextmanager
def cpu_safe_awq() -> Iterator[bool]:
    """llm-compressor 0.14's AWQ pins cached activations (`pin_memory`), which raises
    "Cannot access accelerator device when none is available" on a CPU-only torch. Pinning
    only speeds host-to-device copies, so without an accelerator it is skipped. The patch is
    applied only while the probe still fails, so it disappears once upstream fixes it.
    Yields whether the patch was applied."""
    from llmcompressor.pipelines.cache import IntermediatesCache

    if not _pinning_fails_without_accelerator():
        yield False
        return
    original = IntermediatesCache.pin_memory
    IntermediatesCache.pin_memory = lambda self, *args, **kwargs: None
    try:
        yield True
    finally:
        IntermediatesCache.pin_memory = original
