"""Turn what a user types into a registered version.

Accepted: `models:/NAME@alias`, `models:/NAME/3`, `NAME@alias`, `NAME/3`, `@alias` and `3`
(the project's registered model), an MLflow run id (a stage, eval, register or pipeline
run), or a git revision (the newest registration made at that commit).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from slimline.errors import SlimlineError
from slimline.lineage.tags import (
    ALIASES_MOVED,
    ARTIFACT_DIGEST,
    CANDIDATE_VERSION,
    GIT_COMMIT,
    REGISTERED_MODEL,
    STAGE,
)
from slimline.registry.versions import VersionInfo

_URI = re.compile(r"^(?:models:/)?(?P<name>[^@/]*)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def registry_client():
    from mlflow.tracking import MlflowClient

    return MlflowClient()


def get_version(name: str, version: str) -> VersionInfo:
    from mlflow.exceptions import MlflowException

    try:
        return VersionInfo.from_version(registry_client().get_model_version(name, str(version)))
    except MlflowException:
        raise SlimlineError(f"registered model {name} has no version {version}: list them with "
                            "`slimline lineage` or in the MLflow UI (Models).") from None


def by_alias(name: str, alias: str) -> VersionInfo:
    from mlflow.exceptions import MlflowException

    client = registry_client()
    try:
        return VersionInfo.from_version(client.get_model_version_by_alias(name, alias))
    except MlflowException:
        try:
            known = sorted(client.get_registered_model(name).aliases)
        except MlflowException:
            raise SlimlineError(f"no registered model {name}: run the pipeline (`dvc repro`) "
                                "to register its versions.") from None
        raise SlimlineError(f"{name} has no alias @{alias}; it has "
                            f"{', '.join('@' + a for a in known) or 'none'}.") from None


def find_by_digest(name: str, digest: str) -> VersionInfo | None:
    found = registry_client().search_model_versions(
        f"name = '{name}' and tags.`{ARTIFACT_DIGEST}` = '{digest}'")
    if not found:
        return None
    return VersionInfo.from_version(min(found, key=lambda v: int(v.version)))


def _from_run(run_id: str, name: str | None) -> VersionInfo:
    from mlflow.exceptions import MlflowException

    client = registry_client()
    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise SlimlineError(f"{run_id} is not a run in this MLflow store.") from None
    tags = run.data.tags
    stage = tags.get(STAGE)
    if stage == "pipeline":  # the parent run: use its registration
        children = client.search_runs(
            [run.info.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}' and "
            f"tags.`{STAGE}` = 'register'", max_results=1)
        if not children:
            raise SlimlineError(f"pipeline run {run_id} registered no models (did it reach "
                                "the register stage?).")
        tags = children[0].data.tags
        stage = "register"
    if stage == "register":
        return get_version(tags[REGISTERED_MODEL], tags[CANDIDATE_VERSION])
    digest = tags.get(ARTIFACT_DIGEST)
    model = name or tags.get(REGISTERED_MODEL)
    if not digest or not model:
        raise SlimlineError(f"run {run_id} ({stage or 'not a slimline run'}) names no "
                            "registered artifact; pass a stage, eval or register run.")
    found = find_by_digest(model, digest)
    if found is None:
        raise SlimlineError(f"the artifact of run {run_id} ({digest[:12]}) is not registered "
                            f"in {model}; run `dvc repro register`.")
    return found


def _from_git(rev: str, root: Path) -> VersionInfo | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
                             cwd=root, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    client = registry_client()
    experiments = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(
        experiments, filter_string=f"tags.`{STAGE}` = 'register' and "
        f"tags.`{GIT_COMMIT}` LIKE '{sha}%'", order_by=["attributes.start_time DESC"],
        max_results=50)
    # A `dvc exp run` from that commit registers too, but did not make its candidate.
    runs = [r for r in runs if r.data.tags.get(ALIASES_MOVED) != "false"]
    if not runs:
        raise SlimlineError(f"git revision {rev} ({sha[:12]}) has no registration in this "
                            "MLflow store (experiments do not count): check it out and run "
                            "`dvc repro`.")
    tags = runs[0].data.tags
    return get_version(tags[REGISTERED_MODEL], tags[CANDIDATE_VERSION])


def resolve(ref: str, *, default_name: str | None = None, root: Path | None = None
            ) -> VersionInfo:
    """The registered version `ref` names (see the module docstring for the forms)."""
    ref = ref.strip()
    if m := _URI.match(ref):
        name = m["name"] or default_name
        if not name:
            raise SlimlineError(f"{ref} names no registered model; write NAME{ref}.")
        if m["alias"]:
            return by_alias(name, m["alias"])
        return get_version(name, m["version"])
    if ref.isdigit() and default_name:
        return get_version(default_name, ref)
    if _RUN_ID.match(ref):
        return _from_run(ref, default_name)
    found = _from_git(ref, root or Path.cwd())
    if found is None:
        raise SlimlineError(
            f"cannot resolve {ref!r}: use models:/NAME/VERSION, models:/NAME@ALIAS, a version "
            "number or @alias of this project's model, an MLflow run id or a git revision.")
    return found


def lineage_chain(version: VersionInfo) -> list[VersionInfo]:
    """`version` and its ancestors, root (base) first, following `parent_version` tags."""
    chain = [version]
    seen = {version.version}
    while chain[-1].parent_version:
        parent = get_version(version.name, chain[-1].parent_version)
        if parent.version in seen:
            raise SlimlineError(f"{version.name} v{parent.version} is its own ancestor.")
        seen.add(parent.version)
        chain.append(parent)
    return chain[::-1]

