"""The `recover` stage: LoRA or distillation fine-tuning after pruning, merged into weights.

`losses` holds the pure loss functions, `train` the adapter loop, `build` the artifact.
"""

from slimline.recover.build import recover_checkpoint, write_loss_curve
from slimline.recover.losses import kd_loss

__all__ = ["kd_loss", "recover_checkpoint", "write_loss_curve"]
