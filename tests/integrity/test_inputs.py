"""Integrity checks on sealed artifact directories: the fast path, a changed byte refused with
the file and the fix named, stage inputs read from dvc.yaml, writers that never write
through a hard link."""

from __future__ import annotations

import json
import os

import pytest

from slimline._atomic import atomic_directory, write_text_atomic
from slimline.checkpoint import pass_through
from slimline.integrity import DamagedArtifact, check_artifact
from slimline.integrity._state import HashState
from slimline.integrity.inputs import stage_inputs
from slimline.lineage.metadata import ArtifactMetadata, seal_artifact


def _sealed(directory, payload=b"weights" * 1000, **extra):
    directory.mkdir(parents=True)
    (directory / "model.safetensors").write_bytes(payload)
    (directory / "config.json").write_text("{}")
    return seal_artifact(directory, stage="pruned", parent_digest="p", params={"prune": {}},
                         metrics={"num_parameters": 3.0, "importance_seconds": 1.5},
                         inputs={}, run_id="abc", title="t", story="s", **extra)


def _flip(path, keep_mtime=True):
    st = path.stat()
    with open(path, "r+b") as fh:
        byte = fh.read(1)
        fh.seek(0)
        fh.write(bytes([byte[0] ^ 1]))
    if keep_mtime:  # as a careless tool does: DVC then still sees the old file
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def test_slimline_json_is_deterministic_and_lists_files(tmp_path):
    a, b = _sealed(tmp_path / "a"), _sealed(tmp_path / "b")
    assert (tmp_path / "a" / "slimline.json").read_bytes() == \
        (tmp_path / "b" / "slimline.json").read_bytes()
    assert (tmp_path / "a" / "README.md").read_bytes() == \
        (tmp_path / "b" / "README.md").read_bytes()
    data = json.loads((tmp_path / "a" / "slimline.json").read_text())
    assert "mlflow_run_id" not in data and "created_at" not in data
    assert data["metrics"] == {"num_parameters": 3.0}  # timings stay in the MLflow run
    assert set(data["files"]) == {"model.safetensors", "config.json"}
    assert a.mlflow_run_id == "abc" and a.digest == b.digest  # the returned object keeps it
    assert ArtifactMetadata.read(tmp_path / "a").files == a.files


def test_a_changed_byte_in_a_hard_linked_file_is_refused(tmp_path):
    art = tmp_path / "artifacts" / "pruned"
    _sealed(art)
    (tmp_path / ".dvc").mkdir()
    twin = tmp_path / "cache-entry"
    os.link(art / "model.safetensors", twin)  # what DVC's hardlink cache makes
    check_artifact(art, tmp_path)
    _flip(twin)  # damage "the cache": the workspace file is the same inode
    with pytest.raises(DamagedArtifact) as info:
        check_artifact(art, tmp_path)
    message = str(info.value)
    assert "artifacts/pruned/model.safetensors" in message
    assert "hard-linked" in message and "slimline verify --repair" in message
    assert "dvc repro prune" in message


def test_fast_path_reads_unchanged_files_once(tmp_path):
    art = tmp_path / "artifacts" / "pruned"
    _sealed(art)
    (tmp_path / ".dvc").mkdir()
    first = HashState(tmp_path)
    check_artifact(art, tmp_path, first)
    first.save()
    assert first.hashed == 2
    again = HashState(tmp_path)
    check_artifact(art, tmp_path, again)
    assert again.hashed == 0
    (art / "extra.bin").write_bytes(b"x")
    with pytest.raises(DamagedArtifact, match="extra.bin: not written by its producer"):
        check_artifact(art, tmp_path)


def test_data_split_files_are_checked_one_by_one(tmp_path):
    data = tmp_path / "artifacts" / "data"
    data.mkdir(parents=True)
    (data / "calibration.jsonl").write_text('{"text": "a"}\n')
    from slimline._digest import file_sha256

    manifest = {"splits": [{"name": "calibration", "file": "calibration.jsonl",
                            "sha256": file_sha256(data / "calibration.jsonl")}]}
    (data / "manifest.json").write_text(json.dumps(manifest))
    check_artifact(data / "calibration.jsonl", tmp_path)
    (data / "calibration.jsonl").write_text('{"text": "b"}\n')
    with pytest.raises(DamagedArtifact, match="data stage"):
        check_artifact(data / "calibration.jsonl", tmp_path)


@pytest.mark.parametrize("stage, expected", [
    ("prune", ["artifacts/base", "artifacts/data/calibration.jsonl"]),
    ("eval@pruned", ["artifacts/pruned", "artifacts/data/evaluation.jsonl",
                     "artifacts/data/facts.jsonl"]),
    ("data", []),
])
def test_stage_inputs_come_from_dvc_yaml(stage, expected):
    from tests.conftest import REPO

    assert [p.relative_to(REPO).as_posix() for p in stage_inputs(stage, REPO)] == expected


def test_writers_never_write_through_a_hard_link(tmp_path):
    """Every way slimline rewrites a file makes a new inode, so a cache twin keeps its bytes."""
    art = tmp_path / "pruned"
    _sealed(art)
    cache = tmp_path / "cache"
    cache.mkdir()
    for f in art.iterdir():
        os.link(f, cache / f.name)
    before = {f.name: f.read_bytes() for f in cache.iterdir()}
    with atomic_directory(art) as tmp:  # a stage re-run replacing its output
        (tmp / "model.safetensors").write_bytes(b"new")
    linked = tmp_path / "linked.json"
    os.link(cache / "slimline.json", linked)
    write_text_atomic(linked, "changed")  # metrics/, plots/, registry.json
    skipped = tmp_path / "recovered"
    skipped.mkdir()
    pass_through(cache, skipped)  # a skipped stage links, then writes its own metadata
    _sealed_meta = seal_artifact(skipped, stage="recovered", parent_digest=None, params={},
                                 metrics={}, inputs={}, run_id=None, title="t", story="s")
    assert _sealed_meta.digest
    assert {f.name: f.read_bytes() for f in cache.iterdir()} == before
