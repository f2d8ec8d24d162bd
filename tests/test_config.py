import pytest
import yaml

from slimline.config import Params, compose, parse_model, parse_section
from slimline.errors import SlimlineError
from slimline.pipeline import PARAMS_FILE

from .conftest import REPO

CONF = REPO / "conf"


def test_committed_params_yaml_is_the_default_composition():
    committed = yaml.safe_load((REPO / PARAMS_FILE).read_text())
    assert committed == compose([], CONF)


def test_overrides_use_hydra_grammar():
    values = compose(["eval.batch_size=2", "model.train.steps=7", "data.seed=3"], CONF)
    assert values["eval"]["batch_size"] == 2
    assert values["model"]["train"]["steps"] == 7
    assert values["registry"]["model_name"] == "slimline"


def test_unknown_group_option_lists_the_valid_ones():
    with pytest.raises(SlimlineError, match=r"Could not find 'quantize/gtpq'[\s\S]*"
                       r"awq\s+fp8\s+gptq\s+none\s+rtn\s+w8a8"):
        compose(["quantize=gtpq"], CONF)


@pytest.mark.parametrize("override, message", [
    ("+model.hidden_sise=64", r"model.hidden_sise: unknown key \(did you mean hidden_size\?\)"),
    ("model.num_attention_heads=3", "hidden_size must be divisible by num_attention_heads"),
    ("eval.batch_size=0", r"eval.batch_size: Input should be greater than 0"),
    ("runtime.device=gpu", r"runtime.device: String should match pattern"),
    ("runtime.dtype=fp8", r"runtime.dtype: Input should be 'auto', 'bfloat16'"),
    ("runtime.threads=0", r"runtime.threads: Input should be greater than 0"),
])
def test_invalid_values_name_the_key(override, message):
    with pytest.raises(SlimlineError, match=message):
        compose([override], CONF)


def test_hf_model_needs_source_and_name():
    with pytest.raises(SlimlineError, match=r"model.source has no value .* model.source=VALUE"):
        compose(["model=hf", "model.name=x"], CONF)
    with pytest.raises(SlimlineError, match="model.name has no value"):
        compose(["model=hf", "model.source=/m"], CONF)
    values = compose(["model=hf", "model.source=/models/x", "model.name=x"], CONF)
    assert parse_model(values["model"]).source == "/models/x"
    assert values["registry"]["model_name"] == "slimline"  # chosen once, not from the base


def test_round_trip_through_yaml(tmp_path):
    values = compose([], CONF)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(values))
    again = parse_section(Params, yaml.safe_load(path.read_text()), "")
    assert again.model_dump() == parse_section(Params, values, "").model_dump()


def test_estimator_literal_is_the_registry():
    from typing import get_args

    from slimline.config import PruneConfig
    from slimline.prune.importance import ESTIMATORS

    assert list(get_args(PruneConfig.model_fields["estimator"].annotation)) == list(ESTIMATORS)


@pytest.mark.parametrize("override, message", [
    ("prune.channel_ratio=1.5", r"prune.channel_ratio: Input should be less than 1"),
    ("prune.channel_ratio=-0.1", r"prune.channel_ratio: Input should be greater than or equal"),
    ("prune.head_ratio=1", r"prune.head_ratio: Input should be less than 1"),
    ("prune.kv_group_ratio=2", r"prune.kv_group_ratio: Input should be less than 1"),
    ("prune.round_to=0", r"prune.round_to: Input should be greater than 0"),
    ("prune.estimator=taylor", r"prune.estimator: Input should be 'taylor_first'"),
])
def test_prune_bounds_are_checked_at_composition(override, message):
    with pytest.raises(SlimlineError, match=message):
        compose([override], CONF)


def test_cli_compose_refuses_an_out_of_range_ratio(tmp_path, monkeypatch, capsys):
    import shutil

    from slimline.cli.main import main

    shutil.copytree(CONF, tmp_path / "conf", ignore=shutil.ignore_patterns("choices"))
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    monkeypatch.chdir(tmp_path)
    main(["compose"])
    before = (tmp_path / PARAMS_FILE).read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["compose", "prune.channel_ratio=1.5"])
    assert exc.value.code != 0
    assert "prune.channel_ratio" in capsys.readouterr().err
    assert (tmp_path / PARAMS_FILE).read_bytes() == before
    assert not (tmp_path / "conf" / "choices").exists() or not any(
        (tmp_path / "conf" / "choices").iterdir())
