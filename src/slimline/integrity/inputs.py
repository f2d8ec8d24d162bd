"""Check an artifact against what its producer recorded, before a stage reads it.

A model artifact's `slimline.json` lists the sha256 of each of its files; the data stage's
`manifest.json` lists its splits'. Every stage checks the artifacts its `dvc.yaml` entry
depends on when its run opens (`slimline.lineage.tracking.stage_run`), so a byte changed in
a hard-linked output (which is also the DVC cache entry) stops at the next stage instead of
spreading into new artifacts, a `dvc push` or a registry version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from slimline._digest import METADATA_FILES, combine
from slimline.errors import SlimlineError
from slimline.integrity._state import HashState
from slimline.paths import ARTIFACTS

DATA_MANIFEST = "manifest.json"
# The DVC stage that writes each artifact directory (slimline.json `stage` → dvc.yaml).
PRODUCERS = {"base": "base", "pruned": "prune", "recovered": "recover",
             "quantized": "quantize", "data": "data"}


class DamagedArtifact(SlimlineError):
    """A file differs from the digest its producer recorded."""


@dataclass
class Recorded:
    """What a producer wrote down about its artifact directory."""

    directory: Path
    producer: str  # the DVC stage that writes it
    files: dict[str, str] | None  # {relative path: sha256}; None for schema-1 artifacts
    digest: str | None  # the combined digest (slimline.json), None for the data stage
    complete: bool  # True when `files` lists every content file (extra files are damage)


def recorded(directory: Path) -> Recorded | None:
    """The producer's record of `directory`, or None when slimline did not write it."""
    directory = Path(directory)
    meta_file = directory / "slimline.json"
    if meta_file.exists():
        data = json.loads(meta_file.read_text())
        stage = data.get("stage", directory.name)
        return Recorded(directory, PRODUCERS.get(stage, stage), data.get("files") or None,
                        data.get("digest"), True)
    manifest = directory / DATA_MANIFEST
    if manifest.exists():
        splits = json.loads(manifest.read_text()).get("splits", [])
        return Recorded(directory, "data", {s["file"]: s["sha256"] for s in splits}, None,
                        False)
    return None


def fix_hint(directory: Path, root: Path, producer: str, shared: bool) -> str:
    """The next step for a damaged artifact; `shared` when the file is hard-linked."""
    out = directory.relative_to(root).as_posix() if directory.is_relative_to(root) \
        else directory
    return (("It is hard-linked, so its DVC cache entry is damaged too. " if shared else "")
            + "Fix: `slimline verify --repair` (removes damaged DVC cache entries), then "
            f"`dvc pull {out}` from your remote or `dvc repro {producer}` to rebuild it"
            + ("" if shared else f"; or `dvc checkout --relink {out}` if the cache is good")
            + ".")


def damaged_files(rec: Recorded, state: HashState, only: str | None = None) -> dict[str, str]:
    """{relative path: what is wrong} for the files of `rec` that differ from the record."""
    root = rec.directory
    present = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                     if p.is_file() and p.name not in METADATA_FILES)
    if rec.files is None:  # schema 1: only the combined digest to compare with
        got = combine((rel, state.sha256(root / rel)) for rel in present)
        return {} if got == rec.digest else {".": f"content digest {got[:12]}… differs "
                                                  f"from the recorded {str(rec.digest)[:12]}…"}
    names = [only] if only else sorted(set(rec.files) | (set(present) if rec.complete
                                                         else set()))
    bad = {}
    for rel in names:
        want, path = rec.files.get(rel), root / rel
        if want is None:
            bad[rel] = "not written by its producer"
        elif not path.is_file():
            bad[rel] = "missing"
        elif (got := state.sha256(path)) != want:
            bad[rel] = f"sha256 {got[:12]}… differs from the recorded {want[:12]}…"
    return bad


def check_artifact(path: Path, root: Path, state: HashState | None = None) -> None:
    """Raise DamagedArtifact if `path` (an artifact directory or one of its files) differs
    from its producer's record. Unrecorded paths are not slimline's and pass."""
    path, root = Path(path), Path(root)
    directory, only = (path, None) if path.is_dir() else (path.parent, path.name)
    rec = recorded(directory)
    if rec is None or (only and rec.files is not None and only not in rec.files):
        return
    own = state is None
    state = state or HashState(root)
    try:
        bad = damaged_files(rec, state, only)
    finally:
        if own:
            state.save()
    if bad:
        rel, what = next(iter(bad.items()))
        first = directory / rel
        raise DamagedArtifact(
            f"{first.relative_to(root) if first.is_relative_to(root) else first}: {what}; "
            f"it was changed after the {rec.producer} stage wrote it"
            + (f" ({len(bad) - 1} more file(s) too)" if len(bad) > 1 else "") + ". "
            + fix_hint(directory, root, rec.producer,
                       first.is_file() and first.stat().st_nlink > 1))


def stage_inputs(dvc_stage: str, root: Path) -> list[Path]:
    """The artifact paths `dvc_stage` (`name` or `name@item`) depends on in dvc.yaml."""
    name, _, item = dvc_stage.partition("@")
    stages = (yaml.safe_load((root / "dvc.yaml").read_text()) or {}).get("stages", {})
    entry = stages.get(name) or {}
    entry = entry.get("do", entry)
    deps = [str(d).replace("${item}", item) for d in entry.get("deps", [])]
    return [root / d for d in deps if d.startswith(f"{ARTIFACTS}/") and "${" not in d]


def check_stage_inputs(dvc_stage: str, root: Path) -> None:
    """Refuse to start `dvc_stage` on a damaged input (see module docstring)."""
    if not (root / "dvc.yaml").exists():
        return
    state = HashState(root)
    try:
        for path in stage_inputs(dvc_stage, root):
            if path.exists():
                check_artifact(path, root, state)
    finally:
        state.save()
