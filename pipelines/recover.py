"""DVC stage `recover`: LoRA / distillation fine-tune of the pruned model, merged."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

from slimline.config import RecoverStageConfig
from slimline.model_stage import StageResult
from slimline.paths import PLOTS
from slimline.pipeline import ModelStageContext, run_model_stage
from slimline.recover import recover_checkpoint, write_loss_curve


def build(ctx: ModelStageContext) -> StageResult:
    ctx.run.log_split(ctx.data_dir, ctx.split)
    result = recover_checkpoint(ctx.parent, ctx.out, ctx.section(RecoverStageConfig),
                                texts=ctx.texts, teacher=ctx.artifact("base"),
                                record=ctx.record, runtime=ctx.runtime())
    losses = result.extra.get("losses", [])
    ctx.run.log_series("recover_loss_step", losses)
    write_loss_curve(ctx.root / PLOTS / "recover_loss.json", losses)
    return result


def main() -> None:
    run_model_stage("recovered", build)


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
