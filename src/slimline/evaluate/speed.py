"""Measured speed of a model where it runs: prefill and greedy decode tokens per second."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path

import torch

from slimline.config import SpeedConfig
from slimline.errors import SlimlineError


def describe_device(device: torch.device) -> str:
    """A label for the numbers: accelerator or CPU model, and how many threads ran."""
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    return f"cpu: {name} ({torch.get_num_threads()} threads of {os.cpu_count()})"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# Directions of `measure_speed`'s numbers, written with them into evals/<stage>.json.
DIRECTIONS = {"prefill_tokens_per_s": True, "decode_tokens_per_s": True,
              "peak_memory_mb": False}


@torch.inference_mode()
def measure_speed(model, cfg: SpeedConfig, *, seed: int = 0) -> dict[str, float]:
    """Median prefill and decode throughput over `cfg.repeats` runs after one warm-up.

    The prompt is random token ids (speed does not depend on content); decoding feeds each
    greedy token back with the KV cache, so decode speed is what generation would see.
    """
    device = next(model.parameters()).device
    longest = getattr(model.config, "max_position_embeddings", None)
    if longest and cfg.prompt_tokens + cfg.new_tokens > longest:
        raise SlimlineError(
            f"eval.speed.prompt_tokens + new_tokens = {cfg.prompt_tokens + cfg.new_tokens} "
            f"exceeds the model's max_position_embeddings ({longest}); lower them.")
    gen = torch.Generator().manual_seed(seed)
    prompt = torch.randint(0, model.config.vocab_size, (cfg.batch_size, cfg.prompt_tokens),
                           generator=gen).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model.eval()
    prefill, decode = [], []
    for i in range(cfg.repeats + 1):
        _sync(device)
        t0 = time.perf_counter()
        out = model(input_ids=prompt, use_cache=True)
        _sync(device)
        t1 = time.perf_counter()
        past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        for _ in range(cfg.new_tokens):
            out = model(input_ids=token, past_key_values=past, use_cache=True)
            past, token = out.past_key_values, out.logits[:, -1:].argmax(-1)
        _sync(device)
        t2 = time.perf_counter()
        if i:  # the first pass warms up kernels and allocators
            prefill.append(t1 - t0)
            decode.append(t2 - t1)
    result = {
        "prefill_tokens_per_s": cfg.batch_size * cfg.prompt_tokens / statistics.median(prefill),
        "decode_tokens_per_s": cfg.batch_size * cfg.new_tokens / statistics.median(decode),
    }
    if device.type == "cuda":
        result["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        from slimline.lineage.tracking import peak_memory_mb

        result["peak_memory_mb"] = peak_memory_mb()
    return result
