"""The evaluation suite run on every model stage: lm-eval tasks plus measured speed."""

from slimline.evaluate.perplexity import perplexity
from slimline.evaluate.run import EvalResult, evaluate_checkpoint

__all__ = ["EvalResult", "evaluate_checkpoint", "perplexity"]
