"""Flags, task loading, model construction and error handling shared by the stage scripts."""

import json
import logging
import os
import sys

import tensorflow as tf
from absl import app, flags
from absl import logging as absl_logging
from transformers.utils import logging as transformers_logging

from models.backbones import EMBEDDED, backbone_label, load_tokenizer, resolve_backbone
from models.checkpoints import CheckpointError
from pipeline.atomic import write_pickle
from pipeline.data import encode, example_order, length_grouped_order
from pipeline.distribution import DistributionError, barrier, describe, is_chief, strategy_from_flags
from pipeline.paths import TaskDir
from pipeline.resume import Resumable, ResumeError, run_flags
from tasks.hatexplain import TIE_RULES
from tasks.readers import DataError
from tasks.registry import get_task, load_split

FLAGS = flags.FLAGS
USER_ERRORS = (DataError, CheckpointError, FileNotFoundError, DistributionError, ResumeError)


def define_common_flags(batch_size=32, max_length=128):
    """Flags of every stage (the original's names, plus --BASE_MODEL and --DATA_DIR)."""
    flags.DEFINE_string("TASK", None, "Task name, e.g. sst2, mrpc, mnli, movie_rationales, ag_news.")
    flags.DEFINE_integer("MAX_LENGTH", max_length, "Maximum tokens per example ([CLS] and [SEP] included).", lower_bound=8)
    flags.DEFINE_integer("BATCH_SIZE", batch_size,
                         "Examples per batch; under --STRATEGY the global batch, split evenly over the replicas.",
                         lower_bound=1)
    flags.DEFINE_integer("DATA_SEED", 42, "Seed of data order and initialisation; also names the task directory.")
    flags.DEFINE_string("BASE_MODEL", EMBEDDED,
                        "Backbone: all-MiniLM-L6-v2 (embedded, offline), bert-base-uncased (hub) or a local BERT folder.")
    flags.DEFINE_string("DATA_DIR", os.environ.get("ADAPLER_DATA_DIR", ""),
                        "Folder with the upstream layouts (glue/, eraser/, ag_news/, dbpedia_csv/, aclImdb/, "
                        "hatexplain/); empty = tensorflow-datasets.")
    flags.DEFINE_integer("TRAIN_EXAMPLES", 0, "Use only the first N training examples (0 = all).", lower_bound=0)
    flags.DEFINE_integer("EVAL_EXAMPLES", 0, "Use only the first N evaluation examples (0 = all).", lower_bound=0)
    flags.DEFINE_enum("HATEXPLAIN_TIES", "drop", list(TIE_RULES),
                      "HateXplain posts whose three annotators all disagree: 'drop' them as the upstream dataset "
                      "does, or 'original': label them hatespeech, as the original code's set order did.")
    flags.mark_flag_as_required("TASK")


def define_training_order_flags():
    """Flags of the stages that train (fine-tuning, AdapLeR)."""
    flags.DEFINE_bool("GROUP_BY_LENGTH", False,
                      "Beyond the original: batch examples of similar length together (shuffled within windows of "
                      "50 batches, batches shuffled), so short sentences are not padded to a long one's length. "
                      "Faster steps on data of mixed lengths; false = the original's plain shuffle.")


def training_order(encoded, shuffle_seed):
    """The example order of one training epoch under --GROUP_BY_LENGTH."""
    if FLAGS.GROUP_BY_LENGTH:
        return length_grouped_order(encoded, shuffle_seed, FLAGS.BATCH_SIZE)
    return example_order(encoded, shuffle_seed=shuffle_seed)


def run(main):
    """`app.run(main)`, turning data, checkpoint and missing-file errors into one clear line and exit 1."""

    def guarded(argv):
        transformers_logging.set_verbosity_error()
        absl_logging.get_absl_handler().addFilter(_no_tensorflow_info)
        try:
            return main(argv)
        except USER_ERRORS as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(1)

    app.run(guarded)


def _no_tensorflow_info(record):
    """Drops TensorFlow's INFO lines (one per checkpoint write), which would drown the stage's own."""
    return record.levelno > logging.INFO or f"{os.sep}tensorflow{os.sep}" not in record.pathname


def current_task():
    return get_task(FLAGS.TASK)


def task_dir():
    """The run's task directory: the checkpoint's own when `--MODEL_PATH` lies in one, else the one
    `build_task_dirs.sh` built for this task and seed (see `TaskDir.locate`)."""
    model_path = FLAGS.MODEL_PATH if "MODEL_PATH" in FLAGS else ""
    if model_path:
        return checkpoint_task_dir(model_path)
    return TaskDir.locate(backbone_label(FLAGS.BASE_MODEL), FLAGS.TASK, FLAGS.DATA_SEED)


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


def tokenizer():
    return load_tokenizer(FLAGS.BASE_MODEL)


def load_encoded(task, split, tok, limit=0):
    """A tokenised split, cut to its first `limit` examples when `limit` > 0."""
    examples = load_split(task, split, FLAGS.DATA_DIR or None, seed=FLAGS.DATA_SEED, tie_rule=FLAGS.HATEXPLAIN_TIES)
    if limit:
        examples = examples[:limit]
    return encode(examples, tok, FLAGS.MAX_LENGTH)


def build_model(task):
    """The backbone with a fresh classifier head for the task."""
    from models.modeling_tf_bert import TFBertForSequenceClassification

    return TFBertForSequenceClassification.from_pretrained(resolve_backbone(FLAGS.BASE_MODEL), num_labels=task.num_labels)


def read_ft_logs(path):
    """Stage-1 records `[{"epoch": e, "<split>": {metric: value}}, ...]`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: run the fine-tuning stage first.")
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise DataError(f"{path} is not valid JSON ({error}).") from None


def ranked_epochs(task, path):
    """Fine-tuned epochs ranked by the first metric of the first dev split, best first, with scores."""
    records = read_ft_logs(path)
    if not records:
        raise DataError(f"{path} holds no epochs.")
    split, metric = task.dev_splits[0], task.metrics[0]
    ranked = sorted(records, key=lambda r: r[split][metric], reverse=True)
    return [(r["epoch"], r[split][metric]) for r in ranked]


def define_adapler_name_flags():
    """Flags naming an AdapLeR run (stages 3-5)."""
    flags.DEFINE_float("GAMMA", 1.0, "Weight of the KL (saliency) loss.")
    flags.DEFINE_float("PHI", 10.0, "Weight of the length loss in the speedup objective.")
    flags.DEFINE_string("SAVE_NAME", "znorm_l2", "Name prefix of the AdapLeR checkpoint and logs.")


def define_checkpoint_flags(split_default=None, split_help=""):
    """Flags choosing the checkpoint (and, with a `split_default`, the split) a stage uses (stages 4, 5, export)."""
    flags.DEFINE_bool("LR_MODEL", False, "Use the AdapLeR checkpoint with hard removal (else the best fine-tuned one).")
    flags.DEFINE_string("MODEL_PATH", "", "Checkpoint to use; empty = the task directory's default.")
    if split_default is not None:
        flags.DEFINE_string("SPLIT", split_default, split_help)
    define_adapler_name_flags()


def adapler_name(dirs):
    return dirs.adapler_name(FLAGS.SAVE_NAME, FLAGS.GAMMA, FLAGS.PHI)


def run_name(dirs):
    """Names the outputs of stages 4 and 5: the checkpoint's file name when `--MODEL_PATH` is given
    (without the `_lr` suffix of AdapLeR checkpoints), else the AdapLeR run name or `bert`."""
    if FLAGS.MODEL_PATH:
        stem = os.path.splitext(os.path.basename(FLAGS.MODEL_PATH))[0]
        return stem[: -len("_lr")] if FLAGS.LR_MODEL and stem.endswith("_lr") else stem
    return adapler_name(dirs) if FLAGS.LR_MODEL else "bert"


def write_flops_per_example(dirs, checkpoint, split, encoded, outputs, flops):
    """`logs/flops_per_example.pickle` of stages 4 and 5: input lengths, per-layer lengths, FLOPs."""
    write_pickle(dirs.log("flops_per_example.pickle"), {
        "checkpoint": checkpoint, "split": split, "input_lengths": encoded.lengths,
        "layer_lengths": outputs["lengths"], "bert_flops": flops["bert"], "model_flops": flops["model"],
    })


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


def stage_strategy():
    """The strategy of `--STRATEGY`/`--MULTI_GPU`/`--CPU_REPLICAS`; call first, before TensorFlow starts."""
    return strategy_from_flags(FLAGS)


def run_logger(dirs, name, strategy):
    """The log of run `name`: `logs/<name>.log` on the chief (continued when the run resumes), stderr elsewhere."""
    if not is_chief(strategy):
        return file_logger(None)
    resuming = FLAGS.RESUME and os.path.isdir(dirs.resume(name))
    return file_logger(dirs.log(f"{name}.log"), mode="a" if resuming else "w")


def resumable_run(dirs, name, strategy, log, **objects):
    """The `Resumable` of run `name` in the task directory and the position to continue from.

    Returns:
        `(resumable, position)`; position is None for a fresh start.
    """
    resumable = Resumable(dirs.resume(name), run_flags(FLAGS), is_chief(strategy), log, barrier=barrier(strategy),
                          **objects)
    log.info("training on %s; global batch %d", describe(strategy), FLAGS.BATCH_SIZE)
    return resumable, resumable.restore(FLAGS.RESUME)


def trained_model(task, dirs, lr_model, model_path="", strategy=None):
    """The model a stage evaluates: the AdapLeR checkpoint or the best fine-tuned epoch.

    Args:
        task: The task.
        dirs: Its `TaskDir`.
        lr_model: Load an AdapLeR checkpoint (else a plain fine-tuned one).
        model_path: Explicit checkpoint; empty = the default of the task directory.
        strategy: Build the model under this `tf.distribute.Strategy` (default: the current one).

    Returns:
        `(model, checkpoint path)`.
    """
    with (strategy or tf.distribute.get_strategy()).scope():
        model = build_model(task)
        if lr_model:
            model.to_AdapLeR()
            path = model_path or dirs.adapler_model(adapler_name(dirs))
        else:
            path = model_path or dirs.finetuned_model(ranked_epochs(task, dirs.ft_logs)[0][0])
        model.load_weights(path)
    return model, path
