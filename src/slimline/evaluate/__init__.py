"""The evaluation suite run on every model stage."""

from slimline.evaluate.run import evaluate_checkpoint

__all__ = ["evaluate_checkpoint"]
