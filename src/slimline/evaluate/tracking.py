"""An evaluation in MLflow: metrics linked to the stage's logged model and to the dataset
each task read, the device as a tag, the data as run inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimline._digest import file_sha256
from slimline.data import read_manifest
from slimline.evaluate.run import EvalResult
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.models import logged_model_for, producer_run_id
from slimline.lineage.tags import ARTIFACT_DIGEST, DEVICE, MODEL_ID, MODEL_RUN_ID
from slimline.lineage.tracking import StageRun


def log_evaluation(run: StageRun, result: EvalResult, *, model_dir: Path,
                   model: ArtifactMetadata, data_dir: Path, root: Path,
                   size: dict[str, float] | None = None) -> str:
    """Log `result` to the active eval run; return the model id the metrics belong to."""
    import mlflow

    experiment_id = mlflow.get_run(run.run_id).info.experiment_id
    logged = logged_model_for(model_dir, model, experiment_id=experiment_id, root=root)
    splits = {info.file: info for info in read_manifest(data_dir).values()}
    datasets: dict[Path, Any] = {}
    for item in result.inputs:
        if item.path in datasets:
            continue
        info = splits.get(item.path.name) if item.kind == "data" else None
        if info is not None:
            datasets[item.path] = run.log_split(data_dir, info)
        else:
            datasets[item.path] = run.log_dataset(
                item.path, name=f"golden/{item.task}", digest=file_sha256(item.path),
                context="evaluation")
    by_task = {item.task: datasets[item.path] for item in result.inputs}
    for task, values in result.metrics.items():
        run.log_metrics({f"{task}.{k}": v for k, v in values.items()},
                        model_id=logged.model_id, dataset=by_task.get(task))
    if size:
        run.log_metrics({f"size.{k}": v for k, v in size.items()}, model_id=logged.model_id)
    run.set_tags({ARTIFACT_DIGEST: model.digest,
                  MODEL_RUN_ID: producer_run_id(model, experiment_id),
                  MODEL_ID: logged.model_id, DEVICE: result.device})
    return logged.model_id
