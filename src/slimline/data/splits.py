"""The `data` stage: calibration, recovery and evaluation splits, each named by its digest."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from slimline._atomic import atomic_directory
from slimline._digest import file_sha256
from slimline.config import DataConfig
from slimline.errors import SlimlineError

SPLITS = ("calibration", "recovery", "evaluation")
MANIFEST = "manifest.json"
PROBES = "facts.jsonl"


@dataclass(frozen=True)
class SplitInfo:
    """One written split: where it is, how many documents, and the sha256 of its bytes."""

    name: str
    file: str
    num_docs: int
    sha256: str
    source: str


def _read_text(path: Path) -> str:
    """The file as UTF-8 text; a byte that is not UTF-8 is named by file:line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SlimlineError(
            f"{path}:{line} is not UTF-8 text (byte {data[exc.start]:#04x}): convert the file "
            "to UTF-8, e.g. `iconv -f latin1 -t utf-8 FILE > FILE.utf8`, and point "
            "data.*.path at the result.") from None


def read_documents(path: Path, text_field: str = "text") -> list[str]:
    """Documents from a JSONL file (one object per line) or a text file (blank-line separated)."""
    if not path.exists():
        raise SlimlineError(f"data file {path} does not exist: fix the data.*.path setting.")
    text = _read_text(path)
    if path.suffix == ".jsonl":
        docs = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SlimlineError(f"{path}:{lineno} is not valid JSON ({exc.msg}): write one "
                                    "JSON object per line, e.g. {\"text\": \"...\"}.") from None
            if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
                raise SlimlineError(f"{path}:{lineno} has no string field {text_field!r}: set "
                                    "data.text_field to the field that holds the text.")
            docs.append(row[text_field])
    else:
        docs = [d.strip() for d in text.split("\n\n") if d.strip()]
    if not docs:
        raise SlimlineError(f"data file {path} holds no documents: fill it (JSONL: one "
                            f"{{\"{text_field}\": ...}} object per line; text: documents "
                            "separated by blank lines) or point data.*.path at another file.")
    return docs


def write_jsonl(path: Path, rows: Sequence[dict]) -> str:
    """Write rows canonically (one compact JSON object per line) and return the file's sha256."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
    return file_sha256(path)


def builtin_size() -> tuple[int, int]:
    """How many training (calibration + recovery draw from them) and held-out (evaluation)
    documents the built-in corpus has."""
    from slimline.data.corpus import build_corpus

    corpus = build_corpus()
    return len(corpus.train), len(corpus.heldout)


def _sample(docs: Sequence[str], n: int | None, rng: random.Random, where: str = "") -> list[str]:
    if n is None or n >= len(docs):
        if n is not None and n > len(docs):
            print(f"notice: {where}.num_docs={n} but the file holds {len(docs)} documents; "
                  f"using all {len(docs)} (recorded as {where.split('.')[-1]}_docs).")
        return list(docs)
    return [docs[i] for i in sorted(rng.sample(range(len(docs)), n))]


def _builtin_documents(cfg: DataConfig, rng: random.Random) -> dict[str, list[str]]:
    from slimline.data.corpus import build_corpus

    corpus = build_corpus()
    order = list(range(len(corpus.train)))
    rng.shuffle(order)
    n_cal = min(cfg.calibration.num_docs or len(order), len(order))
    n_rec = cfg.recovery.num_docs or len(order) - n_cal
    if n_cal + n_rec > len(order):
        raise SlimlineError(f"data.calibration.num_docs + data.recovery.num_docs = "
                            f"{n_cal + n_rec} exceeds the {len(order)} built-in training "
                            "documents: lower one of them.")
    return {
        "calibration": [corpus.train[i] for i in sorted(order[:n_cal])],
        "recovery": [corpus.train[i] for i in sorted(order[n_cal:n_cal + n_rec])],
        "evaluation": _sample(corpus.heldout, cfg.evaluation.num_docs, rng, "data.evaluation"),
    }


def build_splits(cfg: DataConfig, out_dir: Path, root: Path | None = None) -> list[SplitInfo]:
    """Write `<split>.jsonl` for each split plus a manifest of their digests, atomically.

    Args:
        cfg: the `data` section of params.yaml.
        out_dir: the target directory (`artifacts/data`).
        root: directory relative `data.*.path` values are resolved against.
    """
    rng = random.Random(cfg.seed)
    if cfg.source == "builtin":
        docs = _builtin_documents(cfg, rng)
        sources = {name: "builtin" for name in SPLITS}
    else:
        base = root or Path.cwd()
        docs, sources = {}, {}
        for name in SPLITS:
            split = getattr(cfg, name)
            path = (base / split.path).resolve()
            docs[name] = _sample(read_documents(path, cfg.text_field), split.num_docs, rng,
                                 f"data.{name}")
            sources[name] = str(path)
    infos = []
    with atomic_directory(out_dir) as tmp:
        for name in SPLITS:
            file = f"{name}.jsonl"
            digest = write_jsonl(tmp / file, [{"text": d} for d in docs[name]])
            infos.append(SplitInfo(name, file, len(docs[name]), digest, sources[name]))
        if cfg.source == "builtin":
            from slimline.data.corpus import build_corpus

            probes = build_corpus().probes(seed=cfg.seed)
            digest = write_jsonl(tmp / PROBES, probes)
            infos.append(SplitInfo("facts", PROBES, len(probes), digest, "builtin"))
        else:
            # Your own text has no fact probes; the empty file keeps the evaluation stages'
            # DVC dependencies the same for both sources.
            (tmp / PROBES).write_text("")
        manifest = {"splits": [asdict(i) for i in infos]}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return infos


def read_split(data_dir: Path, name: str) -> tuple[SplitInfo, list[str]]:
    """A split written by the data stage: its manifest entry and its documents."""
    info = read_manifest(data_dir)[name]
    return info, read_documents(Path(data_dir) / info.file)


def read_manifest(data_dir: Path) -> dict[str, SplitInfo]:
    """The splits recorded by a previous `data` stage, by name."""
    path = Path(data_dir) / MANIFEST
    if not path.exists():
        raise SlimlineError(f"{path} is missing: run the data stage first (`dvc repro data`).")
    rows = json.loads(path.read_text())["splits"]
    return {r["name"]: SplitInfo(**r) for r in rows}
