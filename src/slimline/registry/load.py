"""`slimline.load("models:/NAME@production")`: the model and tokenizer a version points at,
found in the project's artifacts or the DVC cache, verified against the recorded digest."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from slimline._atomic import atomic_directory
from slimline._digest import directory_digest
from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata
from slimline.lineage.tags import DVC_MD5, LOCATION
from slimline.paths import project_root
from slimline.registry.refs import resolve
from slimline.registry.versions import VersionInfo


def _cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "slimline" / "models"


def _from_dvc_cache(md5: str, digest: str, root: Path) -> Path | None:
    """Materialise a DVC directory output (`<md5>.dir`) by linking its cached files."""
    from dvc.repo import Repo

    try:
        repo = Repo(str(root))
    except Exception:  # not a DVC project: nothing to find here
        return None
    odb = repo.cache.local
    manifest = Path(odb.oid_to_path(md5))
    if not manifest.exists():
        return None
    target = _cache_root() / digest
    if target.exists():
        return target
    with atomic_directory(target) as tmp:
        for entry in json.loads(manifest.read_text()):
            src = Path(odb.oid_to_path(entry["md5"]))
            if not src.exists():
                raise SlimlineError(f"the DVC cache lacks {entry['relpath']} of {md5}: run "
                                    "`dvc fetch` (from your remote) and try again.")
            dest = tmp / entry["relpath"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copy2(src, dest)
    return target


def _claimed_digest(directory: Path) -> str | None:
    try:
        return ArtifactMetadata.read(directory).digest
    except SlimlineError:
        return None


def locate(version: VersionInfo, root: Path | None = None) -> Path:
    """The directory holding `version`'s files, checked against its content digest."""
    root = Path(root) if root else project_root()
    tried = []
    location = version.tags.get(LOCATION)
    if location:
        path = Path(location) if Path(location).is_absolute() else root / location
        # slimline.json names the digest the directory claims; hash only a matching claim.
        if path.is_dir() and _claimed_digest(path) == version.digest \
                and directory_digest(path) == version.digest:
            return path
        tried.append(f"{path} (holds another artifact now)" if path.is_dir() else str(path))
    cached = _cache_root() / version.digest
    if cached.is_dir() and directory_digest(cached) == version.digest:
        return cached
    md5 = version.tags.get(DVC_MD5)
    if md5:
        found = _from_dvc_cache(md5, version.digest, root)
        if found is not None:
            if directory_digest(found) != version.digest:
                shutil.rmtree(found, ignore_errors=True)
                raise SlimlineError(f"DVC cache entry {md5} does not match {version.ref}'s "
                                    f"digest {version.digest[:12]}: the cache is damaged.")
            return found
        tried.append(f"DVC cache {md5} (absent: `dvc fetch` or `dvc pull` first)")
    raise SlimlineError(f"cannot find the files of {version.ref} (sha256 "
                        f"{version.digest[:12]}); tried: {'; '.join(tried) or 'nothing'}. "
                        "Fetch them from the project's DVC remote (`dvc pull` at the commit "
                        f"`slimline lineage {version.ref}` names), or rebuild them with "
                        "`dvc repro`.")


def load(ref: str, *, root: Path | None = None, default_name: str | None = None):
    """Model and tokenizer of a registered version, verified by digest.

    Args:
        ref: `models:/NAME@alias`, `models:/NAME/3`, a run id or a git revision.
        root: the slimline project whose artifacts/ and DVC cache hold the weights.
    """
    from slimline.checkpoint import load_checkpoint
    from slimline.lineage.tracking import use_store

    root = Path(root) if root else project_root()
    use_store(root)
    version = resolve(ref, default_name=default_name, root=root)
    return load_checkpoint(locate(version, root))
