import json

import pytest

from slimline._digest import file_sha256
from slimline.config import DataConfig, SplitConfig
from slimline.data import build_splits, read_documents, read_manifest
from slimline.errors import SlimlineError


def test_builtin_splits_carry_their_digests(tmp_path):
    cfg = DataConfig(calibration=SplitConfig(num_docs=16), recovery=SplitConfig(num_docs=32),
                     evaluation=SplitConfig(num_docs=8))
    infos = {i.name: i for i in build_splits(cfg, tmp_path / "data")}
    assert {n: i.num_docs for n, i in infos.items()} == {
        "calibration": 16, "recovery": 32, "evaluation": 8, "facts": 360}
    for info in infos.values():
        assert file_sha256(tmp_path / "data" / info.file) == info.sha256
    assert read_manifest(tmp_path / "data") == infos
    calib = set(read_documents(tmp_path / "data" / "calibration.jsonl"))
    recov = set(read_documents(tmp_path / "data" / "recovery.jsonl"))
    assert not calib & recov


def test_same_config_same_bytes_other_seed_other_bytes(tmp_path):
    cfg = DataConfig(calibration=SplitConfig(num_docs=8), recovery=SplitConfig(num_docs=8))
    a = build_splits(cfg, tmp_path / "a")
    b = build_splits(cfg, tmp_path / "b")
    c = build_splits(cfg.model_copy(update={"seed": 1}), tmp_path / "c")
    assert [i.sha256 for i in a] == [i.sha256 for i in b]
    assert a[0].sha256 != c[0].sha256


def test_user_files_jsonl_and_text(tmp_path):
    (tmp_path / "cal.jsonl").write_text('{"body": "one"}\n{"body": "two"}\n\n')
    (tmp_path / "rec.txt").write_text("first doc\nstill first\n\nsecond doc\n")
    (tmp_path / "ev.jsonl").write_text('{"body": "eval text"}\n')
    cfg = DataConfig(source="files", text_field="body",
                     calibration=SplitConfig(path="cal.jsonl"),
                     recovery=SplitConfig(path="rec.txt"), evaluation=SplitConfig(path="ev.jsonl"))
    infos = {i.name: i for i in build_splits(cfg, tmp_path / "out", root=tmp_path)}
    assert infos["calibration"].num_docs == 2
    rows = [json.loads(x) for x in (tmp_path / "out" / "recovery.jsonl").read_text().splitlines()]
    assert rows == [{"text": "first doc\nstill first"}, {"text": "second doc"}]
    assert "facts" not in infos


@pytest.mark.parametrize("content, message", [
    ('{"text": 1}\n', "no string field 'text'"),
    ("not json\n", "is not valid JSON"),
    ("", "holds no documents"),
])
def test_bad_user_file_names_file_and_fix(tmp_path, content, message):
    (tmp_path / "bad.jsonl").write_text(content)
    with pytest.raises(SlimlineError, match=message) as err:
        read_documents(tmp_path / "bad.jsonl")
    assert "bad.jsonl" in str(err.value)


def test_failed_build_leaves_no_artifact(tmp_path):
    cfg = DataConfig(source="files", calibration=SplitConfig(path="missing.jsonl"),
                     recovery=SplitConfig(path="missing.jsonl"),
                     evaluation=SplitConfig(path="missing.jsonl"))
    with pytest.raises(SlimlineError, match="missing.jsonl does not exist"):
        build_splits(cfg, tmp_path / "out", root=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_config_rejects_path_with_builtin_and_missing_path_with_files():
    with pytest.raises(ValueError, match="data.source=files needs data.calibration.path"):
        DataConfig(source="files")
    with pytest.raises(ValueError, match="use data=files"):
        DataConfig(calibration=SplitConfig(path="x.jsonl"))
