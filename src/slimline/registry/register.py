"""The `register` stage: every model stage becomes a version of the pipeline's registered
model, pointing at its artifact (not copying it), tagged with its lineage, its base's
fingerprint and its evaluation. Inside `dvc exp run` no alias moves (see `experiment`)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from slimline.errors import SlimlineError
from slimline.lineage.metadata import TOKENS_INPUT, ArtifactMetadata
from slimline.lineage.models import artifact_location, logged_model_for, producer_run_id
from slimline.lineage.tags import (
    ARTIFACT_DIGEST,
    BASE_DIGEST,
    BASE_NAME,
    BASE_SOURCE,
    CALIBRATION_TOKENS,
    DEVICE,
    DIRECTIONS,
    DVC_MD5,
    EVAL_RUN_ID,
    EVAL_STDERR,
    EVAL_TARGET,
    GIT_COMMIT,
    INPUTS,
    LOCATION,
    MODEL_ID,
    ORIGIN,
    PARAMS,
    PARENT_DIGEST,
    PARENT_VERSION,
    PIPELINE,
    STAGE,
    STAGE_RUN_ID,
    STAGES_SKIPPED,
    VERSIONS,
    split_sha256,
)
from slimline.lineage.tracking import configure, git_commit
from slimline.paths import METRICS, artifact_dir
from slimline.registry.experiment import (
    EXPERIMENT_ONLY,
    ExperimentRun,
    adoption_note,
    current_experiment,
)
from slimline.registry.refs import find_by_digest, get_version
from slimline.registry.versions import EVAL, VersionInfo
from slimline.results import flatten_directions, flatten_stderrs, read_stage_results
from slimline.stages import CHAIN, MODEL_STAGES, STAGE_SECTIONS

CANDIDATE = "candidate"
MANAGED_ALIASES = (*STAGE_SECTIONS, CANDIDATE)  # moved by registration, never by hand
# The data splits the model stages read; each file's sha256 is tagged under its own name.
SPLITS_READ = tuple(dict.fromkeys(s.reads_split for s in CHAIN if s.reads_split))
RUN_NOT_IN_STORE = "rebuilt from dvc.lock and slimline.json; the original run is not in this store"


@dataclass
class Registered:
    """One stage's registration: its version, whether it was new, skipped or adopted."""

    stage: str
    version: VersionInfo
    created: bool
    skipped: bool
    adopted: bool = False  # an experiment-only version the aliases moved to


def base_fingerprint(meta: ArtifactMetadata) -> dict[str, str]:
    """Tags naming the base a lineage starts from: its digest, name and source, so one
    registered model can hold the lineages of several bases (a base upgrade)."""
    model = meta.params.get("model", {}) if isinstance(meta.params, dict) else {}
    source = model.get("source") or (f"{model['kind']} (built in)" if model.get("kind")
                                     else "")
    return {BASE_DIGEST: meta.digest, BASE_NAME: str(model.get("name") or "unknown"),
            BASE_SOURCE: str(source or "unknown")}


def dvc_md5(root: Path, out: str) -> str | None:
    """DVC's hash of output `out` as recorded in dvc.lock (the cache key of its files)."""
    lock = Path(root) / "dvc.lock"
    if not lock.exists():
        return None
    for stage in (yaml.safe_load(lock.read_text()) or {}).get("stages", {}).values():
        for item in stage.get("outs", []):
            if item.get("path") == out:
                return item.get("md5")
    return None


def _eval_run(client: Any, experiment_id: str, stage: str, digest: str) -> str | None:
    runs = client.search_runs(
        [experiment_id], filter_string=f"tags.`{EVAL_TARGET}` = '{stage}' and "
        f"tags.`{ARTIFACT_DIGEST}` = '{digest}'", order_by=["attributes.start_time DESC"],
        max_results=1)
    return runs[0].info.run_id if runs else None


def _summary(meta: ArtifactMetadata) -> str:
    section = STAGE_SECTIONS.get(meta.stage)
    values = meta.params.get(section, {}) if section else {}
    keep = {k: v for k, v in values.items() if not isinstance(v, dict)}
    return ", ".join(f"{k}={v}" for k, v in keep.items()) or "no parameters"


def _description(meta: ArtifactMetadata, chain: list[str], parent: VersionInfo | None,
                 skipped: list[str], location: str, md5: str | None, ref: str,
                 base: dict[str, str], exp: ExperimentRun | None, only: bool) -> str:
    lines = [f"{meta.stage} stage ({_summary(meta)})"
             + (f", made from {parent.label}." if parent else ", the root of its lineage."),
             "Lineage: " + " → ".join(chain) + ".",
             f"Base: {base[BASE_NAME]} from {base[BASE_SOURCE]} "
             f"(sha256 {base[BASE_DIGEST][:16]}…).",
             "Stages skipped: " + (", ".join(skipped) if skipped else "none") + ".",
             f"Weights: {location} (content sha256 {meta.digest[:16]}…"
             + (f", DVC md5 {md5}" if md5 else "") + "); not copied into MLflow.",
             f"Load with `slimline.load(\"{ref}\")`."]
    if exp is not None:
        lines.append(exp.note(only=only))
    return "\n".join(lines)


def _adopt(client: Any, version: VersionInfo) -> None:
    """Clear the experiment-only mark of a version the aliases now move to."""
    client.delete_model_version_tag(version.name, version.version, EXPERIMENT_ONLY)
    mv = client.get_model_version(version.name, version.version)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    client.update_model_version(version.name, version.version,
                                description=adoption_note(mv.description, when))


def register_pipeline(root: Path, model_name: str, experiment: str,
                      stages: tuple[str, ...] = MODEL_STAGES, *,
                      move_aliases: bool | None = None) -> list[Registered]:
    """Register each stage's artifact under `model_name` (once per content digest) and move
    the stage aliases and `candidate` to this pipeline's versions.

    Args:
        root: the project directory (artifacts/, metrics/, evals/).
        model_name: the registered model; one per pipeline, across base upgrades.
        experiment: the MLflow experiment of the stage runs.
        stages: the model stages, base first.
        move_aliases: move the stage aliases and `candidate`. By default they move except
            inside `dvc exp run` (`DVC_EXP_NAME` set), where new versions are tagged with
            the experiment instead. True also adopts experiment-only versions.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    exp = current_experiment()
    move = exp is None if move_aliases is None else move_aliases
    experiment_id = configure(experiment, root)
    client = MlflowClient()
    # Read and check every stage's files first, so bad input registers nothing at all.
    inputs = []
    for stage in stages:
        directory = artifact_dir(stage, root)
        meta = ArtifactMetadata.read(directory)
        results = read_stage_results(root, stage)
        if results is None:
            raise SlimlineError(f"{Path(root) / METRICS / f'{stage}.json'} is missing: "
                                f"evaluate {stage} first (`dvc repro eval@{stage}`).")
        inputs.append((stage, directory, meta, *results))
    base_dir = artifact_dir("base", root)
    base = base_fingerprint(next((m for s, _, m, *_ in inputs if s == "base"), None)
                            or ArtifactMetadata.read(base_dir))
    try:
        client.create_registered_model(
            model_name, tags={PIPELINE: str(Path(root).resolve())},
            description="Every stage of a slimline compression pipeline: base → pruned → "
            "recovered → quantized, across base upgrades (each version names its base in "
            "slimline.base_* tags). Aliases: one per stage (its latest version), candidate "
            "(the pipeline's final model), production (moved only by `slimline promote`). "
            "Versions made in `dvc exp run` get no alias until `slimline register`.")
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    commit = git_commit(root) or "unknown"
    out: list[Registered] = []
    chain: list[str] = []
    skipped: list[str] = []
    parent: VersionInfo | None = None
    for stage, directory, meta, metrics, evaluation in inputs:
        directions = flatten_directions(evaluation.get("higher_is_better", {}))
        eval_tags = {f"{EVAL}{k}": repr(round(v, 6)) for k, v in metrics.items()}
        # The noise gates and bisect weigh a difference against, where lm-eval measured one.
        eval_tags |= {f"{EVAL_STDERR}{k}": repr(round(v, 6))
                      for k, v in flatten_stderrs(evaluation).items() if k in metrics}
        eval_tags[DEVICE] = evaluation.get("device", "unknown")
        existing = find_by_digest(model_name, meta.digest)
        if meta.skipped or (parent is not None and meta.digest == parent.digest):
            skipped.append(stage)
        adopted = False
        if existing is not None:
            version, created = existing, False
            if not meta.skipped:  # same artifact evaluated again: keep its numbers current
                missing = {k: v for k, v in base.items() if k not in version.tags}
                for key, value in {**eval_tags, **missing}.items():
                    client.set_model_version_tag(model_name, version.version, key, value)
            if move and version.tags.get(EXPERIMENT_ONLY):
                _adopt(client, version)
                version, adopted = get_version(model_name, version.version), True
        else:
            location, md5 = artifact_location(directory, root), dvc_md5(root, f"artifacts/{stage}")
            logged = logged_model_for(directory, meta, experiment_id=experiment_id, root=root)
            if md5:
                client.set_logged_model_tags(logged.model_id, {DVC_MD5: md5})
            # None in a fresh clone: the artifact was pulled, its run is in another store.
            stage_run = producer_run_id(meta, experiment_id)
            tags = {
                STAGE: stage, ARTIFACT_DIGEST: meta.digest,
                PARENT_DIGEST: meta.parent_digest or "",
                PARENT_VERSION: parent.version if parent else "",
                # The token ids calibrated on; the split files' sha256 have their own names.
                CALIBRATION_TOKENS: meta.inputs.get(TOKENS_INPUT, ""),
                **{split_sha256(s): meta.inputs[s] for s in SPLITS_READ if s in meta.inputs},
                GIT_COMMIT: commit, LOCATION: location,
                DVC_MD5: md5 or "", STAGE_RUN_ID: stage_run or "",
                EVAL_RUN_ID: _eval_run(client, experiment_id, stage, meta.digest) or "",
                MODEL_ID: logged.model_id,
                PARAMS: json.dumps(meta.params, sort_keys=True),
                INPUTS: json.dumps(meta.inputs, sort_keys=True),
                VERSIONS: json.dumps(meta.versions, sort_keys=True),
                DIRECTIONS: json.dumps(directions, sort_keys=True),
                STAGES_SKIPPED: ",".join(skipped),
                **base, **eval_tags, **(exp.tags(only=not move) if exp else {}),
            }
            if stage_run is None:
                tags[ORIGIN] = RUN_NOT_IN_STORE
            # register_model (not create_model_version) also links the logged model to the
            # version, so the UI shows it on both pages.
            mv = mlflow.register_model(f"models:/{logged.model_id}", model_name, tags=tags)
            version, created = get_version(model_name, str(mv.version)), True
        # The description names the version, so it is written once the version exists; a
        # version left without one (its register stage was killed in between) gets it here.
        if created or not client.get_model_version(model_name, version.version).description:
            if not created:  # the version's own location and DVC hash, read once here
                location, md5 = artifact_location(directory, root), dvc_md5(root,
                                                                             f"artifacts/{stage}")
            client.update_model_version(
                model_name, version.version,
                description=_description(meta, [*chain, version.label], parent, skipped,
                                         location, md5, version.ref,
                                         base, exp, not move))
        if move:
            client.set_registered_model_alias(model_name, stage, version.version)
        if not chain or chain[-1] != version.label:
            chain.append(version.label)
        out.append(Registered(stage, version, created, stage in skipped, adopted))
        parent = version
    if move:
        client.set_registered_model_alias(model_name, CANDIDATE, out[-1].version.version)
    return out
