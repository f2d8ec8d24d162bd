"""Evaluate each distinct model once: results are kept by what determines them.

A skipped stage passes its parent's weights through (same content digest), and a stage that
re-runs can produce byte-identical weights; evaluating either again would only re-measure the
same numbers. The key is a sha256 over everything that decides the result: the model's content
digest, the suite's configuration, the bytes of every file the tasks read, the device, and
the versions of the libraries and of slimline's task definitions. The results live under
`.slimline/evals/` in the project (git- and DVC-ignored), one JSON file per key; experiments
of the project (`dvc exp run --queue`, a sweep's points) share the project's.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from slimline._atomic import write_text_atomic
from slimline._digest import file_sha256
from slimline.config import EvalConfig
from slimline.evaluate.run import EvalResult
from slimline.evaluate.suite import TaskData
from slimline.lineage.metadata import library_versions

CACHE_DIR = Path(".slimline") / "evals"
TASKS_DIR = Path(__file__).parent / "tasks"


def result_key(model_digest: str, cfg: EvalConfig, data_files: list[Path], device: str) -> str:
    """The identity of an evaluation: equal keys give equal results."""
    tasks = sorted(TASKS_DIR.glob("*.yaml"))
    parts = {"model": model_digest, "eval": cfg.model_dump(mode="json"), "device": device,
             "files": {str(p.name): file_sha256(p) for p in data_files if p.exists()},
             "tasks": {p.name: file_sha256(p) for p in tasks},
             "libraries": library_versions()}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cache_dir(root: Path) -> Path:
    """`.slimline/evals/` of the project. A queued or `--temp` `dvc exp run` runs in a copy
    under `.dvc/tmp/exps/` with `DVC_ROOT` naming its repository (and `DVC_EXP_NAME` set):
    it uses the repository's, so experiments that share a model evaluate it once. DVC's run
    cache cannot: it skips stages with `cache: false` outputs such as `evals/<stage>.json`."""
    if os.environ.get("DVC_EXP_NAME") and os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve() / CACHE_DIR
    return Path(root) / CACHE_DIR


def load_result(root: Path, key: str) -> EvalResult | None:
    """The result stored under `key`, or None."""
    path = cache_dir(root) / f"{key}.json"
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    inputs = [TaskData(task=i["task"], path=Path(root) / i["path"], kind=i["kind"])
              for i in doc.pop("inputs")]
    return EvalResult(**doc, inputs=inputs)


def store_result(root: Path, key: str, result: EvalResult) -> None:
    """Keep `result` under `key` (paths of its inputs relative to `root`)."""
    from lm_eval.utils import handle_non_serializable

    root = Path(root).resolve()
    doc = {"metrics": result.metrics, "higher_is_better": result.higher_is_better,
           "device": result.device, "lm_eval": result.lm_eval,
           "inputs": [{"task": i.task, "path": os.path.relpath(Path(i.path).resolve(), root),
                       "kind": i.kind} for i in result.inputs]}
    path = cache_dir(root) / f"{key}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(doc, default=handle_non_serializable) + "\n")


def evaluate_or_reuse(model_dir: Path, digest: str, data_dir: Path, cfg: EvalConfig,
                      root: Path) -> tuple[EvalResult, bool]:
    """The suite's result on the checkpoint in `model_dir` (content `digest`): evaluated, or
    reused when this exact evaluation already ran in the project.

    Returns:
        The result and whether it was reused.
    """
    from slimline.data.splits import PROBES
    from slimline.evaluate.run import evaluate_checkpoint, resolve_device
    from slimline.evaluate.speed import describe_device

    files = [Path(data_dir) / "evaluation.jsonl", Path(data_dir) / PROBES]
    files += [Path(root) / g.path for g in cfg.golden]
    key = result_key(digest, cfg, files, describe_device(resolve_device(cfg.device)))
    result = load_result(root, key)
    if result is not None:
        return result, True
    result = evaluate_checkpoint(model_dir, data_dir, cfg, root)
    store_result(root, key, result)
    return result, False
