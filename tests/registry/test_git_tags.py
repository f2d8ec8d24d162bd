"""`slimline promote --git-tag`: the promoted version is tagged in DVC's model-registry
convention (GTO) on the commit whose dvc.lock records its weights, so DVC finds it by stage."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from slimline.errors import SlimlineError
from slimline.lineage.tags import DVC_MD5
from slimline.registry.git_tags import tag_promotion
from slimline.registry.versions import VersionInfo

LOCK = """schema: '2.0'
stages:
  quantize:
    cmd: python pipelines/quantize.py
    outs:
    - path: artifacts/quantized
      md5: {md5}
"""
DVC_YAML = """artifacts:
  quantized:
    path: artifacts/quantized
    type: model
"""


def _git(root, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """Three commits: an older model's lock, the promoted model's lock, an unrelated edit."""
    _git(tmp_path, "init", "-q")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    commits = []
    for md5, note in (("1111.dir", "week 1"), ("2222.dir", "week 2"), ("2222.dir", "docs")):
        (tmp_path / "dvc.lock").write_text(LOCK.format(md5=md5))
        (tmp_path / "NOTES").write_text(note)
        _git(tmp_path, "add", "-A")
        _git(tmp_path, "commit", "-qm", note)
        commits.append(_git(tmp_path, "rev-parse", "HEAD"))
    return tmp_path, commits


def _version(number: str, md5: str | None) -> VersionInfo:
    return VersionInfo(name="demo", version=number, stage="quantized", digest="d" * 64,
                       parent_digest=None, parent_version=None,
                       tags={DVC_MD5: md5} if md5 else {})


def test_promotion_tags_the_commit_that_recorded_the_weights(repo):
    import dvc.api

    root, commits = repo
    written = tag_promotion(root, _version("4", "2222.dir"), "production", message="gates pass")
    assert written == ["quantized@v4.0.0", "quantized#production#1"]
    for tag in written:
        assert _git(root, "cat-file", "-t", tag) == "tag"  # annotated, as GTO writes them
        assert _git(root, "rev-parse", f"{tag}^{{commit}}") == commits[1]
    assert "models:/demo/4: gates pass" in _git(root, "tag", "-n9", "quantized@v4.0.0")
    shown = dvc.api.artifacts_show("quantized", stage="production", repo=str(root))
    assert shown["rev"] == commits[1]
    # A second promotion of another version moves the stage; the version tag is made once.
    assert tag_promotion(root, _version("2", "1111.dir"), "production", message="rollback") \
        == ["quantized@v2.0.0", "quantized#production#2"]
    shown = dvc.api.artifacts_show("quantized", stage="production", repo=str(root))
    assert shown["rev"] == commits[0]


@pytest.mark.parametrize("md5, message", [
    (None, "has no DVC md5"),
    ("3333.dir", "commit dvc.lock after `dvc repro`"),
])
def test_a_version_without_a_committed_lock_is_refused_naming_the_fix(repo, md5, message):
    root, _ = repo
    with pytest.raises(SlimlineError, match=message):
        tag_promotion(root, _version("5", md5), "production", message="m")
    assert _git(root, "tag", "--list") == ""
