"""Every model stage is built through one shape: parent -> transform or pass-through -> seal."""

import json

import torch
from safetensors.torch import save_file

from slimline._digest import directory_digest
from slimline.lineage.metadata import ArtifactMetadata, Provenance
from slimline.model_stage import Made, build_model_stage
from slimline.stages import model_stage


def _weights(n: int):
    def transform(tmp):
        save_file({"w": torch.zeros(n, 2)}, str(tmp / "model.safetensors"))
        (tmp / "config.json").write_text(json.dumps({"n": n}))
        return Made(metrics={"made": 1.0}, inputs={"seen": "x"}, extra={"n": n})
    return transform


def _story(parent_digest, metrics):
    return f"from {parent_digest} with {metrics['num_parameters']:.0f} parameters"


def test_a_transform_is_measured_recorded_and_sealed(tmp_path):
    base = build_model_stage(model_stage("base"), None, tmp_path / "base",
                             transform=_weights(3), story=_story, title="a base")
    pruned = build_model_stage(model_stage("pruned"), base.path, tmp_path / "pruned",
                               transform=_weights(2), story=_story,
                               record=Provenance({"prune": {"method": "x"}}, {"split": "s"}),
                               measure=lambda m: {**m, "half": m["num_parameters"] / 2})
    meta = ArtifactMetadata.read(pruned.path)
    assert (meta.stage, meta.parent_digest, pruned.parent_digest) == ("pruned", base.digest,
                                                                      base.digest)
    assert pruned.digest == meta.digest == directory_digest(pruned.path) != base.digest
    assert meta.metrics == pruned.metrics == {"made": 1.0, "num_parameters": 4, "half": 2.0,
                                              "size_bytes": _size(pruned.path)}
    assert meta.inputs == pruned.inputs == {"split": "s", "seen": "x"}
    assert meta.params == {"prune": {"method": "x"}}
    assert (pruned.skipped, pruned.extra) == (False, {"n": 2})
    card = (pruned.path / "README.md").read_text()
    assert card.startswith("# pruned model\n") and f"from {base.digest} with 4 parameters" in card
    assert (base.path / "README.md").read_text().startswith("# a base\n")


def test_a_skipped_stage_passes_its_parent_through_under_its_own_name(tmp_path):
    base = build_model_stage(model_stage("base"), None, tmp_path / "base",
                             transform=_weights(3), story=_story)
    skipped = build_model_stage(model_stage("recovered"), base.path, tmp_path / "r",
                                transform=None, story=_story)
    assert skipped.skipped and skipped.digest == base.digest == skipped.parent_digest
    assert ArtifactMetadata.read(skipped.path).stage == "recovered"
    assert "Recovery skipped (recover=none): the pruned checkpoint, unchanged." in (
        skipped.path / "README.md").read_text()


def _size(directory):
    return sum(p.stat().st_size for p in directory.glob("*.safetensors"))
