"""Stage artifacts as MLflow logged models that point at the weights instead of copying them.

A stage's checkpoint lives in `artifacts/<stage>/` and the DVC cache; MLflow gets a logged
model named by stage and tagged with the artifact's content digest and location, whose MLflow
Model is a manifest pyfunc (`slimline.registry.pyfunc`) that loads the verified checkpoint.
Evaluation metrics are logged against it and the registry registers it, so the UI shows one
model object per artifact with its metrics, params and lineage, and `models:/NAME@alias`
loads through MLflow's own API. One digest = one logged model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tags import ARTIFACT_DIGEST, LOCATION, PARENT_DIGEST, STAGE, STAGE_RUN_ID, key
from slimline.lineage.tracking import flatten_params
from slimline.stages import PRODUCER_STAGES


def artifact_location(directory: Path, root: Path) -> str:
    """`directory` relative to the project root when inside it, else absolute."""
    directory = Path(directory).resolve()
    try:
        return directory.relative_to(Path(root).resolve()).as_posix()
    except ValueError:
        return str(directory)


def find_logged_model(experiment_id: str, digest: str) -> Any | None:
    """The logged model of the artifact with content digest `digest`, if one exists."""
    import mlflow

    found = mlflow.search_logged_models(
        experiment_ids=[experiment_id], output_format="list", max_results=1,
        filter_string=f"tags.`{ARTIFACT_DIGEST}` = '{digest}'")
    return found[0] if found else None


def producer_run_id(meta: ArtifactMetadata, experiment_id: str) -> str | None:
    """The latest finished run in this store that wrote `meta`'s artifact, found by its
    digest (slimline.json names no run, so identical weights stay byte-identical); None
    when the artifact came from elsewhere (a fresh clone with pulled artifacts)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    if meta.mlflow_run_id:  # schema 1 artifacts named it
        try:
            return mlflow.get_run(meta.mlflow_run_id).info.run_id
        except MlflowException:
            return None
    stage = PRODUCER_STAGES.get(meta.stage, meta.stage)
    runs = mlflow.search_runs(
        [experiment_id], output_format="list", max_results=1,
        filter_string=f"tags.`{STAGE}` = '{stage}' and "
        f"tags.`{ARTIFACT_DIGEST}` = '{meta.digest}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"])
    return runs[0].info.run_id if runs else None


def logged_model_for(directory: Path, meta: ArtifactMetadata, *, experiment_id: str,
                     root: Path) -> Any:
    """Find or create the external logged model of the artifact in `directory`."""
    import mlflow

    from slimline.registry.pyfunc import MODEL_TYPE, log_manifest_model, manifest

    existing = find_logged_model(experiment_id, meta.digest)
    if existing is not None:
        if existing.tags.get("mlflow.model.isExternal", "").lower() == "true":
            # Logged before versions were loadable by MLflow: give it its manifest now.
            log_manifest_model(existing.model_id, manifest(
                digest=meta.digest, stage=meta.stage, root=root,
                location=artifact_location(directory, root), model_id=existing.model_id))
        return existing
    source_run = producer_run_id(meta, experiment_id)
    tags = {
        STAGE: meta.stage,
        ARTIFACT_DIGEST: meta.digest,
        PARENT_DIGEST: meta.parent_digest or "",
        LOCATION: artifact_location(directory, root),
        STAGE_RUN_ID: source_run or "",
        **{key(f"input.{k}"): v for k, v in meta.inputs.items()},
    }
    params = {k: "null" if v is None else str(v)
              for k, v in flatten_params(meta.params).items()}
    model = mlflow.initialize_logged_model(
        name=meta.stage, source_run_id=source_run, tags=tags, params=params,
        model_type=MODEL_TYPE, experiment_id=experiment_id)
    try:
        log_manifest_model(model.model_id, manifest(
            digest=meta.digest, stage=meta.stage, location=tags[LOCATION], root=root,
            model_id=model.model_id))
    except BaseException:
        mlflow.finalize_logged_model(model.model_id, "FAILED")
        raise
    return mlflow.finalize_logged_model(model.model_id, "READY")
