"""Runs that resume: a `tf.train.CheckpointManager` of the whole training state in the task directory.

Each checkpoint holds the TensorFlow state (weights, optimizer slots and steps, ETA/THETA,
accumulated gradients) plus a pickled record of where the run stood (epoch, batch within the
epoch, and whatever the stage keeps: evaluations so far, loss traces). The data order is a
function of `--DATA_SEED` and the epoch, so epoch and batch fix the position in it. A run with the
same flags resumes from the newest readable checkpoint; a finished run removes its checkpoints.
"""

import glob
import json
import os
import pickle
import shutil
import tempfile

from pipeline.atomic import write_pickle, write_text

import tensorflow as tf

# Flags that change how a run is executed, checkpointed or configured, not what it computes (a recipe's
# values are compared one by one).
EXECUTION_FLAGS = ("RESUME", "CHECKPOINT_EVERY", "STRATEGY", "MULTI_GPU", "CPU_REPLICAS", "DIRECTORY", "RECIPE")


class ResumeError(ValueError):
    """The checkpoints left in a resume folder cannot continue this run."""


def run_flags(values):
    """The flags a resumed run must share with the interrupted one."""
    return {key: value for key, value in sorted(values.flag_values_dict().items())
            if key.isupper() and key not in EXECUTION_FLAGS}


class Resumable:
    """Checkpoints of one run in progress.

    Args:
        directory: The run's resume folder (e.g. `<task dir>/resume/<run name>`).
        settings: Dict of the flags that define the run (see `run_flags`).
        chief: Whether this process owns the folder; other workers of a cluster save their share
            to a temporary folder, as `MultiWorkerMirroredStrategy` needs every worker to save.
        log: A logger for the resume and fallback messages.
        max_to_keep: Checkpoints kept (older ones are the fallback when the newest is damaged).
        barrier: Called once every process has read the folder and before the chief changes it,
            so all workers of a cluster take the same decision.
        **objects: The trackables to save (model, optimizers, trainer, ...).
    """

    def __init__(self, directory, settings, chief, log, max_to_keep=3, barrier=None, **objects):
        self.directory = directory
        self.settings = json.loads(json.dumps(settings, default=str))
        self.chief = chief
        self.log = log
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.max_to_keep = max_to_keep
        self.barrier = barrier or (lambda: None)
        self._own = directory if chief else tempfile.mkdtemp(prefix="adapler_worker_")
        self.manager = None  # made by `restore`

    def restore(self, enabled=True):
        """Loads the newest readable checkpoint of the folder.

        Args:
            enabled: False starts over (`--RESUME=false`).

        Returns:
            The position dict saved with it (`epoch`, `batch`, ...), or None to start from scratch.

        Raises:
            ResumeError: The checkpoints were written by a run with other flags, or none is readable.
        """
        state = tf.train.get_checkpoint_state(self.directory)
        paths = list(state.all_model_checkpoint_paths) if state else []
        self.barrier()
        if paths and not enabled:
            self.log.info("--RESUME=false: starting over; the checkpoints in %s are removed", self.directory)
        if not paths or not enabled:
            self._start_fresh()
            return None
        self._check_settings()
        for count, path in enumerate(reversed(paths)):
            problem = _unreadable(path)
            if problem is None:
                if count and self.chief:
                    self._drop_newer(paths, path)
                self.checkpoint.restore(path)
                self.manager = tf.train.CheckpointManager(self.checkpoint, self._own, max_to_keep=self.max_to_keep)
                with open(f"{path}.state.pkl", "rb") as handle:
                    position = pickle.load(handle)
                self.log.info("resumed from %s: epoch %d, step %d of the epoch", path, position["epoch"] + 1,
                              position["batch"])
                return position
            self.log.warning("checkpoint %s is unreadable (%s); falling back to the previous one", path, problem)
        raise ResumeError(f"No readable checkpoint in {self.directory}; rerun with --RESUME=false to start over.")

    def _drop_newer(self, paths, good):
        """Removes the unreadable checkpoints after `good`, so numbering and fallbacks continue from it."""
        older = paths[: paths.index(good) + 1]
        for path in paths[len(older):]:
            for name in glob.glob(f"{path}.*"):
                os.remove(name)
        tf.compat.v1.train.update_checkpoint_state(self.directory, good, all_model_checkpoint_paths=older)

    def _check_settings(self):
        path = os.path.join(self.directory, "flags.json")
        if not os.path.isfile(path):
            return
        with open(path) as handle:
            saved = json.load(handle)
        differing = sorted(key for key in set(saved) | set(self.settings) if saved.get(key) != self.settings.get(key))
        if differing:
            changes = ", ".join(f"{key} {saved.get(key)!r} -> {self.settings.get(key)!r}" for key in differing)
            raise ResumeError(f"{self.directory} holds checkpoints of a run with other flags ({changes}); rerun with "
                              "the same flags to resume, or --RESUME=false to start over.")

    def _start_fresh(self):
        shutil.rmtree(self._own, ignore_errors=True)
        os.makedirs(self._own)
        write_text(os.path.join(self._own, "flags.json"), json.dumps(self.settings, indent=1))
        self.manager = tf.train.CheckpointManager(self.checkpoint, self._own, max_to_keep=self.max_to_keep)

    def file(self, name):
        """A path in this run's folder for files that live and go with its checkpoints."""
        return os.path.join(self._own, name)

    def save(self, **position):
        """Saves the state and `position` (at least `epoch`, 0-based, and `batch`, steps done in it)."""
        path = self.manager.save()
        write_pickle(f"{path}.state.pkl", position)
        self.log.info("checkpoint %s: epoch %d, step %d of the epoch", path, position["epoch"] + 1, position["batch"])
        kept = {os.path.basename(p) for p in self.manager.checkpoints}
        for name in os.listdir(self._own):
            if name.endswith(".state.pkl") and name[: -len(".state.pkl")] not in kept:
                os.remove(os.path.join(self._own, name))
        return path

    def finish(self):
        """The run is complete: its checkpoints go (a rerun starts over)."""
        shutil.rmtree(self._own, ignore_errors=True)
        parent = os.path.dirname(self._own)
        if self.chief and os.path.isdir(parent) and not os.listdir(parent):
            os.rmdir(parent)


def _unreadable(path):
    """None if every tensor of the checkpoint and its position file can be read, else the problem."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
        with open(f"{path}.state.pkl", "rb") as handle:
            pickle.load(handle)
    except Exception as error:  # noqa: BLE001  (a damaged file fails in whichever reader layer meets it first)
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return None
