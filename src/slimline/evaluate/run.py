"""Evaluate one stage's checkpoint: the lm-eval suite plus measured speed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from slimline.checkpoint import load_checkpoint
from slimline.config import EvalConfig
from slimline.errors import SlimlineError
from slimline.evaluate.speed import DIRECTIONS as SPEED_DIRECTIONS
from slimline.evaluate.speed import describe_device, measure_speed
from slimline.evaluate.suite import TaskData, flatten_results, run_suite


@dataclass
class EvalResult:
    """Metrics by task ({task: {metric: value}}, plus "speed"), their directions, the device
    they were measured on, lm-eval's full results and the data files the tasks read."""

    metrics: dict[str, dict[str, float]]
    higher_is_better: dict[str, dict[str, bool | None]]
    device: str
    lm_eval: dict[str, Any]
    inputs: list[TaskData] = field(default_factory=list)

    def flat(self) -> dict[str, float]:
        """`task.metric` names, as MLflow and `dvc metrics` show them."""
        return {f"{task}.{name}": value for task, row in self.metrics.items()
                for name, value in row.items()}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise SlimlineError(f"eval.device={name!r} is not a torch device (auto, cpu, cuda, "
                            "cuda:1, ...).") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SlimlineError(f"eval.device={name} but this machine has no CUDA device; use "
                            "eval.device=auto.")
    return device


def vllm_model_class():
    """lm-eval's vLLM model class, or a SlimlineError saying how to install vLLM."""
    try:
        import vllm  # noqa: F401
        from lm_eval.models.vllm_causallms import VLLM
    except ImportError:
        raise SlimlineError("eval.backend=vllm but vLLM is not installed: on a CUDA machine run "
                            "`pip install 'slimline[gpu]'`, or use eval.backend=hf.") from None
    return VLLM


def evaluate_checkpoint(model_dir: Path, data_dir: Path, cfg: EvalConfig,
                        root: Path | None = None) -> EvalResult:
    """Run the suite `cfg` on the checkpoint in `model_dir`.

    Speed is measured first, right after loading, so the peak memory it reports on CPU is
    the model's own and not lm-eval's bookkeeping.
    """
    from lm_eval.models.huggingface import HFLM

    root = Path(root) if root else Path.cwd()
    device = resolve_device(cfg.device)
    vllm_class = vllm_model_class() if cfg.backend == "vllm" else None  # fail before loading
    model, tokenizer = load_checkpoint(model_dir)
    model.to(device)
    metrics: dict[str, dict[str, float]] = {}
    better: dict[str, dict[str, bool | None]] = {}
    if cfg.speed is not None:
        metrics["speed"] = measure_speed(model, cfg.speed, seed=cfg.seed)
        better["speed"] = dict(SPEED_DIRECTIONS)
    if vllm_class is not None:  # vLLM loads the checkpoint itself and takes the GPU memory
        del model
        torch.cuda.empty_cache()
        lm = vllm_class(pretrained=str(model_dir), batch_size=cfg.batch_size,
                        max_length=cfg.seq_len, seed=cfg.seed)
    else:
        lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=cfg.batch_size,
                  max_length=cfg.seq_len, device=str(device))
    results, inputs = run_suite(lm, cfg, data_dir, root)
    values, directions = flatten_results(results)
    return EvalResult(metrics={**values, **metrics}, higher_is_better={**directions, **better},
                      device=describe_device(device), lm_eval=results, inputs=inputs)
