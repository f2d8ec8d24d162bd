"""A temporary slimline project as a user has it, and the state a refused input must keep."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from pathlib import Path

from tests.conftest import REPO

# What a previous, successful run left: a refused input must leave it exactly as it is.
PREVIOUS = {"artifacts/data/manifest.json": '{"splits": []}\n',
            "artifacts/base/config.json": '{"model_type": "llama"}\n'}


def make_project(root: Path) -> Path:
    """conf/, dvc.yaml, a params.yaml composed earlier and a previous run's artifacts."""
    shutil.copytree(REPO / "conf", root / "conf", ignore=shutil.ignore_patterns("choices"))
    shutil.copy(REPO / "dvc.yaml", root / "dvc.yaml")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")
    for rel, text in PREVIOUS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def registry_versions() -> int:
    """Model versions in this test's MLflow store (conftest points MLFLOW_TRACKING_URI at a
    fresh SQLite file), read without MLflow so a check costs nothing."""
    path = Path(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        try:
            return db.execute("select count(*) from model_versions").fetchone()[0]
        except sqlite3.OperationalError:  # no registry tables yet
            return 0


def _tree(directory: Path) -> dict[str, str]:
    """Every path under `directory`, hidden ones (temporary dirs) included, with file digests."""
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest()
                                            if p.is_file() else "dir")
            for p in sorted(directory.rglob("*"))}


def state(root: Path) -> dict:
    """What a refused input must not change: params.yaml, the kept choices, artifacts/ (no
    partial or temporary directory either) and the registry."""
    return {"params.yaml": (root / "params.yaml").read_bytes(),
            "conf/choices": _tree(root / "conf" / "choices"),
            "artifacts": _tree(root / "artifacts"),
            "registry versions": registry_versions()}


def assert_message(message: str, words: list[str]) -> None:
    """The message is one paragraph and names the input and the fix (its key words)."""
    import re

    assert message.strip(), "no message"
    lines = [line for line in message.splitlines() if line.strip()]
    assert len(lines) <= 2, f"more than one paragraph (a traceback?):\n{message}"
    for word in words:
        assert re.search(word, message, re.IGNORECASE), f"{word!r} not in: {message}"
