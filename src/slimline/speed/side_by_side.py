"""Prefill and decode speed of every model stage, measured round-robin in one process.

Numbers taken by separate processes at different times are not comparable on a shared
machine (one busy evaluation once made the pruned model look 71× faster than the base).
Here every stage's model is timed in one process, in turns with the base, `rounds` times
each, so drift hits both sides of each ratio alike, and the ratios to the base come from one
measurement that holds two models at a time.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from slimline.config import SideBySideSpeedConfig
from slimline.errors import SlimlineError
from slimline.paths import METRICS

SPEED_FILE = f"{METRICS}/speed.json"
_KEYS = ("prefill_tokens_per_s", "decode_tokens_per_s")


def measure_against_base(base: Any, others: Iterable[tuple[str, Callable[[], Any]]],
                         cfg: SideBySideSpeedConfig, *, base_name: str = "base",
                         seed: int = 0) -> dict[str, dict[str, Any]]:
    """Time every stage's model in turns with the base, holding two models at most.

    The base stays loaded; each other stage is loaded in turn, timed `cfg.rounds` times, each
    time right after the base (each timing: `cfg.repeats` runs after a warm-up,
    `slimline.evaluate.speed.measure_speed`), and released before the next one loads. Its
    ratio to the base is the median of those paired ratios, so drift on a shared machine hits
    both sides of each ratio alike. Holding every stage at once, as this measurement once
    did, peaked at 3.4x the base's weight bytes on a 0.5 B-parameter model; two at a time
    keeps it near 2x, and each checkpoint is read once.

    Args:
        base: the base's model, already loaded.
        others: (stage, load) pairs in pipeline order; `load()` returns that stage's model.
        cfg: the `report.speed` section.
        base_name: the base's stage name.

    Returns:
        Per stage (the base first): the median speeds, the rounds themselves and the ratios
        to the base; each other stage also has `base_rounds`, the base's timings paired
        with its own.
    """
    import gc

    from tqdm.auto import tqdm

    from slimline.evaluate.speed import measure_speed
    from slimline.runtime import return_freed_memory

    others = list(others)
    out: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=max(len(others), 1) * cfg.rounds, desc="speed", unit="round",
               mininterval=2.0)
    base_runs: list[dict] = []
    for _ in range(0 if others else cfg.rounds):  # the base is the only stage
        base_runs.append(measure_speed(base, cfg, seed=seed))
        bar.update()
    for name, load in others:
        model = load()
        paired: list[tuple[dict, dict]] = []
        for _ in range(cfg.rounds):
            paired.append((measure_speed(base, cfg, seed=seed),
                           measure_speed(model, cfg, seed=seed)))
            bar.update()
        del model
        gc.collect()
        return_freed_memory()
        base_runs += [b for b, _ in paired]
        out[name] = _row([r for _, r in paired])
        out[name]["base_rounds"] = {key: [b[key] for b, _ in paired] for key in _KEYS}
        for key in _KEYS:
            out[name][_ratio(key)] = statistics.median(r[key] / b[key] for b, r in paired)
    bar.close()
    row = _row(base_runs)
    row.update({_ratio(key): 1.0 for key in _KEYS})
    return {base_name: row, **out}


def _row(runs: list[dict]) -> dict[str, Any]:
    row: dict[str, Any] = {key: statistics.median(r[key] for r in runs) for key in _KEYS}
    row["rounds"] = {key: [r[key] for r in runs] for key in _KEYS}
    return row


def _ratio(key: str) -> str:
    return key.replace("_tokens_per_s", "_vs_base")


def runtime_label(device) -> str:
    """What ran the models: transformers on a torch device, with the library versions."""
    import torch
    import transformers

    return (f"transformers {transformers.__version__} on {device.type} "
            f"(torch {torch.__version__}; compressed-tensors checkpoints run dequantized)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def measure_stages(directories: dict[str, Path], cfg: SideBySideSpeedConfig) -> dict:
    """Measure every stage's checkpoint against the base, side by side in this process.

    Args:
        directories: stage name → checkpoint directory, in pipeline order, the base first.
        cfg: the `report.speed` section.

    Returns:
        The document of `metrics/speed.json`: one `measurement` (device, runtime, start and
        end, settings) and per stage its digest, speeds, ratios to the base and rounds
        (`measure_against_base`).
    """
    from slimline.checkpoint import load_checkpoint
    from slimline.evaluate.speed import describe_device
    from slimline.lineage.metadata import ArtifactMetadata
    from slimline.runtime import resolve as resolve_runtime

    if not directories:
        raise SlimlineError("no models to measure: run the model stages first (`dvc repro`).")
    device = resolve_runtime(cfg.device)[0]
    digests = {stage: ArtifactMetadata.read(directory).digest
               if (Path(directory) / "slimline.json").exists() else None
               for stage, directory in directories.items()}
    (base_name, base_dir), *others = directories.items()

    def load(directory: Path) -> Any:
        return load_checkpoint(directory)[0].to(device)

    started = _now()
    rows = measure_against_base(load(base_dir), [(stage, partial(load, directory))
                                                 for stage, directory in others],
                                cfg, base_name=base_name)
    measurement = {**cfg.model_dump(exclude={"device"}), "device": describe_device(device),
                   "runtime": runtime_label(device), "started": started, "finished": _now(),
                   "base": base_name}
    return {"measurement": measurement,
            "stages": {stage: {"digest": digests[stage], **rows[stage]} for stage in rows}}
