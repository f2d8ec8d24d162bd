"""DVC stage `quantize`: post-training quantization of the recovered model."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

from slimline.config import QuantizeStageConfig
from slimline.lineage.metadata import TOKENS_INPUT
from slimline.lineage.tags import CALIBRATION_TOKENS
from slimline.model_stage import StageResult
from slimline.pipeline import ModelStageContext, run_model_stage
from slimline.quantize import quantize_checkpoint


def build(ctx: ModelStageContext) -> StageResult:
    cfg = ctx.section(QuantizeStageConfig)
    result = quantize_checkpoint(ctx.parent, ctx.out, cfg, texts=ctx.texts, record=ctx.record,
                                 runtime=ctx.runtime())
    tokens = result.inputs.get(TOKENS_INPUT)
    if tokens:
        ctx.run.log_dataset(ctx.data_dir / ctx.split.file, name="quantize/calibration_tokens",
                            digest=tokens, context="calibration",
                            num_rows=getattr(cfg, "num_samples", None))
    ctx.run.set_tags({CALIBRATION_TOKENS: tokens or ""})
    return result


def main() -> None:
    run_model_stage("quantized", build, files=("recipe.yaml",))


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
