"""Continued fine-tuning, with hard removal and without: does it close AdapLeR's gap, or lift both models?

    python benchmarks/continued_finetuning.py --TASK=sst2 --MAX_LENGTH=64 --TRAIN_EXAMPLES=4000 \
        --DATA_DIR=../shared/data --SAVE_NAME=quickstart --GAMMA=0.5 --PHI=0.003 --ETA_SCALE=1.143 \
        --EPOCHS=2 --LEARNING_RATE=5e-5 --DISTILL_WEIGHT=0.5

Starts from a task directory where `run.sh` (or the stages) ran. Trains, for --EPOCHS at
--LEARNING_RATE with the same objective (`(1 - w) CE + w KD` from the fine-tuned model's logits):
(a) the AdapLeR checkpoint's backbone and classifier with hard removal at --ETA_SCALE times its
ETA, the Contribution Predictors, ETA and THETA frozen, so the backbone trains on exactly the
sequences it will see at inference; (b) the fine-tuned model, nothing removed: the control, the
same extra training without removal. After every epoch both are scored on dev (AdapLeR at each of
--EVAL_SCALES times the trained thresholds, with its FLOPs speedup). Writes
`continued_finetuning_<task>_<max length>.json` and `.md` under --RESULTS_DIR.
"""

import datetime
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import models  # noqa: E402,F401
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from tqdm import tqdm  # noqa: E402

from benchmarks.report import command_line, machine  # noqa: E402
from models.backbones import backbone_label, load_tokenizer, resolve_backbone  # noqa: E402
from models.modeling_tf_bert import TFBertForSequenceClassification  # noqa: E402
from models.training import make_optimizer, mixed_task_loss, split_contribution_predictor_variables  # noqa: E402
from pipeline.atomic import write_json, write_text  # noqa: E402
from pipeline.data import dataset, encode, length_grouped_order, num_batches  # noqa: E402
from pipeline.evaluation import predict, score, score_with_removal  # noqa: E402
from pipeline.paths import REPO, TaskDir  # noqa: E402
from pipeline.stage import ranked_epochs  # noqa: E402
from tasks.registry import get_task, load_split  # noqa: E402

FLAGS = flags.FLAGS
# Scoring batch size: predictions are per example whatever the batch, so it only sets the speed of scoring.
EVAL_BATCH_SIZE = 64


def define_flags():
    """The tool's flags (defined when it runs, so tests can import its functions)."""
    flags.DEFINE_string("TASK", "sst2", "Task.")
    flags.DEFINE_string("BASE_MODEL", "all-MiniLM-L6-v2", "Backbone.")
    flags.DEFINE_integer("MAX_LENGTH", 64, "Max tokens per example.")
    flags.DEFINE_integer("DATA_SEED", 42, "Seed of the task directory; also seeds the training order.")
    flags.DEFINE_string("DATA_DIR", os.environ.get("ADAPLER_DATA_DIR", ""), "Local data (empty = tensorflow-datasets).")
    flags.DEFINE_integer("TRAIN_EXAMPLES", 0, "The first N training examples, as the run trained on (0 = all).",
                         lower_bound=0)
    flags.DEFINE_integer("MIN_TRAIN_LENGTH", 10, "Train on the examples of at least this many tokens (as stage 3).",
                         lower_bound=0)
    flags.DEFINE_string("WORK_DIR", os.path.join(REPO, "directory"), "Root of the task directories.")
    flags.DEFINE_string("SAVE_NAME", "quickstart", "AdapLeR run name (with --GAMMA and --PHI).")
    flags.DEFINE_float("GAMMA", 0.5, "GAMMA of the AdapLeR run.")
    flags.DEFINE_float("PHI", 0.003, "PHI of the AdapLeR run.")
    flags.DEFINE_float("ETA_SCALE", 1.0, "Times the checkpoint's ETA during training: the operating point trained for.",
                       lower_bound=0.0)
    flags.DEFINE_list("EVAL_SCALES", ["0.9", "1", "1.1"], "Dev scores at these multiples of the trained thresholds.")
    flags.DEFINE_integer("EPOCHS", 2, "Training epochs.", lower_bound=1)
    flags.DEFINE_integer("BATCH_SIZE", 16, "Examples per batch.", lower_bound=1)
    flags.DEFINE_float("LEARNING_RATE", 5e-5, "Peak learning rate (linear warm-up and decay).", lower_bound=0.0)
    flags.DEFINE_float("DISTILL_WEIGHT", 0.5, "Weight w of distillation from the fine-tuned model.",
                       lower_bound=0.0, upper_bound=1.0)
    flags.DEFINE_float("DISTILL_TEMPERATURE", 2.0, "Softmax temperature of the distillation loss.", lower_bound=1e-3)
    flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")


def train_epoch(model, step, train, batch_size, shuffle_seed, description):
    """One epoch of `step(inputs, labels, indices)` over length-grouped batches; returns the mean loss."""
    order = length_grouped_order(train, shuffle_seed, batch_size)
    losses = []
    progress = tqdm(dataset(train, batch_size, order), total=num_batches(train, batch_size), desc=description)
    for inputs, labels, indices in progress:
        losses.append(float(step(inputs, labels, indices)))
        progress.set_postfix(loss=f"{losses[-1]:.3f}")
    return float(np.mean(losses))


def make_step(model, variables, optimizer, teacher_logits, distill_weight, temperature, lr_mode):
    """A compiled update of `variables` on `(1 - w) CE + w KD`, the forward pass removing tokens when `lr_mode`.

    Args:
        model: The model to train.
        variables: The weights updated.
        optimizer: Their optimizer.
        teacher_logits: `[N, K]` fine-tuned logits of the training examples, row `i` for example `i`.
        distill_weight: `w`.
        temperature: Distillation temperature.
        lr_mode: Hard removal at the model's current ETA (AdapLeR only).

    Returns:
        `step(inputs, labels, indices) -> loss`.
    """
    teacher = tf.constant(teacher_logits, tf.float32)
    class_weights = tf.ones([teacher.shape[-1]])

    @tf.function(reduce_retracing=True)
    def step(inputs, labels, indices):
        with tf.GradientTape() as tape:
            logits = model(inputs, lr_mode=lr_mode, training=True).logits
            loss = mixed_task_loss(labels, logits, class_weights, tf.gather(teacher, indices), distill_weight,
                                   temperature)
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    return step


def continue_training(model, train, teacher_logits, dev, evaluate, lr_mode):
    """Trains `model` for --EPOCHS, calling `evaluate(model)` after each; returns its results per epoch."""
    # The Contribution Predictors stay as trained: only what reads the kept tokens learns.
    variables = split_contribution_predictor_variables(model)[0] if lr_mode else model.trainable_variables
    optimizer = make_optimizer(num_batches(train, FLAGS.BATCH_SIZE) * FLAGS.EPOCHS, FLAGS.LEARNING_RATE,
                               weight_decay=0.01)
    step = make_step(model, variables, optimizer, teacher_logits, FLAGS.DISTILL_WEIGHT, FLAGS.DISTILL_TEMPERATURE,
                     lr_mode)
    label = "AdapLeR, hard removal" if lr_mode else "fine-tuned, nothing removed"
    epochs = []
    for epoch in range(FLAGS.EPOCHS):
        loss = train_epoch(model, step, train, FLAGS.BATCH_SIZE, FLAGS.DATA_SEED + epoch,
                           f"{label}: epoch {epoch + 1}/{FLAGS.EPOCHS}")
        epochs.append(dict(epoch=epoch + 1, train_loss=loss, **evaluate(model)))
        print(f"{label}, epoch {epoch + 1}: {epochs[-1]}", flush=True)
    return epochs


def table(result):
    """The results as markdown: the control's score and AdapLeR's at each scale, per epoch."""
    scales = [point["eta_scale"] for point in result["adapler"][0]["points"]]
    lines = [f"# Continued fine-tuning, {result['task']} at {result['max_length']}", "",
             f"- command: `{result['command']}`", f"- machine: {result['machine']}; date: {result['date']}", "",
             "| epoch | fine-tuned, nothing removed | " + " | ".join(f"AdapLeR, ETA x{s:g}" for s in scales) + " |",
             "|---|---|" + "---|" * len(scales)]
    rows = [(0, result["plain_start"], result["adapler_start"])] + [
        (plain["epoch"], plain["score"], adapler["points"]) for plain, adapler in zip(result["plain"],
                                                                                      result["adapler"])]
    for epoch, plain, points in rows:
        cells = [f"{p['score']:.4f} at {p['flops_speedup']:.2f}x" for p in points]
        lines.append(f"| {epoch} | {plain:.4f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv):
    del argv
    task = get_task(FLAGS.TASK)
    dirs = TaskDir(backbone_label(FLAGS.BASE_MODEL), FLAGS.TASK, FLAGS.DATA_SEED, root=FLAGS.WORK_DIR)
    tokenizer = load_tokenizer(FLAGS.BASE_MODEL)
    train = encode(load_split(task, "train", FLAGS.DATA_DIR or None, seed=FLAGS.DATA_SEED), tokenizer,
                   FLAGS.MAX_LENGTH)
    train = train.subset(FLAGS.TRAIN_EXAMPLES) if FLAGS.TRAIN_EXAMPLES else train
    train = train.select(np.flatnonzero(train.lengths >= FLAGS.MIN_TRAIN_LENGTH))
    dev = encode(load_split(task, task.dev_splits[0], FLAGS.DATA_DIR or None, seed=FLAGS.DATA_SEED), tokenizer,
                 FLAGS.MAX_LENGTH)
    metric = task.metrics[0]
    path = resolve_backbone(FLAGS.BASE_MODEL)
    checkpoint = dirs.adapler_model(dirs.adapler_name(FLAGS.SAVE_NAME, FLAGS.GAMMA, FLAGS.PHI))
    if not os.path.isfile(checkpoint):
        raise app.UsageError(f"{checkpoint} not found: run run.sh (or the stages) with this --SAVE_NAME, --GAMMA "
                             "and --PHI first.")
    tf.keras.utils.set_random_seed(FLAGS.DATA_SEED)
    plain = TFBertForSequenceClassification.from_pretrained(path, num_labels=task.num_labels)
    plain.load_weights(dirs.finetuned_model(ranked_epochs(task, dirs.ft_logs)[0][0]))
    teacher = predict(plain, train, EVAL_BATCH_SIZE, description="teacher logits")["logits"]
    adapler = TFBertForSequenceClassification.from_pretrained(path, num_labels=task.num_labels).to_AdapLeR()
    adapler.load_weights(checkpoint)
    adapler.bert.encoder.ETA.assign(adapler.bert.encoder.ETA * FLAGS.ETA_SCALE)

    def plain_score(model):
        return {"score": score(task, dev.labels, predict(model, dev, EVAL_BATCH_SIZE)["logits"])[metric]}

    def removal_points(model):
        points = []
        for scale in sorted(float(value) for value in FLAGS.EVAL_SCALES):
            first, speedup = score_with_removal(model, task, dev, EVAL_BATCH_SIZE, scale)
            points.append({"eta_scale": scale * FLAGS.ETA_SCALE, "score": first, "flops_speedup": speedup})
        return {"points": points}

    result = {"task": FLAGS.TASK, "backbone": FLAGS.BASE_MODEL, "max_length": FLAGS.MAX_LENGTH,
              "train_examples": len(train), "metric": metric, "checkpoint": os.path.relpath(checkpoint, REPO),
              "plain_start": plain_score(plain)["score"], "adapler_start": removal_points(adapler)["points"]}
    result["adapler"] = continue_training(adapler, train, teacher, dev, removal_points, lr_mode=True)
    result["plain"] = continue_training(plain, train, teacher, dev, plain_score, lr_mode=False)
    result.update(settings={name: FLAGS[name].value for name in ("ETA_SCALE", "EPOCHS", "BATCH_SIZE", "LEARNING_RATE",
                                                                 "DISTILL_WEIGHT", "DISTILL_TEMPERATURE")},
                  command=command_line(sys.argv), machine=machine(), date=datetime.date.today().isoformat())
    stem = os.path.join(FLAGS.RESULTS_DIR, f"continued_finetuning_{FLAGS.TASK}_{FLAGS.MAX_LENGTH}")
    os.makedirs(FLAGS.RESULTS_DIR, exist_ok=True)
    write_json(stem + ".json", result)
    write_text(stem + ".md", table(result))
    print(table(result), flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
