"""Data slimline cannot use is refused by `slimline compose` and by the stages that read it,
named by file (and line), before anything is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from slimline.cli.main import main

from ._project import assert_message, make_project, state

FILES = ["data=files", "data.calibration.path=d/c.jsonl", "data.recovery.path=d/r.jsonl",
         "data.evaluation.path=d/e.jsonl", "eval.tasks=[slimline_heldout]",
         "registry.gates.slimline_facts_mc=null", "registry.gates.slimline_facts_gen=null",
         "data.calibration.num_docs=null", "data.recovery.num_docs=null"]
GOOD = "".join(f'{{"text": "document {i}"}}\n' for i in range(20))

CASES = {
    # name: (file, its bytes, key words: the input, then the fix)
    "empty calibration file": ("c.jsonl", b"", [r"d/c\.jsonl holds no documents",
                                                r"fill it"]),
    "blank recovery file": ("r.jsonl", b"\n\n  \n", [r"d/r\.jsonl holds no documents"]),
    "non-UTF-8 text": ("r.jsonl", GOOD.encode() + '{"text": "café"}\n'.encode("latin-1"),
                       [r"d/r\.jsonl:21 is not UTF-8", r"byte 0xe9", r"convert the file"]),
    "a line that is not JSON": ("c.jsonl", (GOOD + '{"text": "cut sh\n').encode(),
                                [r"d/c\.jsonl:21 is not valid JSON",
                                 r"one JSON object per line"]),
    "a line without the text field": ("e.jsonl", (GOOD + '{"body": "x"}\n').encode(),
                                      [r"d/e\.jsonl:21 has no string field 'text'",
                                       r"data\.text_field"]),
}


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(make_project(tmp_path))
    (tmp_path / "d").mkdir()
    for name in ("c", "r", "e"):
        (tmp_path / "d" / f"{name}.jsonl").write_text(GOOD)
    return tmp_path


@pytest.mark.parametrize("case", CASES)
def test_compose_refuses_the_data(project, capsys, case):
    name, data, words = CASES[case]
    (project / "d" / name).write_bytes(data)
    before = state(project)
    with pytest.raises(SystemExit) as exit_:
        main(["compose", *FILES])
    assert exit_.value.code == 1
    assert_message(capsys.readouterr().err.replace(str(project) + "/", ""), words)
    assert state(project) == before


@pytest.mark.parametrize("case", CASES)
def test_data_stage_refuses_the_data(project, case):
    from slimline.config import DataConfig
    from slimline.data import build_splits
    from slimline.errors import SlimlineError

    name, data, words = CASES[case]
    (project / "d" / name).write_bytes(data)
    cfg = DataConfig(source="files", calibration={"path": "d/c.jsonl"},
                     recovery={"path": "d/r.jsonl"}, evaluation={"path": "d/e.jsonl"})
    before = state(project)
    with pytest.raises(SlimlineError) as err:
        build_splits(cfg, project / "artifacts" / "data", root=project)
    assert_message(str(err.value).replace(str(project) + "/", ""), words)
    assert state(project) == before


def _too_short(stage: str, project: Path, parent: Path) -> None:
    from slimline.config import QuantizeStageConfig, RecoverStageConfig, parse_section

    texts = ["A single short document."]
    if stage == "quantize":
        from slimline.quantize import quantize_checkpoint

        cfg = parse_section(QuantizeStageConfig, {"method": "gptq", "group_size": 32},
                            "quantize")
        quantize_checkpoint(parent, project / "artifacts" / "quantized", cfg, texts=texts)
    else:
        from slimline.recover import recover_checkpoint

        cfg = parse_section(RecoverStageConfig, {"method": "lora", "steps": 1}, "recover")
        recover_checkpoint(parent, project / "artifacts" / "recovered", cfg, texts=texts,
                           teacher=None)


@pytest.mark.parametrize("stage, words", [
    ("quantize", [r"calibration split gives 0 windows of 128 tokens",
                  r"quantize\.num_samples=\d+", r"data\.calibration\.num_docs"]),
    ("recover", [r"recovery split has \d+ tokens", r"recover\.seq_len=128",
                 r"more data or a shorter seq_len"]),
])
def test_a_split_too_short_for_its_stage(project, trained_checkpoint, stage, words):
    """Token counts need the base's tokenizer, so the stage checks them before its work."""
    from slimline.errors import SlimlineError

    before = state(project)
    with pytest.raises(SlimlineError) as err:
        _too_short(stage, project, trained_checkpoint)
    assert_message(str(err.value), words)
    assert state(project) == before
