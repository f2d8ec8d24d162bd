"""The MLflow tag vocabulary: one prefix, one name per idea, one name per digest."""

import pytest

from slimline.errors import SlimlineError
from slimline.lineage import tags
from slimline.lineage.tracking import StageRun


def _constants() -> dict[str, str]:
    return {name: value for name, value in vars(tags).items()
            if name.isupper() and isinstance(value, str)
            and name not in ("PREFIX", "EVAL_METRIC", "EVAL_STDERR")}


def test_every_key_carries_the_prefix_and_names_one_idea():
    keys = _constants()
    assert keys and all(v.startswith(tags.PREFIX) for v in keys.values())
    duplicated = {v for v in keys.values() if list(keys.values()).count(v) > 1}
    assert not duplicated
    # A version's evaluation results are `eval.<task>.<metric>` (and their standard errors
    # `eval_stderr.<task>.<metric>`), apart from the lineage tags.
    assert not tags.EVAL_METRIC.startswith(tags.PREFIX)
    assert not tags.EVAL_STDERR.startswith((tags.PREFIX, tags.EVAL_METRIC))


def test_the_calibration_file_and_its_token_ids_have_different_names():
    file_sha = tags.split_sha256("calibration")
    assert file_sha == "slimline.split.calibration.sha256"
    assert tags.CALIBRATION_TOKENS == "slimline.calibration_digest"  # read by old versions too
    assert file_sha != tags.CALIBRATION_TOKENS


def test_a_run_refuses_a_tag_key_outside_the_vocabulary():
    run = StageRun("no-run", "prune", None)
    with pytest.raises(SlimlineError, match=r"\['skipped'\] are not slimline tags"):
        run.set_tags({tags.SKIPPED: "false", "skipped": "false"})
