import pytest
import yaml

from slimline.errors import SlimlineError
from slimline.pipeline import declared_params, load_params, stage_params

from .conftest import REPO

STAGES = [name for name in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]]


@pytest.mark.parametrize("stage", STAGES)
def test_every_declared_param_exists(stage):
    params = stage_params(stage, REPO)
    # Every stage is configured (the report by report.fit, its hardware-fit settings).
    assert params, f"stage {stage} params: {params}"


def test_stage_params_are_exactly_the_declared_keys():
    assert declared_params("prune", REPO) == ["prune", "runtime.device", "runtime.dtype",
                                              "runtime.threads"]
    assert declared_params("eval@base", REPO) == ["eval"]
    assert stage_params("eval@base", REPO) == {"eval": load_params(REPO)["eval"]}
    assert set(stage_params("base", REPO)) == {"model"}


def test_unknown_stage_and_missing_key(tmp_path):
    with pytest.raises(SlimlineError, match="no stage 'nope'"):
        declared_params("nope", REPO)
    (tmp_path / "dvc.yaml").write_text("stages:\n  s:\n    cmd: x\n    params: [a.b]\n")
    (tmp_path / "params.yaml").write_text("a: {c: 1}\n")
    with pytest.raises(SlimlineError, match="no key 'a.b'"):
        stage_params("s", tmp_path)
