"""A checkpoint changed after registration is refused by every loader, naming the version,
and files gone from everywhere are named with where they were looked for."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from slimline.cli.main import main
from slimline.errors import SlimlineError
from tests.bad_input._project import assert_message, registry_versions
from tests.registry.conftest import Project


def _flip_a_weight(d: Path) -> None:
    data = bytearray((d / "model.safetensors").read_bytes())
    data[-1] ^= 0xFF  # the last byte of tensor data: the header still parses
    (d / "model.safetensors").write_bytes(bytes(data))


CHANGES: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "a weight rewritten": (_flip_a_weight, [r"holds another artifact now"]),
    "a file added": (lambda d: (d / "adapter.bin").write_bytes(b"\0" * 16),
                     [r"holds another artifact now"]),
    "a file removed": (lambda d: (d / "tokenizer.json").unlink(),
                       [r"holds another artifact now"]),
    "the directory gone": (shutil.rmtree, [r"cannot find the files of", r"artifacts/base",
                                           r"dvc pull"]),
}


def _load_python(root: Path, capsys) -> str:
    from slimline.registry.load import load

    with pytest.raises(SlimlineError) as err:
        load("models:/demo@base", root=root)
    return str(err.value)


def _load_cli(root: Path, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        main(["load", "models:/demo@base"])
    assert exit_.value.code == 1
    return capsys.readouterr().err


LOADERS = {"slimline.load": _load_python, "slimline load": _load_cli}


@pytest.fixture
def project(tmp_path, monkeypatch, trained_checkpoint) -> Project:
    from slimline.registry import register_pipeline

    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no verified copy there
    project = Project(tmp_path, trained_checkpoint)
    project.pipeline()
    register_pipeline(project.root, "demo", "slimline")
    return project


@pytest.mark.parametrize("change", CHANGES)
def test_a_checkpoint_changed_after_registration_is_refused(project, capsys, change):
    make, words = CHANGES[change]
    make(project.root / "artifacts" / "base")
    versions = registry_versions()
    for loader in LOADERS.values():
        message = loader(project.root, capsys)
        assert_message(message, [r"demo", *words])
    assert registry_versions() == versions  # refusing registers or moves nothing
