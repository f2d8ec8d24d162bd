"""`slimline compose` keeps the user's choices in conf/, and DVC's own Hydra composition
(what `dvc exp run -S` calls) starts from them."""

import shutil
from pathlib import Path

import pytest
import yaml

from slimline.choices import choices_file, compose_choices, read_choices
from slimline.cli.main import main
from slimline.errors import SlimlineError

from .conftest import REPO

USER = ["data=files", "data.calibration.path=mine/c.jsonl", "data.recovery.path=mine/r.jsonl",
        "data.evaluation.path=mine/e.jsonl", "eval.tasks=[slimline_heldout]",
        "eval.golden=[golden/support.jsonl]", "prune.channel_ratio=0.5",
        "registry.gates.slimline_facts_mc=null", "registry.gates.slimline_facts_gen=null"]


@pytest.fixture
def project(tmp_path) -> Path:
    shutil.copytree(REPO / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("choices"))
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "mine").mkdir()
    for name in ("c", "r", "e"):
        (tmp_path / "mine" / f"{name}.jsonl").write_text(
            "".join(f'{{"text": "document {i} of {name}"}}\n' for i in range(300)))
    (tmp_path / "golden").mkdir()
    (tmp_path / "golden" / "support.jsonl").write_text('{"prompt": "2+2=", "answer": "4"}\n')
    return tmp_path


def _dvc_compose(project: Path, overrides: list[str]) -> dict:
    """What `dvc exp run -S OVERRIDES` writes to params.yaml (DVC's own function)."""
    from dvc.utils.hydra import compose_and_dump

    out = project / "dvc-params.yaml"
    compose_and_dump(out, str(project / "conf"), None, "config", str(project), overrides)
    return yaml.safe_load(out.read_text())


def test_dvc_exp_run_starts_from_what_compose_chose(project):
    values, _ = compose_choices(USER, project / "conf", project)
    assert read_choices(project / "conf") == USER
    dvc = _dvc_compose(project, ["recover.lr=0.01"])
    assert dvc["data"]["source"] == "files"
    assert dvc["data"]["calibration"]["path"] == "mine/c.jsonl"
    assert dvc["data"]["deps"]["recovery"] == "mine/r.jsonl"
    assert dvc["eval"]["tasks"] == ["slimline_heldout"]
    assert dvc["eval"]["golden"] == ["golden/support.jsonl"]
    assert dvc["prune"]["channel_ratio"] == 0.5 and dvc["recover"]["lr"] == 0.01
    assert dvc["overrides"] == USER  # params.yaml says which choices it was made with
    assert {k: v for k, v in dvc.items() if k != "recover"} == {
        k: v for k, v in values.items() if k != "recover"}


def test_compose_without_overrides_goes_back_to_the_defaults(project):
    compose_choices(USER, project / "conf", project)
    values, _ = compose_choices([], project / "conf", project)
    assert not choices_file(project / "conf").exists()
    assert values["data"]["source"] == "builtin" and values["overrides"] == []
    assert _dvc_compose(project, []) == values


def test_a_failed_compose_keeps_the_previous_choices(project):
    compose_choices(USER, project / "conf", project)
    before = choices_file(project / "conf").read_text()
    with pytest.raises(SlimlineError, match="slimline_facts_mc"):
        compose_choices(["data=files", "data.calibration.path=mine/c.jsonl",
                         "data.recovery.path=mine/r.jsonl", "data.evaluation.path=mine/e.jsonl"],
                        project / "conf", project)
    assert choices_file(project / "conf").read_text() == before


@pytest.mark.parametrize("override, message", [
    ("~eval.golden", "cannot delete a key"),
    ("prune.channel_ratio=0.1,0.2", "is a sweep"),
])
def test_overrides_a_file_cannot_keep_are_refused(project, override, message):
    with pytest.raises(SlimlineError, match=message):
        compose_choices([override], project / "conf", project)
    assert not choices_file(project / "conf").exists()


def test_cli_keeps_choices_only_for_the_projects_params(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    main(["compose", "eval.limit=5", "-o", str(project / "preview.yaml")])
    assert not choices_file(project / "conf").exists()
    main(["compose", "eval.limit=5"])
    params = (project / "params.yaml").read_text()
    assert "overrides` key lists the choices" in params
    assert yaml.safe_load(params)["overrides"] == ["eval.limit=5"]
    assert read_choices(project / "conf") == ["eval.limit=5"]
    assert "kept in" in capsys.readouterr().out
