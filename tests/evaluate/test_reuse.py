"""Where kept evaluations live: the project's, shared by its queued experiments."""

from __future__ import annotations

from slimline.evaluate.reuse import CACHE_DIR, cache_dir


def test_cache_dir_is_the_projects(tmp_path, monkeypatch):
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    assert cache_dir(tmp_path) == tmp_path / CACHE_DIR


def test_queued_experiments_share_the_repositorys(tmp_path, monkeypatch):
    # A queued experiment runs in a copy under .dvc/tmp/exps/; DVC names the repository.
    copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc"
    monkeypatch.setenv("DVC_EXP_NAME", "sw-123456-rtn")
    monkeypatch.setenv("DVC_ROOT", str(tmp_path))
    assert cache_dir(copy) == tmp_path.resolve() / CACHE_DIR
    monkeypatch.delenv("DVC_EXP_NAME")  # `dvc repro` in a subdirectory also sets DVC_ROOT
    assert cache_dir(copy) == copy / CACHE_DIR
