"""`slimline serve`: a registered version's verified checkpoint, and a `vllm serve` command
whose arguments are read from that checkpoint."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from slimline.cli.main import main
from slimline.config import QuantizeConfig
from slimline.errors import SlimlineError
from slimline.registry import register_pipeline
from slimline.serve import start, vllm_command
from tests.registry.conftest import Project


@pytest.fixture(scope="module")
def quantized_checkpoint(tmp_path_factory, trained_checkpoint):
    """The tiny trained Llama, round-to-nearest W4A16 (group 32) in compressed-tensors."""
    from slimline.quantize import quantize_checkpoint

    out = tmp_path_factory.mktemp("quantized") / "ckpt"
    quantize_checkpoint(trained_checkpoint, out, QuantizeConfig(method="rtn", group_size=32),
                        texts=[])
    return out


@pytest.fixture
def project(tmp_path, monkeypatch, trained_checkpoint, quantized_checkpoint) -> Project:
    """A registered project whose quantized stage holds the real quantized checkpoint."""
    monkeypatch.setenv("SLIMLINE_ROOT", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    project = Project(tmp_path, trained_checkpoint)
    digests = project.pipeline()
    project.checkpoint = quantized_checkpoint
    project.stage("quantized", digests["recovered"], (2.1, 0.88),
                  params={"quantize": {"method": "rtn"}})
    register_pipeline(project.root, "demo", "slimline")
    return project


def test_dry_run_prints_a_vllm_command_matching_the_checkpoint(project, capsys):
    main(["serve", "@quantized", "--dry-run"])
    line = capsys.readouterr().out.splitlines()[0]
    argv = shlex.split(line)
    directory = argv[2]
    config = json.loads((project.root / "artifacts" / "quantized" / "config.json").read_text())
    assert config["quantization_config"]["quant_method"] == "compressed-tensors"
    assert argv[:2] == ["vllm", "serve"]
    assert json.loads((Path(directory) / "config.json").read_text()) == config
    # The tiny model is stored in float32; vLLM's quantized kernels need 16-bit activations.
    assert config["dtype"] == "float32"
    assert line.endswith(
        "--served-model-name demo demo/4 --quantization compressed-tensors --dtype bfloat16 "
        f"--max-model-len {config['max_position_embeddings']}")


def test_an_unquantized_base_gets_no_quantization_and_extra_args_pass_through(project,
                                                                               capsys):
    main(["serve", "@base", "--dry-run", "--served-model-name", "tiny",
          "--vllm-args=--port 8001"])
    argv = shlex.split(capsys.readouterr().out.splitlines()[0])
    assert "--quantization" not in argv
    assert argv[3:7] == ["--served-model-name", "tiny", "--dtype", "float32"]
    assert argv[-2:] == ["--port", "8001"]


def test_a_tampered_checkpoint_is_refused(project):
    (project.root / "artifacts" / "quantized" / "marker.txt").write_text("changed")
    with pytest.raises(SystemExit) as refused:
        main(["serve", "@quantized", "--dry-run"])
    assert refused.value.code == 1


def test_without_vllm_it_says_how_to_install(project, monkeypatch):
    monkeypatch.setattr("slimline.serve.vllm_executable", lambda: None)
    with pytest.raises(SlimlineError, match=r"pip install 'slimline\[gpu\]'"):
        start(["vllm", "serve", "x"])


def test_unknown_quantization_names_the_fix(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(
        {"quantization_config": {"quant_method": "hqq"}, "dtype": "bfloat16"}))
    with pytest.raises(SlimlineError, match="quant_method='hqq'.*--quantization"):
        vllm_command(tmp_path, ["m"])
