"""Cost of each stage against model size, on randomly initialised models of real shapes.

Usage: python bench/scale.py [--models llama-10m,llama-100m,qwen2.5-0.5b] [--stages prune]
       (stages: the keys of STAGES: prune, prune_activation, prune_depth,
       prune_sparse24, quantize (gptq), quantize_fp8, quantize_w8a8, recover, eval)
       [--workdir DIR] [--keep] [--results DIR]
       GPU leg: bench/gpu.sh (llama3-8b, a Llama-3-8B-shaped model, on one CUDA GPU).
Builds bf16 checkpoints from transformers configs (no weights can be downloaded), runs each
stage's library function on each in a fresh subprocess (so peak RSS is that stage's alone),
and writes bench/results/scale.{json,md,png} with wall time and peak RSS against parameter
count and weight bytes (and peak GPU memory where a stage used a GPU), plus fitted growth
exponents (cost ∝ params^k). Stages are entries of `STAGES`. Each run's output directory is
removed once measured (`--keep` keeps them), except the default prune's, kept as `pruned`
next to the base: the recover stage starts from it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
# name -> (architecture, config overrides). qwen2.5-0.5b is Qwen/Qwen2.5-0.5B's config.json.
MODELS = {
    "llama-10m": ("llama", dict(vocab_size=8192, hidden_size=384, intermediate_size=1024,
                                num_hidden_layers=4, num_attention_heads=6,
                                num_key_value_heads=2)),
    "llama-100m": ("llama", dict(vocab_size=32000, hidden_size=768, intermediate_size=2048,
                                 num_hidden_layers=8, num_attention_heads=12,
                                 num_key_value_heads=4)),
    "qwen2.5-0.5b": ("qwen2", dict(vocab_size=151936, hidden_size=896, intermediate_size=4864,
                                   num_hidden_layers=24, num_attention_heads=14,
                                   num_key_value_heads=2, tie_word_embeddings=True,
                                   max_position_embeddings=32768, rope_theta=1000000.0,
                                   rms_norm_eps=1e-6)),
    # meta-llama/Meta-Llama-3-8B's config.json: for a GPU (16 GB of bf16 weights).
    "llama3-8b": ("llama", dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336,
                                num_hidden_layers=32, num_attention_heads=32,
                                num_key_value_heads=8, max_position_embeddings=8192,
                                rope_theta=500000.0, rms_norm_eps=1e-5)),
}
CPU_MODELS = ("llama-10m", "llama-100m", "qwen2.5-0.5b")  # the default: what 2 cores can run
TOKENIZER_VOCAB = 4096  # a byte-level BPE trained on the corpus; ids stay below every vocab


def build_checkpoint(name: str, out: Path) -> None:
    """A randomly initialised bf16 checkpoint with a tokenizer and a base `slimline.json`."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    from slimline.base._tiny import train_tokenizer
    from slimline.data.corpus import build_corpus
    from slimline.lineage.metadata import seal_artifact

    arch, overrides = MODELS[name]
    tokenizer = train_tokenizer(build_corpus().train, TOKENIZER_VOCAB)
    config = {"llama": LlamaConfig, "qwen2": Qwen2Config}[arch](
        **{"max_position_embeddings": 4096, **overrides},
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    # Random initialisation of 8 B parameters takes minutes on a CPU and seconds on a GPU.
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    seal_artifact(out, stage="base", parent_digest=None, params={"bench": name}, metrics={},
                  inputs={}, run_id=None, title=f"{name} (random)", story="bench/scale.py")


def _prune_configs() -> dict:
    """The prune stage's configuration per bench stage: the default (taylor_first), and the
    other methods with their defaults."""
    from slimline.config import PruneConfig
    from slimline.config.prune import DepthPruneConfig, Sparse24PruneConfig

    return {"prune": PruneConfig(), "prune_activation": PruneConfig(estimator="activation"),
            "prune_depth": DepthPruneConfig(), "prune_sparse24": Sparse24PruneConfig()}


def child_prune(parent: Path, work: Path, stage: str = "prune") -> dict:
    """Exactly what the prune stage's library call does, with that method's default params."""
    from slimline.data.corpus import build_corpus
    from slimline.prune.build import prune_checkpoint

    texts = list(build_corpus().train[:256])  # as many documents as the default split
    target = work / "pruned"
    if stage == "prune" and not (parent.parent / "pruned" / "slimline.json").exists():
        target = parent.parent / "pruned"  # kept: child_recover starts from it
    start = time.perf_counter()
    result = prune_checkpoint(parent, target, _prune_configs()[stage], texts=texts)
    out = {"seconds": time.perf_counter() - start,
           **{k: result.metrics[k] for k in ("importance_seconds", "importance_tokens_per_s",
                                             "params_removed_share") if k in result.metrics}}
    meta = json.loads((target / "slimline.json").read_text())
    return {**out, "device": meta["inputs"]["device"],
            "compute_dtype": meta["inputs"]["compute_dtype"]}


def child_quantize(parent: Path, work: Path, method: str = "gptq") -> dict:
    """The quantize stage's library call with that method's defaults, calibrated (when the
    method calibrates) on the corpus's training documents as the default split is."""
    from slimline.config import QuantizeConfig
    from slimline.data.corpus import build_corpus
    from slimline.quantize import quantize_checkpoint

    texts = list(build_corpus().train[:256])
    start = time.perf_counter()
    quantize_checkpoint(parent, work / "quantized", QuantizeConfig(method=method), texts=texts)
    meta = json.loads((work / "quantized" / "slimline.json").read_text())
    return {"seconds": time.perf_counter() - start,
            "device": meta["inputs"].get("device", "cpu"),
            "compute_dtype": meta["inputs"].get("compute_dtype", "stored")}


def child_eval(parent: Path, work: Path) -> dict:
    """The evaluation stage's library call: the default suite on the default data splits,
    with a small `eval.limit` as a short pipeline run uses."""
    from slimline.config import DataConfig, EvalConfig
    from slimline.data import build_splits
    from slimline.evaluate.run import evaluate_checkpoint

    build_splits(DataConfig(), work / "data")
    start = time.perf_counter()
    result = evaluate_checkpoint(parent, work / "data", EvalConfig(limit=8), root=work)
    return {"seconds": time.perf_counter() - start, "device": str(result.device),
            "compute_dtype": "stored"}


def child_recover(parent: Path, work: Path) -> dict:
    """The recover stage's library call with the default recover section but a short run
    (4 steps of the default 16 x 128-token batches), on the default prune's output: the
    `pruned` directory next to `parent` (prune_checkpoint it there first)."""
    from slimline.config import LoraRecoverConfig
    from slimline.data.corpus import build_corpus
    from slimline.recover import recover_checkpoint

    pruned = parent.parent / "pruned"
    if not (pruned / "slimline.json").exists():
        sys.exit(f"{pruned} is missing: prune {parent} into it first (prune_checkpoint).")
    texts = list(build_corpus().train[:4096])  # as many documents as the default split
    start = time.perf_counter()
    result = recover_checkpoint(pruned, work / "recovered", LoraRecoverConfig(steps=4),
                                texts=texts, teacher=None)
    meta = json.loads((work / "recovered" / "slimline.json").read_text())
    return {"seconds": time.perf_counter() - start,
            "train_loss_first": result.metrics["train_loss_first"],
            "device": meta["inputs"]["device"], "compute_dtype": meta["inputs"]["compute_dtype"]}


STAGES = {**{name: (lambda p, w, n=name: child_prune(p, w, n)) for name in
             ("prune", "prune_activation", "prune_depth", "prune_sparse24")},
          **{f"quantize_{m}" if m != "gptq" else "quantize":
             (lambda p, w, m=m: child_quantize(p, w, m)) for m in ("gptq", "fp8", "w8a8")},
          "eval": child_eval, "recover": child_recover}


def _child(stage: str, parent: str, work: str) -> None:
    t0 = time.perf_counter()
    record = STAGES[stage](Path(parent), Path(work))
    record["process_seconds"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time does not grow when other work shares the machine; wall time does.
    record["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    # ru_maxrss is the high-water mark of this process's resident set, in KiB on Linux.
    record["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        record["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        record["gpu"] = torch.cuda.get_device_name()
    print("RESULT " + json.dumps(record))


def checkpoint_weights(directory: Path) -> tuple[int, int]:
    from slimline.checkpoint import count_parameters

    size = sum(p.stat().st_size for p in directory.glob("*.safetensors"))
    return count_parameters(directory), size


def run(models: list[str], stages: list[str], workdir: Path, keep: bool = False
        ) -> list[dict]:
    rows = []
    for name in models:
        ckpt = workdir / name / "base"
        if not (ckpt / "slimline.json").exists():
            build_checkpoint(name, ckpt)
        params, size = checkpoint_weights(ckpt)
        for stage in stages:
            work = Path(tempfile.mkdtemp(dir=workdir))
            print(f"{name}: {stage} ({params / 1e6:.0f} M params, {size / 1e9:.2f} GB)",
                  flush=True)
            proc = subprocess.run([sys.executable, __file__, "--child", stage, str(ckpt),
                                   str(work)], capture_output=True, text=True,
                                  env={**os.environ, "TQDM_DISABLE": "1"})
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
            if not keep:
                shutil.rmtree(work, ignore_errors=True)  # an 8 B run's outputs fill a disk
            if proc.returncode or not lines:
                sys.exit(f"{name} {stage} failed:\n{proc.stderr[-3000:]}")
            rec = json.loads(lines[-1][7:])
            rows.append({"model": name, "stage": stage, "arch": MODELS[name][0],
                         "num_parameters": params, "weight_bytes": size, **rec,
                         "rss_over_weights": rec["peak_rss_bytes"] / size})
            gpu = (f", peak GPU {rec['peak_gpu_bytes'] / 1e9:.2f} GB"
                   if "peak_gpu_bytes" in rec else "")
            print(f"  {rec['seconds']:.1f} s, peak RSS {rec['peak_rss_bytes'] / 1e9:.2f} GB "
                  f"= {rows[-1]['rss_over_weights']:.2f}x weights{gpu}", flush=True)
    return rows


def _exponent(rows: list[dict], key: str) -> float | None:
    """k in key ∝ num_parameters^k, least squares on log-log."""
    import numpy as np

    rows = [r for r in rows if key in r]
    if len(rows) < 2:
        return None
    x = np.log([r["num_parameters"] for r in rows])
    y = np.log([r[key] for r in rows])
    return float(np.polyfit(x, y, 1)[0])


def write_report(rows: list[dict], out: Path, note: str = "", cpus: int | None = None
                 ) -> None:
    """scale.json (raw rows and exponents), scale.md (table) and scale.png (log-log plot);
    `cpus`: the measuring machine's (default: this one's)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    out.mkdir(parents=True, exist_ok=True)
    stages = sorted({r["stage"] for r in rows})
    fits = {s: {k: _exponent([r for r in rows if r["stage"] == s], k)
                for k in ("seconds", "cpu_seconds", "peak_rss_bytes")} for s in stages}
    cpus = cpus or os.cpu_count()
    (out / "scale.json").write_text(json.dumps({"rows": rows, "exponents": fits, "note": note,
                                                "cpus": cpus}, indent=2) + "\n")
    lines = ["# Stage cost against model size", "",
             "Randomly initialised bf16 checkpoints, default stage params, one fresh process per "
             f"run, {cpus} CPUs. Written by `bench/scale.py`. {note}".rstrip(), "",
             "| model | stage | params | weights | wall time | CPU time | peak RSS | "
             "RSS / weights | peak GPU | device, compute dtype |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        gpu = f"{r['peak_gpu_bytes'] / 1e9:.2f} GB" if "peak_gpu_bytes" in r else "—"
        cpu = f"{r['cpu_seconds']:.0f} s" if "cpu_seconds" in r else "—"
        lines.append(f"| {r['model']} | {r['stage']} | {r['num_parameters'] / 1e6:.1f} M | "
                     f"{r['weight_bytes'] / 1e9:.3f} GB | {r['seconds']:.1f} s | {cpu} | "
                     f"{r['peak_rss_bytes'] / 1e9:.2f} GB | {r['rss_over_weights']:.2f}× | "
                     f"{gpu} | {r['device']}, {r['compute_dtype']} |")
    lines += ["", "Fitted growth exponents k (cost ∝ params^k):", ""]
    lines += [f"- {s}: " + ", ".join(f"{label} k = {f[key]:.2f}" for key, label in (
        ("seconds", "wall time"), ("cpu_seconds", "CPU time"), ("peak_rss_bytes", "peak RSS"))
        if f[key] is not None) for s, f in fits.items() if f["seconds"] is not None]
    lines += [f"\n{r['model']} {r['stage']}: {r['note']}" for r in rows if r.get("note")]
    (out / "scale.md").write_text("\n".join(lines) + "\n")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for s in stages:
        sel = [r for r in rows if r["stage"] == s]
        n = [r["num_parameters"] for r in sel]
        axes[0].loglog(n, [r["seconds"] for r in sel], "o-", label=f"{s} wall")
        axes[0].loglog(n, [r.get("cpu_seconds", float("nan")) for r in sel], "s--",
                       label=f"{s} CPU")
        axes[1].loglog(n, [r["peak_rss_bytes"] / 1e9 for r in sel], "o-", label=f"{s} peak RSS")
    sel = sorted(rows, key=lambda r: r["num_parameters"])
    n = [r["num_parameters"] for r in sel]
    axes[1].loglog(n, [r["weight_bytes"] / 1e9 for r in sel], "k--", label="weights")
    axes[1].loglog(n, [3 * r["weight_bytes"] / 1e9 for r in sel], "r:", label="3x weights")
    for ax, title in zip(axes, ("time (s)", "peak RSS (GB)"), strict=True):
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel("parameters")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "scale.png", dpi=120)
    for s, f in fits.items():
        if f["seconds"] is not None:
            print(f"{s}: time ∝ params^{f['seconds']:.2f}, "
                  f"peak RSS ∝ params^{f['peak_rss_bytes']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default=",".join(CPU_MODELS))
    ap.add_argument("--stages", default="prune")
    ap.add_argument("--workdir", type=Path, help="where checkpoints go (default: a temp dir)")
    ap.add_argument("--note", default="", help="measurement conditions, for the report")
    ap.add_argument("--keep", action="store_true", help="keep each run's output directory")
    ap.add_argument("--build-only", action="store_true",
                    help="build the models' checkpoints in --workdir and stop")
    ap.add_argument("--results", type=Path, default=RESULTS,
                    help="where scale.{json,md,png} go (bench/results; the GPU leg its own)")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite scale.md/png from scale.json without running anything")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return _child(*args.child)
    if args.report_only:  # the recorded note and CPU count stay unless --note is given
        recorded = json.loads((args.results / "scale.json").read_text())
        return write_report(recorded["rows"], args.results, args.note or recorded.get("note", ""),
                            recorded.get("cpus"))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="slimline-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if args.build_only:
        for name in args.models.split(","):
            if not (workdir / name / "base" / "slimline.json").exists():
                build_checkpoint(name, workdir / name / "base")
        return None
    rows = run(args.models.split(","), args.stages.split(","), workdir, args.keep)
    from slimline._atomic import file_lock

    args.results.mkdir(parents=True, exist_ok=True)
    with file_lock(args.results / ".scale.lock"):  # bench/gpu.sh may run two stages at once
        # Runs of other models or stages recorded earlier stay in the report.
        done = {(r["model"], r["stage"]) for r in rows}
        old = args.results / "scale.json"
        kept = [r for r in json.loads(old.read_text())["rows"]
                if (r["model"], r["stage"]) not in done] if old.exists() else []
        order = list(MODELS)
        write_report(sorted(kept + rows, key=lambda r: (r["stage"], order.index(r["model"]))),
                     args.results, args.note)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
