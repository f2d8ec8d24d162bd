"""A promotion visible in git: DVC's model-registry tags (GTO) for a registered version.

`slimline promote --git-tag` registers the version's artifact (`dvc.yaml` `artifacts:`,
named by stage) as `STAGE@vN.0.0` on the commit whose `dvc.lock` records the version's DVC
md5, and assigns it to the alias's stage (`STAGE#production#K`), both as annotated tags
written by GTO. `dvc artifacts get . quantized --stage production` and
`dvc.api.artifacts_show("quantized", stage="production")` then find the promoted weights.
MLflow version N is artifact version vN.0.0.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from slimline.errors import SlimlineError
from slimline.lineage.tags import DVC_MD5
from slimline.registry.versions import VersionInfo


def semver(version: VersionInfo) -> str:
    return f"v{version.version}.0.0"


def _git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
    if done.returncode:
        raise SlimlineError(f"git {' '.join(args)} failed in {root}: {done.stderr.strip()}")
    return done.stdout


def _records(root: Path, commit: str, out: str, md5: str) -> bool:
    """Whether `dvc.lock` at `commit` records `md5` for output `out`."""
    try:
        lock = yaml.safe_load(_git(root, "show", f"{commit}:dvc.lock")) or {}
    except SlimlineError:
        return False
    return any(o.get("path") == out and o.get("md5") == md5
               for stage in (lock.get("stages") or {}).values() for o in stage.get("outs", []))


def commit_with(root: Path, out: str, md5: str) -> str | None:
    """The first commit whose dvc.lock records `md5` for `out`."""
    candidates = _git(root, "log", "--reverse", "--format=%H", f"-S{md5}", "--", "dvc.lock")
    return next((c for c in candidates.split() if _records(root, c, out, md5)), None)


def taggable_commit(root: Path, version: VersionInfo) -> str:
    """The commit to tag for `version`; raises naming the fix when there is none (checked
    before a promotion moves the alias, so a refusal leaves the registry unchanged)."""
    md5 = version.tags.get(DVC_MD5)
    out = f"artifacts/{version.stage}"
    if not md5:
        raise SlimlineError(f"{version.ref} has no DVC md5 (registered outside a DVC "
                            "pipeline): it has no commit to tag. Promote without --git-tag.")
    commit = commit_with(root, out, md5)
    if commit is None:
        raise SlimlineError(f"no commit's dvc.lock records {out} with md5 {md5} "
                            f"({version.ref}): commit dvc.lock after `dvc repro` "
                            "(`git add dvc.lock && git commit`), then promote with --git-tag.")
    return commit


def tag_promotion(root: Path, version: VersionInfo, alias: str, *, message: str) -> list[str]:
    """Register `version` with GTO (once) and assign it to `alias`; the tags written."""
    from gto.api import assign, register

    commit = taggable_commit(root, version)
    name, tag_version = version.stage, semver(version)
    written = []
    if not _git(root, "tag", "--list", f"{name}@{tag_version}").strip():
        register(str(root), name, commit, version=tag_version,
                 message=f"{version.ref}: {message}")
        written.append(f"{name}@{tag_version}")
    before = set(_git(root, "tag", "--list", f"{name}#{alias}#*").split())
    assign(str(root), name, alias, version=tag_version, message=f"{version.ref}: {message}")
    written += sorted(set(_git(root, "tag", "--list", f"{name}#{alias}#*").split()) - before)
    return written
