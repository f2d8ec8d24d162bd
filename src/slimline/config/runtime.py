"""The `runtime` section: where and in what dtype every model stage computes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from slimline.config._section import _Section


class RuntimeConfig(_Section):
    """Where every model stage (prune, recover, quantize, eval) computes, and in what.

    Checkpoints keep their stored dtype on disk whatever the compute dtype
    (`slimline.runtime.resolve` makes the decision).

    Example (conf/runtime/default.yaml)::

        device: auto        # cuda when torch sees a GPU, else cpu
        dtype: auto         # bf16 on CUDA and on CPUs with native bf16, fp32 otherwise
        threads: null
    """

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$",
                        description="auto (cuda when present, else cpu), cpu, cuda or cuda:N.")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="Compute dtype: auto = bf16 on CUDA with bf16 support and on CPUs "
        "with native bf16, fp32 otherwise.")
    threads: int | None = Field(None, gt=0, description="torch CPU threads; null = all cores.")

    def resolve(self):
        """(torch.device, compute torch.dtype) for this machine; sets the thread count."""
        import torch

        from slimline import runtime

        if self.threads:
            torch.set_num_threads(self.threads)
        return runtime.resolve(self.device, self.dtype)
