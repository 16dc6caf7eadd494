"""The task directory of SPEC section 1 and the names of the artefacts in it."""

import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_SCRIPT = os.path.join(REPO, "directory", "build_task_dirs.sh")
# The task directory's split folders (data/sals/<folder>, data/attn/<folder>) and the data splits they hold.
SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}


class TaskDir:
    """`directory/<backbone>/<seed>/<task>/` and its files.

    Args:
        backbone: Short backbone label (see `models.backbones.backbone_label`).
        task: Task name.
        seed: Data seed.
        root: Folder holding the backbone folders (default `directory/`, or `$ADAPLER_DIRECTORY`).
    """

    def __init__(self, backbone, task, seed, root=None):
        self.backbone, self.task, self.seed = backbone, task, int(seed)
        self.root_dir = root or os.environ.get("ADAPLER_DIRECTORY") or os.path.join(REPO, "directory")
        self.path = os.path.join(self.root_dir, backbone, str(self.seed), task)

    def build(self):
        """Creates the tree with `build_task_dirs.sh` (idempotent)."""
        env = dict(os.environ, ADAPLER_DIRECTORY=self.root_dir)
        subprocess.run(["bash", BUILD_SCRIPT, self.backbone, self.task, str(self.seed)], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        return self

    def require(self):
        """Raises `FileNotFoundError` naming the directory when an earlier stage has not built it."""
        if not os.path.isdir(self.path):
            raise FileNotFoundError(
                f"Task directory {self.path} does not exist: run the fine-tuning stage "
                f"(run_files/run_classification_bert.py) for this --TASK/--DATA_SEED/--BASE_MODEL first."
            )
        return self

    def finetuned_model(self, epoch):
        return os.path.join(self.path, "models", f"bert_{self.task}_{epoch}.h5")

    def adapler_name(self, save_name, gamma, phi):
        return f"{save_name}_GAMMA{gamma:g}_PHI{phi:g}"

    def adapler_model(self, name):
        return os.path.join(self.path, "models", "adaptive_lr", f"{name}_lr.h5")

    def log(self, name):
        return os.path.join(self.path, "logs", name)

    @property
    def ft_logs(self):
        return self.log("ft_logs.json")

    def saliency(self, split, epoch):
        return os.path.join(self.path, "data", "sals", split, f"sal_mat_wCLSSEPnoZ_{epoch}.npy")

    def glue_prediction(self, name, split):
        return self.log(f"glue_prediction_{name}_{split}.tsv")
