"""`slimline verify` and the stage check on a real DVC project with a hard-linked cache: a
byte changed behind DVC's back is refused by the reading stage and reported by verify, and
`--repair` + `dvc repro` brings back a good artifact and a good cache entry.

A two-stage project (a `base` that seals an artifact, a `prune` that only checks it) keeps
this fast; tests/integrity/test_pipeline.py does the same on the real pipeline."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.dvc_project import run, slimline

MAKE = """from pathlib import Path
from slimline._atomic import atomic_directory
from slimline.lineage.metadata import seal_artifact
with atomic_directory(Path("artifacts/base")) as tmp:
    (tmp / "model.safetensors").write_bytes(bytes(range(256)) * 400)
    seal_artifact(tmp, stage="base", parent_digest=None, params={}, metrics={}, inputs={},
                  run_id=None, title="t", story="s")
"""
READ = """from pathlib import Path
from slimline.cli.errors import run_main
from slimline.integrity import check_stage_inputs
run_main(check_stage_inputs, "prune", Path.cwd())
Path("pruned.txt").write_text("read")
"""
DVC_YAML = """stages:
  base:
    cmd: python make.py
    outs: [artifacts/base]
  prune:
    cmd: python read.py
    deps: [artifacts/base]
    outs: [{pruned.txt: {cache: false}}]
"""


def _project(root: Path) -> Path:
    root.mkdir()
    (root / "make.py").write_text(MAKE)
    (root / "read.py").write_text(READ)
    (root / "dvc.yaml").write_text(DVC_YAML)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    run(root, "dvc", "init", "-q")
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    return root


def _cache_file(root: Path, path: Path) -> Path:
    md5 = hashlib.md5(path.read_bytes()).hexdigest()
    return root / ".dvc" / "cache" / "files" / "md5" / md5[:2] / md5[2:]


@pytest.mark.slow
def test_damage_is_refused_reported_and_repaired(tmp_path):
    root = _project(tmp_path / "p")
    run(root, "dvc", "repro")
    weights = root / "artifacts" / "base" / "model.safetensors"
    cached = _cache_file(root, weights)
    assert weights.stat().st_ino == cached.stat().st_ino  # stored once: .dvc/config works
    good = cached.read_bytes()
    st = weights.stat()
    os.chmod(weights, 0o644)  # DVC protects it; root (or a chmod) writes anyway
    with open(weights, "r+b") as fh:
        fh.write(b"\xff")
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cached.read_bytes() != good  # one inode: the cache entry changed with it

    out, _ = run(root, "dvc", "repro", "-f", "-s", "prune", code=255)
    assert "artifacts/base/model.safetensors" in out and "slimline verify --repair" in out
    out = slimline(root, "verify", code=1)
    assert "DAMAGED  workspace artifacts/base/model.safetensors" in out
    assert "DAMAGED  cache     artifacts/base/model.safetensors" in out
    out = slimline(root, "verify", "--repair")
    assert "REMOVED" in out and not cached.exists()

    out, _ = run(root, "dvc", "repro")
    assert "Running stage 'base'" in out
    assert cached.read_bytes() == good and weights.stat().st_ino == cached.stat().st_ino
    assert "all intact" in slimline(root, "verify")
    run(root, "dvc", "repro", "-f", "-s", "prune")
