"""What the scripts share at the command line: running `main` with recipes and one-line errors, and the
run's task, task directory, splits, strategy, logs and checkpoints as the parsed flags give them."""

import logging
import os
import sys

from models.backbones import backbone_label, load_tokenizer
from models.checkpoints import CheckpointError
from models.trainer import NonFiniteLossError
from pipeline import loading, methods, recipes
from pipeline.distribution import DistributionError, barrier, describe, is_chief, strategy_from_flags
from pipeline.evaluation import flops_report
from pipeline.paths import TaskDir
from pipeline.resume import Resumable, ResumeError, run_flags
from tasks.readers import DataError
from tasks.registry import get_task

from absl import app, flags
from absl import logging as absl_logging
from transformers.utils import logging as transformers_logging

FLAGS = flags.FLAGS
USER_ERRORS = (DataError, CheckpointError, FileNotFoundError, DistributionError, ResumeError, NonFiniteLossError,
               recipes.RecipeError)


def run(main, section="common"):
    """`app.run(main)` after applying `--RECIPE` (the script's `section` of it), turning data, checkpoint,
    recipe and missing-file errors into one `error:` line and exit 1."""

    def guarded(argv):
        transformers_logging.set_verbosity_error()
        absl_logging.get_absl_handler().addFilter(_no_tensorflow_info)
        try:
            apply_recipe(section)
            return main(argv)
        except USER_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)

    app.run(guarded)


def apply_recipe(section):
    """Fills the flags not given on the command line from `--RECIPE`, then checks every flag."""
    if "RECIPE" in FLAGS and FLAGS.RECIPE:
        recipes.apply(FLAGS, recipes.get_recipe(FLAGS.RECIPE), section)
    try:
        FLAGS.validate_all_flags()
    except flags.IllegalFlagValueError as error:
        raise recipes.RecipeError(str(error)) from None
    if "TASK" in FLAGS and FLAGS.TASK is None:
        raise DataError("--TASK is required (or a --RECIPE that sets it).")


def _no_tensorflow_info(record):
    """Drops TensorFlow's INFO lines (one per checkpoint write), which would drown the stage's own."""
    return record.levelno > logging.INFO or f"{os.sep}tensorflow{os.sep}" not in record.pathname


def task():
    return get_task(FLAGS.TASK)


def tokenizer():
    return load_tokenizer(FLAGS.BASE_MODEL)


def encoded(task_, split, tok, limit=0):
    """A tokenised split of the run's data, cut to its first `limit` examples when `limit` > 0."""
    return loading.load_encoded(task_, split, tok, FLAGS.MAX_LENGTH, FLAGS.DATA_DIR, FLAGS.DATA_SEED, limit,
                                FLAGS.HATEXPLAIN_TIES)


def task_dir():
    """The run's task directory: the checkpoint's own when `--MODEL_PATH` lies in one, else the one
    `build_task_dirs.sh` built for this task and seed (see `TaskDir.locate`)."""
    model_path = FLAGS.MODEL_PATH if "MODEL_PATH" in FLAGS else ""
    if model_path:
        return checkpoint_task_dir(model_path)
    return TaskDir.locate(backbone_label(FLAGS.BASE_MODEL), FLAGS.TASK, FLAGS.DATA_SEED, FLAGS.DIRECTORY)


def checkpoint_task_dir(path):
    """Where the outputs of `--MODEL_PATH` go: its task directory, or beside it when it lies outside any.

    Inside a task directory, the directory's seed becomes `--DATA_SEED` (splits held out of the
    training data depend on it); an explicit `--DATA_SEED` or `--TASK` that contradicts the path
    is an error.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--MODEL_PATH {path} not found.")
    dirs = TaskDir.of_checkpoint(path)
    if dirs is None:
        return TaskDir.beside(path, FLAGS.TASK, FLAGS.DATA_SEED)
    if dirs.task != FLAGS.TASK:
        raise DataError(f"--MODEL_PATH {path} lies in the task directory of {dirs.task!r}, not --TASK {FLAGS.TASK}.")
    if FLAGS["DATA_SEED"].present and FLAGS.DATA_SEED != dirs.seed:
        raise DataError(f"--MODEL_PATH {path} lies in the task directory of seed {dirs.seed}, not --DATA_SEED "
                        f"{FLAGS.DATA_SEED}.")
    FLAGS.DATA_SEED = dirs.seed
    return dirs


def adapler_name(dirs):
    return dirs.adapler_name(FLAGS.SAVE_NAME, FLAGS.GAMMA, FLAGS.PHI)


def checkpoint_path(task_, dirs, lr_model):
    """`--MODEL_PATH`, else the task directory's AdapLeR checkpoint (`lr_model`) or best fine-tuned epoch."""
    model_path = FLAGS.MODEL_PATH if "MODEL_PATH" in FLAGS else ""
    if model_path:
        return model_path
    return dirs.adapler_model(adapler_name(dirs)) if lr_model else loading.best_finetuned(task_, dirs)[0]


def trained_model(task_, dirs, lr_model, strategy=None):
    """`(model, checkpoint path)` of the checkpoint `checkpoint_path` picks.

    Raises:
        CheckpointError: `lr_model` and the file is no AdapLeR checkpoint, or the reverse.
    """
    path = checkpoint_path(task_, dirs, lr_model)
    model = loading.load_trained(FLAGS.BASE_MODEL, task_.num_labels, path, strategy)
    if model.is_adapler != bool(lr_model):
        kind = "an AdapLeR" if model.is_adapler else "a plain fine-tuned"
        hint = "drop --LR_MODEL" if model.is_adapler else "add --LR_MODEL only with an AdapLeR checkpoint"
        raise CheckpointError(f"Checkpoint {path} is {kind} checkpoint: {hint}.")
    return model, path


def evaluated_model(task_, dirs, strategy_=None):
    """`(model, checkpoint, record)` of stages 4 and 5: `--METHOD`'s checkpoint (`--MODEL_PATH`, else
    `models/baselines/<METHOD>_<SAVE_NAME>.h5`) with the record beside it, or for `--METHOD=adapler` the
    AdapLeR (`--LR_MODEL`) or best fine-tuned checkpoint with an empty record."""
    if FLAGS.METHOD == "adapler":
        return (*trained_model(task_, dirs, FLAGS.LR_MODEL, strategy_), {})
    path = FLAGS.MODEL_PATH or dirs.baseline_model(FLAGS.METHOD, FLAGS.SAVE_NAME)
    model, record = methods.load_method(FLAGS.METHOD, FLAGS.BASE_MODEL, task_.num_labels, path, strategy_)
    return model, path, record


def evaluated_flops(model, task_, encoded_, model_encoded, outputs):
    """`flops_report` of stages 4 and 5 against the plain backbone at the task's maximum length."""
    return flops_report(model, task_.num_labels, encoded_.lengths, outputs,
                        baseline_config=methods.backbone_config(FLAGS.BASE_MODEL),
                        model_input_lengths=model_encoded.lengths)


def method_inputs(task_, split, tok, encoded_, record, limit=0):
    """The split as the evaluated model reads it: `encoded_`, or cut to a truncation method's kept length."""
    length = methods.input_length(record, FLAGS.MAX_LENGTH)
    if length == FLAGS.MAX_LENGTH:
        return encoded_
    return loading.load_encoded(task_, split, tok, length, FLAGS.DATA_DIR, FLAGS.DATA_SEED, limit,
                                FLAGS.HATEXPLAIN_TIES)


def run_name(dirs):
    """Names the outputs of stages 4 and 5: the checkpoint's file name when `--MODEL_PATH` is given
    (without the `_lr` suffix of AdapLeR checkpoints), else the AdapLeR run name or `bert`."""
    if "METHOD" in FLAGS and FLAGS.METHOD != "adapler":
        return os.path.splitext(os.path.basename(FLAGS.MODEL_PATH or dirs.baseline_model(FLAGS.METHOD,
                                                                                          FLAGS.SAVE_NAME)))[0]
    if FLAGS.MODEL_PATH:
        stem = os.path.splitext(os.path.basename(FLAGS.MODEL_PATH))[0]
        return stem[: -len("_lr")] if FLAGS.LR_MODEL and stem.endswith("_lr") else stem
    return adapler_name(dirs) if FLAGS.LR_MODEL else "bert"


def strategy():
    """The strategy of `--STRATEGY`/`--MULTI_GPU`/`--CPU_REPLICAS`; call first, before TensorFlow starts."""
    return strategy_from_flags(FLAGS)


def file_logger(path, mode="w"):
    """A logger writing readable lines to `path` and to stderr (only to stderr when `path` is None).

    Args:
        path: Log file, or None (e.g. on a worker that is not the chief).
        mode: "w" overwrites, "a" continues (a resumed run).
    """
    logger = logging.getLogger(f"adapler.{path}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    formatter = logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if path is not None:
        handlers.insert(0, logging.FileHandler(path, mode=mode))
    for handler in handlers:
        handler.setFormatter(formatter)
        logger.addHandler(handler)
    return logger


def run_logger(dirs, name, strategy_):
    """The log of run `name`: `logs/<name>.log` on the chief (continued when the run resumes), stderr elsewhere."""
    if not is_chief(strategy_):
        return file_logger(None)
    resuming = FLAGS.RESUME and os.path.isdir(dirs.resume(name))
    return file_logger(dirs.log(f"{name}.log"), mode="a" if resuming else "w")


def resumable_run(dirs, name, strategy_, log, objects):
    """The `Resumable` of run `name` in the task directory and the position to continue from.

    Args:
        dirs: The task directory.
        name: The run's name (its resume folder).
        strategy_: The run's strategy.
        log: Its logger.
        objects: The trackables to save (e.g. `Trainer.checkpoint_objects()`).

    Returns:
        `(resumable, position)`; position is None for a fresh start.
    """
    resumable = Resumable(dirs.resume(name), run_flags(FLAGS), is_chief(strategy_), log, barrier=barrier(strategy_),
                          **objects)
    log.info("training on %s; global batch %d", describe(strategy_), FLAGS.BATCH_SIZE)
    return resumable, resumable.restore(FLAGS.RESUME)
