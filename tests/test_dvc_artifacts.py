"""dvc.yaml's `artifacts:` make every model stage a DVC model artifact: listed with its type,
description and labels, found by `dvc.api.artifacts_show` once a model-registry tag names a
version, and fetched by `dvc artifacts get` from a fresh clone through a DVC remote.

No pipeline runs here: a throw-away repository gets the project's real `artifacts:` section
and `params.yaml`, and stand-in checkpoint directories tracked with `dvc add`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO

STAGES = {"base": "base", "pruned": "prune", "recovered": "recover", "quantized": "quantize"}
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}


def _sh(*args: str, cwd) -> str:
    env = {**os.environ, **GIT_ENV, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _dvc(*args: str, cwd) -> str:
    return _sh(sys.executable, "-m", "dvc", *args, cwd=cwd)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A git + DVC repo whose dvc.yaml holds only the project's `artifacts:` section, each
    artifact a small directory pushed to a local DVC remote, tagged in DVC's model-registry
    convention (quantized@v1.0.0)."""
    root = tmp_path_factory.mktemp("repo")
    project = yaml.safe_load((REPO / "dvc.yaml").read_text())
    (root / "dvc.yaml").write_text(yaml.safe_dump({"artifacts": project["artifacts"]}))
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    _sh("git", "init", "-q", cwd=root)
    _dvc("init", "-q", cwd=root)
    _dvc("remote", "add", "-d", "local", str(tmp_path_factory.mktemp("remote")), cwd=root)
    for name in STAGES:
        directory = root / "artifacts" / name
        directory.mkdir(parents=True)
        (directory / "config.json").write_text(f'{{"stage": "{name}"}}')
        _dvc("add", "-q", f"artifacts/{name}", cwd=root)
    _dvc("push", "-q", cwd=root)
    _sh("git", "add", ".", cwd=root)
    _sh("git", "commit", "-qm", "models", cwd=root)
    _sh("git", "tag", "-a", "quantized@v1.0.0", "-m", "quantized v1.0.0", cwd=root)
    return root


def test_every_model_stage_is_a_model_artifact_with_stage_and_method(repo):
    from dvc.repo import Repo

    params = yaml.safe_load((REPO / "params.yaml").read_text())
    with Repo(str(repo)) as dvc_repo:
        artifacts = dvc_repo.artifacts.read()["dvc.yaml"]
    assert set(artifacts) == set(STAGES)
    for name, stage in STAGES.items():
        artifact = artifacts[name]
        assert artifact.path == f"artifacts/{name}" and artifact.type == "model"
        assert artifact.desc
        section = "model" if stage == "base" else stage
        method = params[section]["kind" if stage == "base" else "method"]
        assert {f"stage:{stage}", f"method:{method}"} <= set(artifact.labels)


def test_artifacts_show_and_get_from_a_fresh_clone(repo, tmp_path):
    import dvc.api

    shown = dvc.api.artifacts_show("quantized", repo=str(repo))
    assert shown["path"] == os.path.join("artifacts", "quantized")
    clone = tmp_path / "clone"
    _sh("git", "clone", "-q", str(repo), str(clone), cwd=tmp_path)
    _dvc("artifacts", "get", str(clone), "quantized", "-o", str(tmp_path / "got"), cwd=clone)
    assert (tmp_path / "got" / "config.json").read_text() == '{"stage": "quantized"}'
