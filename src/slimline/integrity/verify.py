"""`slimline verify`: the workspace, the DVC cache and the registry checked against each other.

Three records describe one artifact: its files' sha256 in `slimline.json` (written by the
stage), DVC's md5 of each file (the name of its cache entry, listed by the `.dir` manifest
that dvc.lock names) and the registered version's content digest and DVC md5 (tags). A file
that disagrees with its own record is damaged. With `repair`, damaged cache entries are
removed (with the workspace file when it is the same inode), so `dvc pull` refetches them
or `dvc repro` rebuilds them instead of `dvc push` spreading them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from slimline.integrity._state import HashState
from slimline.integrity.inputs import damaged_files, recorded
from slimline.paths import ARTIFACTS


@dataclass
class Target:
    """One artifact to check: where the workspace keeps it and what records name it."""

    label: str
    directory: Path | None
    md5: str | None = None  # DVC's `<md5>.dir` hash
    digest: str | None = None  # the registry's content digest, when checking a version


@dataclass
class Finding:
    where: str  # workspace | cache | registry
    path: str
    problem: str
    damage: bool = True  # False: a difference to report, not a damaged file
    repaired: bool = False

    def line(self) -> str:
        mark = "REMOVED" if self.repaired else "DAMAGED" if self.damage else "note"
        return f"{mark:<8} {self.where:<9} {self.path}: {self.problem}"


@dataclass
class Report:
    checked: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    hashed: int = 0

    @property
    def damaged(self) -> list[Finding]:
        return [f for f in self.findings if f.damage]


def workspace_targets(root: Path) -> list[Target]:
    """Every directory output under artifacts/ that dvc.lock records."""
    lock = root / "dvc.lock"
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {}) if lock.exists() else {}
    out = {}
    for stage in stages.values():
        for item in stage.get("outs", []):
            path = str(item.get("path", ""))
            if path.startswith(f"{ARTIFACTS}/") and str(item.get("md5", "")).endswith(".dir"):
                out[path] = Target(path, root / path, item["md5"])
    return [out[k] for k in sorted(out)]


def _cache(root: Path):
    from dvc.repo import Repo

    try:
        return Repo(str(root)).cache.local
    except Exception:  # not a DVC project: no cache to check
        return None


def _check_workspace(t: Target, root: Path, state: HashState, report: Report) -> set[str]:
    rec = recorded(t.directory) if t.directory and t.directory.is_dir() else None
    if rec is None:
        if t.directory is not None and not t.directory.exists():
            report.findings.append(Finding("workspace", t.label, "not in the workspace: "
                                           "`dvc checkout` or `dvc pull`", damage=False))
        return set()
    if t.digest and rec.digest != t.digest:
        report.findings.append(Finding("registry", t.label, f"{t.directory.relative_to(root)} "
                                       "holds another artifact now", damage=False))
        return set()
    bad = damaged_files(rec, state)
    for rel, what in bad.items():
        report.findings.append(Finding("workspace", f"{t.directory.relative_to(root)}/{rel}",
                                       what))
    return set(bad)


def _check_cache(t: Target, root: Path, odb, state: HashState, bad_ws: set[str],
                 repair: bool, report: Report) -> None:
    manifest = Path(odb.oid_to_path(t.md5))
    if not manifest.exists():
        report.findings.append(Finding("cache", f"{t.label} ({t.md5})", "not in the DVC "
                                       "cache: `dvc fetch` it from your remote", damage=False))
        return
    if state.md5(manifest) + ".dir" != t.md5:
        report.findings.append(Finding("cache", str(manifest), "the .dir listing is damaged"))
        return
    for entry in json.loads(manifest.read_text()):
        rel, cached = entry["relpath"], Path(odb.oid_to_path(entry["md5"]))
        if not cached.exists():
            report.findings.append(Finding("cache", f"{t.label}/{rel}", "missing from the "
                                           "DVC cache: `dvc fetch`", damage=False))
            continue
        ws = t.directory / rel if t.directory else None
        same = ws is not None and ws.exists() and ws.stat().st_ino == cached.stat().st_ino
        if same and rel not in bad_ws and recorded(t.directory) is not None:
            continue  # one inode, already checked against the producer's record
        if state.md5(cached) == entry["md5"]:
            continue
        finding = Finding("cache", f"{t.label}/{rel}", f"cache file {cached} does not match "
                          "its md5 name")
        if repair:
            cached.unlink()
            if same:
                ws.unlink()  # the same damaged bytes: let DVC see the output as missing
            finding.repaired = True
        report.findings.append(finding)


def verify(root: Path, targets: list[Target] | None = None, *, repair: bool = False) -> Report:
    """Check `targets` (default: the workspace's artifacts in dvc.lock) and the DVC cache
    entries they name; with `repair`, remove damaged cache entries."""
    root = Path(root)
    targets = workspace_targets(root) if targets is None else targets
    odb = _cache(root)
    state, report = HashState(root), Report()
    try:
        for t in targets:
            report.checked.append(t.label)
            bad_ws = _check_workspace(t, root, state, report)
            if odb is not None and t.md5:
                _check_cache(t, root, odb, state, bad_ws, repair, report)
        if repair:
            _remove_damaged_workspace_files(root, report)
        report.findings += _registry_file_notes(root)
    finally:
        report.hashed = state.hashed
        state.save()
    return report


def _remove_damaged_workspace_files(root: Path, report: Report) -> None:
    """A damaged workspace file goes too, so DVC sees the output as changed and restores it
    (`dvc checkout` from a good cache entry, `dvc pull`, or `dvc repro`)."""
    for finding in report.findings:
        if finding.where == "workspace" and finding.damage and not finding.repaired:
            (root / finding.path).unlink(missing_ok=True)
            finding.repaired = True


def _registry_file_notes(root: Path) -> list[Finding]:
    """registry.json entries whose digest is not what the workspace holds now."""
    path = root / "registry.json"
    if not path.exists():
        return []
    notes = []
    for stage, entry in json.loads(path.read_text()).get("stages", {}).items():
        rec = recorded(root / ARTIFACTS / stage)
        if rec is not None and entry.get("digest") and rec.digest != entry["digest"]:
            notes.append(Finding("registry", f"registry.json {stage}", f"v{entry['version']} "
                                 f"is {entry['digest'][:12]}…, artifacts/{stage} holds "
                                 f"{str(rec.digest)[:12]}…: run `slimline register`",
                                 damage=False))
    return notes
