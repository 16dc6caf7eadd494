"""The task directory of a (backbone, seed, task) and the names of the artefacts in it (docs/stages.md)."""

import glob
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_SCRIPT = os.path.join(REPO, "directory", "build_task_dirs.sh")
# The task directory's split folders (data/sals/<folder>, data/attn/<folder>) and the data splits they hold.
SPLIT_FOLDERS = {"train": "train", "val": "validation", "test": "test"}


def default_root():
    """Folder holding the backbone folders: `$ADAPLER_DIRECTORY`, else the repository's `directory/`."""
    return os.environ.get("ADAPLER_DIRECTORY") or os.path.join(REPO, "directory")


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
        self.root_dir = root or default_root()
        self.path = os.path.join(self.root_dir, backbone, str(self.seed), task)
        self.logs_dir = os.path.join(self.path, "logs")

    @classmethod
    def locate(cls, backbone, task, seed, root=None):
        """The task directory of a run, found the way users of the original build it.

        The original README builds `directory/bert/<seed>/<task>` whatever the backbone, so when
        the folder named for this backbone does not exist, a single existing
        `<root>/*/<seed>/<task>` is used instead. With none or several, the backbone's own.

        Args:
            backbone: Short backbone label.
            task: Task name.
            seed: Data seed.
            root: Folder holding the backbone folders.

        Returns:
            A `TaskDir`.
        """
        own = cls(backbone, task, seed, root)
        if os.path.isdir(own.path):
            return own
        found = sorted(glob.glob(os.path.join(glob.escape(own.root_dir), "*", str(int(seed)), task)))
        if len(found) == 1 and os.path.isdir(found[0]):
            return cls(os.path.basename(os.path.dirname(os.path.dirname(found[0]))), task, seed, own.root_dir)
        return own

    @classmethod
    def of_checkpoint(cls, path):
        """The task directory a checkpoint lies in, or None when it lies outside any.

        `<root>/<backbone>/<seed>/<task>/models/<file>.h5`, `.../models/adaptive_lr/<file>.h5` and
        `.../models/baselines/<file>.h5` are inside one; the task directory needs its `logs/` folder too.
        """
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.basename(folder) in ("adaptive_lr", "baselines"):
            folder = os.path.dirname(folder)
        if os.path.basename(folder) != "models":
            return None
        task_path = os.path.dirname(folder)
        seed_path = os.path.dirname(task_path)
        seed = os.path.basename(seed_path)
        if not seed.isdigit() or not os.path.isdir(os.path.join(task_path, "logs")):
            return None
        backbone_path = os.path.dirname(seed_path)
        return cls(os.path.basename(backbone_path), os.path.basename(task_path), int(seed),
                   os.path.dirname(backbone_path))

    @classmethod
    def beside(cls, path, task, seed):
        """Outputs of a checkpoint outside any task directory: written in the checkpoint's folder."""
        dirs = cls("", task, seed, root=os.path.dirname(os.path.abspath(path)))
        dirs.path = dirs.logs_dir = dirs.root_dir
        return dirs

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

    @staticmethod
    def adapler_name(save_name, gamma, phi):
        """`<SAVE_NAME>_GAMMA<g>_PHI<p>`: the name of an AdapLeR run's checkpoint and logs."""
        return f"{save_name}_GAMMA{gamma:g}_PHI{phi:g}"

    def adapler_model(self, name):
        return os.path.join(self.path, "models", "adaptive_lr", f"{name}_lr.h5")

    def baseline_model(self, method, name):
        """The checkpoint of a comparison method's run: `models/baselines/<METHOD>_<SAVE_NAME>.h5`."""
        return os.path.join(self.path, "models", "baselines", f"{method}_{name}.h5")

    def resume(self, name):
        """Resume checkpoints of the run `name` (stage 1: `finetune`; stage 3: the AdapLeR run name)."""
        return os.path.join(self.path, "resume", name)

    def log(self, name):
        return os.path.join(self.logs_dir, name)

    @property
    def ft_logs(self):
        return self.log("ft_logs.json")

    def residual_scores(self, split):
        """TR-BERT's residual scores of a split, `[N, MAX_LENGTH, points]`, with a `.json` record beside it."""
        return os.path.join(self.path, "data", "residual", f"{split}_residual_scores.npy")

    def saliency(self, split, epoch):
        return os.path.join(self.path, "data", "sals", split, f"sal_mat_wCLSSEPnoZ_{epoch}.npy")

    def glue_prediction(self, name, split):
        return self.log(f"glue_prediction_{name}_{split}.tsv")
