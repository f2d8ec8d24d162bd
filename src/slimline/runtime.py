"""Where a model stage computes, and in which float type: one decision shared by every stage.

The stored dtype of a checkpoint is what goes back to disk; the compute dtype is what the
arithmetic runs in. They differ on purpose: on a CPU without native bf16 instructions a bf16
matmul is several times slower than fp32 (issue 12: a 0.5B bf16 prune took 12.4 minutes),
so such a CPU computes in fp32 while the pruned checkpoint stays bf16.
"""

from __future__ import annotations

from contextlib import suppress
from functools import cache
from pathlib import Path

import torch

from slimline.errors import SlimlineError

# /proc/cpuinfo flags that mean the CPU multiplies bf16 natively (AVX512-BF16, Intel AMX).
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
           "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


@cache
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True when the CPU advertises bf16 arithmetic (False where /proc/cpuinfo is absent)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(_BF16_FLAGS & set(line.split(":", 1)[1].split()))
    return False


def resolve(device: str = "auto", dtype: str = "auto") -> tuple[torch.device, torch.dtype]:
    """The device and compute dtype a stage should use.

    Args:
        device: "auto" (CUDA when available, else CPU), or any torch device string.
        dtype: "auto" (bf16 on CUDA that supports it and on CPUs with native bf16, fp32
            otherwise), or a name such as "float32" / "bf16".

    Returns:
        (device, compute dtype).

    Raises:
        SlimlineError: for a dtype name torch does not know, or CUDA asked for but absent.
    """
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SlimlineError(f"device={device!r} was asked for but torch sees no CUDA device: "
                            "use device=auto or cpu.")
    if dtype != "auto":
        if dtype not in _DTYPES:
            raise SlimlineError(f"unknown compute dtype {dtype!r}: use one of "
                                f"{', '.join(sorted(_DTYPES))} or auto.")
        return dev, _DTYPES[dtype]
    if dev.type == "cuda":
        return dev, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    if dev.type == "cpu" and cpu_has_native_bf16():
        return dev, torch.bfloat16
    return dev, torch.float32


def dtype_name(dtype: torch.dtype) -> str:
    """"float32" for torch.float32: the name recorded in slimline.json."""
    return str(dtype).removeprefix("torch.")


def record(device: torch.device, dtype: torch.dtype) -> dict[str, str]:
    """What slimline.json's inputs and the MLflow run record about where a stage computed.

    Only stable values: the device type ("cuda", not "cuda:1", and no GPU model name), so
    identical weights computed on different machines of the same kind seal identically.
    """
    return {"device": device.type, "compute_dtype": dtype_name(dtype)}


def run_tags(inputs: dict[str, str]) -> dict[str, str]:
    """MLflow tags `runtime.device` / `runtime.compute_dtype` from a stage's slimline.json
    inputs (none for a skipped stage, which computed nothing)."""
    return {f"runtime.{k}": inputs[k] for k in ("device", "compute_dtype") if k in inputs}


def return_freed_memory() -> None:
    """Serve blocks of 1 MB and more from mmap, so freed ones go back to the OS at once.

    Training and layer-by-layer calibration allocate and free many large, differently
    sized blocks (upcast weights, logits chunks, recomputed activations). glibc raises its
    mmap threshold as such blocks are freed and then serves them from its heap, which
    fragments and keeps the memory: on a small Qwen2-shaped model recovery's first forward
    pass grew the resident set by 418 MB with the default and 38 MB with a fixed threshold;
    2:4 calibration with fp32 layers of a 100 M Llama peaked 0.15 GB lower. A no-op where
    libc has no mallopt.
    """
    import ctypes
    import ctypes.util

    with suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(ctypes.util.find_library("c")).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD
