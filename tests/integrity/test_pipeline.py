"""The real pipeline on a tiny project: every weight stored once (workspace, DVC cache,
mlruns), identical weights keep DVC's hash (no downstream re-run after `-f`), a damaged
hard-linked artifact refused by its reader and repaired, and a fresh clone rebuilding its
registry from git + DVC. One project for the module: a pipeline run is the expensive part."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.dvc_project import copy_project, git_commit, ran, run, slimline

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(small_pipeline, tmp_path_factory):
    return copy_project(small_pipeline[0], tmp_path_factory.mktemp("integrity") / "p")


def _files(*dirs: Path) -> list[Path]:
    return [p for d in dirs if d.exists() for p in d.rglob("*")
            if p.is_file() and not p.is_symlink()]


def disk_amplification(root: Path, extra: tuple[Path, ...] = ()) -> tuple[float, float]:
    """(all files, weight files): bytes of unique inodes across workspace artifacts, DVC
    cache, mlruns/ and `extra` (the base's source) over the bytes of unique artifact contents.
    A cache file is a weight file when its md5 name is the md5 of a workspace safetensors."""
    contents = {hashlib.md5(p.read_bytes()).hexdigest(): (p.stat().st_size,
                                                          p.suffix == ".safetensors")
                for p in _files(root / "artifacts")}
    weight_md5 = {k for k, (_, w) in contents.items() if w}
    cache = root / ".dvc" / "cache" / "files"
    inodes: dict[tuple[int, int], tuple[int, bool]] = {}
    for p in _files(root / "artifacts", cache, root / "mlruns", *extra):
        st = p.stat()
        weight = p.suffix == ".safetensors" or (
            p.is_relative_to(cache) and p.parent.name + p.name in weight_md5)
        key = (st.st_dev, st.st_ino)
        inodes[key] = (st.st_size, weight or inodes.get(key, (0, False))[1])
    total = sum(s for s, _ in inodes.values()) / sum(s for s, _ in contents.values())
    weights = sum(s for s, w in inodes.values() if w) / sum(s for s, w in contents.values() if w)
    return total, weights


def _lock_md5(root: Path) -> dict[str, str]:
    lock = yaml.safe_load((root / "dvc.lock").read_text())["stages"]
    return {o["path"]: o["md5"] for s in lock.values() for o in s.get("outs", [])
            if o["path"].startswith("artifacts/")}


def test_every_artifact_file_is_its_cache_entry(project):
    cache = project / ".dvc" / "cache" / "files" / "md5"
    for path in _files(project / "artifacts"):
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        assert path.stat().st_ino == (cache / md5[:2] / md5[2:]).stat().st_ino, path
    total, weights = disk_amplification(project)
    print(f"disk amplification: {total:.3f} all files, {weights:.3f} weights")
    assert weights <= 1.05


def test_identical_weights_rerun_nothing_downstream(project):
    before = _lock_md5(project)
    out, _ = run(project, "dvc", "repro", "-f", "-s", "prune")
    assert ran(out) == {"prune"}
    assert _lock_md5(project) == before  # the same bytes, the same DVC hash
    assert disk_amplification(project)[1] <= 1.05  # relinked to the cache, not a 2nd copy
    out, _ = run(project, "dvc", "repro")
    assert ran(out) == set(), out


def test_damaged_artifact_is_refused_then_repaired(project):
    weights = project / "artifacts" / "recovered" / "model.safetensors"
    good = hashlib.md5(weights.read_bytes()).hexdigest()
    st = weights.stat()
    assert st.st_nlink == 2
    os.chmod(weights, 0o644)  # DVC's read-only mode does not stop root or a chmod
    with open(weights, "r+b") as fh:
        fh.seek(st.st_size - 1)
        fh.write(b"\x00" if fh.read(1) != b"\x00" else b"\x01")
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))

    out, _ = run(project, "dvc", "repro", "-f", "-s", "quantize", code=255)
    assert "artifacts/recovered/model.safetensors" in out and "--repair" in out
    assert "DAMAGED" in slimline(project, "verify", code=1)
    assert "REMOVED" in slimline(project, "verify", "--repair")
    out, _ = run(project, "dvc", "repro")
    assert "recover" in ran(out)
    assert hashlib.md5(weights.read_bytes()).hexdigest() == good
    assert "all intact" in slimline(project, "verify", "--all")


def test_fresh_clone_rebuilds_its_registry(project, tmp_path):
    remote = tmp_path / "remote"
    run(project, "dvc", "remote", "add", "-d", "local", str(remote))
    git_commit(project, "remote")
    slimline(project, "verify")  # before every push
    run(project, "dvc", "push")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(project), str(clone)], check=True)
    run(clone, "dvc", "pull")
    out = slimline(clone, "register")
    assert "original runs are not in this store" in out, out
    assert "models:/slimline" in slimline(clone, "load", "@candidate")
