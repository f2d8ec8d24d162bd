"""DVC stage `prune`: structured, depth or 2:4 pruning of the base (or a pass-through for
prune=none)."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

from slimline.config import PruneStageConfig
from slimline.lineage.tags import split_sha256
from slimline.model_stage import StageResult
from slimline.pipeline import ModelStageContext, run_model_stage
from slimline.prune.build import KEPT_FILE, prune_checkpoint
from slimline.prune.depth import DEPTH_FILE


def build(ctx: ModelStageContext) -> StageResult:
    ctx.run.log_split(ctx.data_dir, ctx.split)
    ctx.run.set_tags({split_sha256(ctx.split.name): ctx.split.sha256})
    return prune_checkpoint(ctx.parent, ctx.out, ctx.section(PruneStageConfig), texts=ctx.texts,
                            record=ctx.record, runtime=ctx.runtime())


def main() -> None:
    run_model_stage("pruned", build, files=(KEPT_FILE, DEPTH_FILE))  # those present


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
