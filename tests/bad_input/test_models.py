"""A base checkpoint slimline cannot use is refused by `slimline compose` and by the base
stage, naming the file and the fix, before anything is written."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from slimline.cli.main import main

from ._project import assert_message, make_project, state


def _config(edit: dict) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        cfg = json.loads((d / "config.json").read_text())
        (d / "config.json").write_text(json.dumps({**cfg, **edit}))
    return make


def _truncate(d: Path) -> None:
    weights = d / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])


def _foreign_tokenizer(d: Path) -> None:
    """The tokenizer of a bigger vocabulary than the model's embedding rows."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(d)
    tokenizer.add_tokens([f"<extra_{i}>" for i in range(500)])
    tokenizer.save_pretrained(d)


def _remove(d: Path) -> None:
    shutil.rmtree(d)


CASES = {
    # name: (how the good checkpoint is damaged, key words: the input, then the fix)
    "missing": (_remove, [r"model\.source='?\S*ckpt'? does not exist", r"point it at"]),
    "unknown architecture": (_config({"model_type": "frobnicator"}),
                             [r"model_type='frobnicator'", r"does not know",
                              r"supported architecture"]),
    "truncated safetensors": (_truncate, [r"model\.safetensors is not a complete safetensors",
                                          r"fetch it again"]),
    "config not JSON": (lambda d: (d / "config.json").write_text('{"model_type": "llama",'),
                        [r"config\.json is not JSON", r"save_pretrained"]),
    "tokenizer of another vocabulary": (_foreign_tokenizer,
                                        [r"tokenizer has 8\d\d tokens", r"embedding has 384 rows",
                                         r"tokenizer this model was trained with"]),
}
# Loadable, but not by the prune stage: refused at composition (the base stage keeps it).
PRUNE_ONLY = {"unsupported for pruning": (_config({"model_type": "gpt2"}),
                                          [r"model\.source=ckpt", r"gpt2", r"prune=none"])}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(make_project(tmp_path))
    return tmp_path


def _damaged(project: Path, good: Path, make: Callable[[Path], None]) -> Path:
    ckpt = project / "ckpt"
    shutil.copytree(good, ckpt)
    make(ckpt)
    return ckpt


@pytest.mark.parametrize("case", [*CASES, *PRUNE_ONLY])
def test_compose_refuses_the_base(project, trained_checkpoint, capsys, case):
    make, words = {**CASES, **PRUNE_ONLY}[case]
    _damaged(project, trained_checkpoint, make)
    before = state(project)
    with pytest.raises(SystemExit) as exit_:
        main(["compose", "model=hf", "model.name=mine", "model.source=ckpt"])
    assert exit_.value.code == 1
    assert_message(capsys.readouterr().err, words)
    assert state(project) == before


@pytest.mark.parametrize("case", CASES)
def test_base_stage_refuses_the_base(project, trained_checkpoint, case):
    """The stage checks again (params.yaml may come from `dvc exp run -S`, or the files
    changed since composing) and leaves the previous artifacts/base as it was."""
    from slimline.base import build_base
    from slimline.config import HFModelConfig
    from slimline.errors import SlimlineError

    make, words = CASES[case]
    ckpt = _damaged(project, trained_checkpoint, make)
    before = state(project)
    with pytest.raises(SlimlineError) as err:
        build_base(HFModelConfig(name="mine", source=str(ckpt)), project / "artifacts" / "base",
                   params={})
    assert_message(str(err.value).replace(str(project) + "/", ""), words)
    assert state(project) == before
