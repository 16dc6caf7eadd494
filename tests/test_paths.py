"""Where a stage's artefacts go: the task directory it finds, or the one its checkpoint lies in."""

from pipeline.paths import TaskDir

import pytest


def test_locate_prefers_the_backbone_folder_then_the_only_built_one(tmp_path):
    root = str(tmp_path)
    assert TaskDir.locate("minilm", "sst2", 22, root).path == str(tmp_path / "minilm" / "22" / "sst2")
    TaskDir("bert", "sst2", 22, root).build()  # as `build_task_dirs.sh bert sst2 22` in the original README
    assert TaskDir.locate("minilm", "sst2", 22, root).backbone == "bert"
    assert TaskDir.locate("minilm", "sst2", 23, root).backbone == "minilm"
    TaskDir("minilm", "sst2", 22, root).build()
    assert TaskDir.locate("minilm", "sst2", 22, root).backbone == "minilm"
    TaskDir("bert", "mrpc", 22, root).build()
    TaskDir("other", "mrpc", 22, root).build()
    assert TaskDir.locate("minilm", "mrpc", 22, root).backbone == "minilm"  # ambiguous: its own


@pytest.mark.parametrize("relative", ["models/bert_sst2_2.h5", "models/adaptive_lr/run_1_GAMMA0.005_PHI0.0005_lr.h5"])
def test_a_checkpoint_inside_a_task_directory_names_it(tmp_path, relative):
    built = TaskDir("bert", "sst2", 22, str(tmp_path)).build()
    found = TaskDir.of_checkpoint(f"{built.path}/{relative}")
    assert (found.path, found.backbone, found.seed, found.task) == (built.path, "bert", 22, "sst2")
    assert found.log("x.json") == f"{built.path}/logs/x.json"


def test_a_checkpoint_elsewhere_writes_beside_itself(tmp_path):
    assert TaskDir.of_checkpoint(str(tmp_path / "model.h5")) is None
    assert TaskDir.of_checkpoint(str(tmp_path / "7" / "sst2" / "models" / "m.h5")) is None  # no logs/ folder
    dirs = TaskDir.beside(str(tmp_path / "model.h5"), "sst2", 42)
    assert dirs.log("eval.json") == str(tmp_path / "eval.json") and dirs.require() is dirs
