"""A bf16 base gives a bf16 pruned checkpoint, whatever dtype the importance ran in."""

import torch

from slimline.checkpoint import load_checkpoint, safetensors_header
from slimline.config import PruneConfig, RuntimeConfig
from slimline.data.corpus import build_corpus
from slimline.lineage.metadata import ArtifactMetadata
from slimline.prune.build import prune_checkpoint


def test_bf16_base_gives_bf16_pruned_checkpoint(tmp_path, trained_checkpoint):
    model, tok = load_checkpoint(trained_checkpoint)
    base = tmp_path / "base"
    model.to(torch.bfloat16).save_pretrained(base)
    tok.save_pretrained(base)
    ArtifactMetadata(stage="base", digest="b" * 64, parent_digest=None, params={}).write(base)
    cfg = PruneConfig(channel_ratio=0.5, round_to=32, num_batches=2, batch_size=2, seq_len=32)
    prune_checkpoint(base, tmp_path / "p", cfg, texts=list(build_corpus().train[:100]),
                     runtime=RuntimeConfig(device="cpu", dtype="float32"))
    dtypes = {e["dtype"] for f in (tmp_path / "p").glob("model*.safetensors")
              for n, e in safetensors_header(f).items() if n != "__metadata__"}
    assert dtypes == {"BF16"}
    inputs = ArtifactMetadata.read(tmp_path / "p").inputs
    assert (inputs["device"], inputs["compute_dtype"]) == ("cpu", "float32")
