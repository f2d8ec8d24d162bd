import subprocess
import sys

import yaml

from slimline.cli.main import main

from ..conftest import REPO


def test_help_is_useful_and_fast():
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "slimline.cli.main",
                          "--help"], capture_output=True, text=True, check=True)
    assert "compose" in out.stdout and "dvc repro" in out.stdout
    assert "torch" not in out.stderr.split()  # heavy libraries stay out of --help


def test_compose_help_shows_examples(capsys):
    try:
        main(["compose", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    text = capsys.readouterr().out
    assert "slimline compose model=hf" in text and "dvc exp run -S" in text


def test_compose_writes_params(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    out = tmp_path / "params.yaml"
    main(["compose", "eval.batch_size=3", "-o", str(out)])
    text = out.read_text()
    assert text.startswith("# Generated from conf/")
    assert yaml.safe_load(text)["eval"]["batch_size"] == 3


def test_bad_override_is_a_message_not_a_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "slimline.cli.main", "compose",
                             "prune=nope", "--print"], capture_output=True, text=True,
                            cwd=REPO)
    assert result.returncode == 1
    assert result.stderr.startswith("error: prune=nope: prune has no option 'nope'")
    assert "Traceback" not in result.stderr
