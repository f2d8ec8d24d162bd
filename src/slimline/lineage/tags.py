"""Every MLflow tag slimline writes or reads, on runs, logged models, registered models and
model versions: grep this file to learn the vocabulary. Keys are full names; a digest has
one name wherever it is tagged.
"""

from __future__ import annotations

PREFIX = "slimline."


def key(name: str) -> str:
    return PREFIX + name


# What made a run and where it sits.
STAGE = key("stage")  # the DVC stage (`prune`) on a run; the artifact name (`pruned`) elsewhere
DVC_STAGE = key("dvc_stage")  # `eval@pruned`
GIT_COMMIT = key("git_commit")
PARENT_RUN_ID = key("parent_run_id")  # the pipeline's parent run
PIPELINE_KEY = key("pipeline_key")  # one `dvc repro` / `dvc exp run` execution
OWNER = key("owner")  # `<pid>-<host hash>` of the process running a stage run (issue 14)
WARM = key("warm")  # "true": the stage ran in a process forked warm (slimline.warm)
EXPERIMENT = key("experiment")  # the DVC experiment a run or version belongs to
EXPERIMENT_BASELINE = key("experiment_baseline")  # the commit that experiment branched from
EXPERIMENT_ONLY = key("experiment_only")  # "true" until `slimline register` adopts it
SWEEP = key("sweep")
EVAL_TARGET = key("eval_target")  # the model stage an `eval` run evaluated
EVAL_REUSED = key("eval_reused")
DEVICE = key("device")  # where an evaluation or the side-by-side speed ran
RUNTIME = key("runtime")  # the speed measurement's runtime (torch, threads)
# Where a model stage computed: PREFIX + `runtime.run_tags` keys (`slimline.runtime.device`).
SKIPPED = key("skipped")

# What an artifact is.
ARTIFACT_DIGEST = key("artifact_digest")
PARENT_DIGEST = key("parent_digest")
ARTIFACT_PATH = key("artifact_path")
LOCATION = key("location")  # an artifact's directory, project-relative
DVC_MD5 = key("dvc_md5")
MODEL_ID = key("model_id")  # the logged model of an artifact
MODEL_RUN_ID = key("model_run_id")  # the stage run that made an evaluated artifact
STAGE_RUN_ID = key("stage_run_id")
EVAL_RUN_ID = key("eval_run_id")

# Digests of the data a stage read: the calibration *file* and the calibration *token ids*
# are different digests with different names.
CALIBRATION_TOKENS = key("calibration_digest")  # sha256 of the token ids calibrated on


def split_sha256(split: str) -> str:
    """The sha256 of a data split's file (`slimline.split.calibration.sha256`)."""
    return key(f"split.{split}.sha256")


def input_key(name: str) -> str:
    """An artifact's input digest from its `slimline.json` (`slimline.input.corpus`)."""
    return key(f"input.{name}")


# Registered model versions.
EVAL_METRIC = "eval."  # + `task.metric`: a version's evaluation results
EVAL_STDERR = "eval_stderr."  # + `task.metric`: lm-eval's standard error of that result
PARENT_VERSION = key("parent_version")
PARAMS = key("params")  # JSON: the params in the artifact's slimline.json
INPUTS = key("inputs")  # JSON: its input digests
VERSIONS = key("versions")  # JSON: library versions
DIRECTIONS = key("directions")  # JSON: each metric's higher_is_better
STAGES_SKIPPED = key("stages_skipped")
BASE_DIGEST = key("base_digest")
BASE_NAME = key("base_name")
BASE_SOURCE = key("base_source")
ORIGIN = key("origin")  # a version rebuilt from pulled artifacts
PIPELINE = key("pipeline")  # on the registered model: the project it came from
ALIAS_HISTORY = key("alias_history.")  # + alias: the promotion log
REGISTERED_MODEL = key("registered_model")  # on the register run
CANDIDATE_VERSION = key("candidate_version")
ALIASES_MOVED = key("aliases_moved")
REGISTERED_VERSIONS = key("registered_versions")  # JSON: each stage's version
RUNS_NOT_IN_STORE = key("runs_not_in_store")  # stages whose producing run is elsewhere


def alias_note(alias: str) -> str:
    """The model version tag recording why an alias moved to it (`slimline.production`)."""
    return key(alias)
