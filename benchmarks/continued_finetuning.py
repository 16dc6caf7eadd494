"""Continued fine-tuning, with hard removal and without: does it close AdapLeR's gap, or lift both models?

    python benchmarks/continued_finetuning.py --RECIPE=quickstart --DATA_DIR=../shared/data --ETA_SCALE=1.143 \
        --DISTILL_WEIGHT=0.5

Starts from a task directory where `run.sh` (or the stages) ran. Trains, for --EPOCHS at
--LEARNING_RATE with the same objective (`(1 - w) CE + w KD` from the fine-tuned model's logits):
(a) the AdapLeR checkpoint's backbone and classifier with hard removal at --ETA_SCALE times its
ETA, the Contribution Predictors, ETA and THETA frozen, so the backbone trains on exactly the
sequences it will see at inference; (b) the fine-tuned model, nothing removed: the control, the
same extra training without removal. After every epoch both are scored on dev (AdapLeR at each of
--EVAL_SCALES times the trained thresholds, with its FLOPs speedup). Writes
`continued_finetuning_<task>_<max length>.json` and `.md` under --RESULTS_DIR.
"""

import os
import sys

from analysis.continued_training import table
from models.adapler_training import split_contribution_predictor_variables
from models.finetuning import FineTuningTrainer
from models.losses import TaskObjective
from models.optimizers import make_optimizer
from pipeline import cli
from pipeline.atomic import write_json, write_text
from pipeline.data import at_least
from pipeline.epochs import EpochLoop, update_count
from pipeline.evaluation import predict, score, score_with_removal
from pipeline.flags import (
    FLAGS,
    define_adapler_name_flags,
    define_common_flags,
    define_distillation_flags,
    define_min_train_length_flag,
    define_training_flags,
)
from pipeline.loading import best_finetuned, load_trained
from pipeline.paths import REPO
from pipeline.provenance import command_line, machine, today

import tensorflow as tf
from absl import flags

define_common_flags()
define_training_flags(epochs=2, learning_rate=5e-5)
define_adapler_name_flags()
define_distillation_flags()
define_min_train_length_flag()
flags.DEFINE_float("ETA_SCALE", 1.0, "Times the checkpoint's ETA during training: the operating point trained for.",
                   lower_bound=0.0)
flags.DEFINE_list("EVAL_SCALES", ["0.9", "1", "1.1"], "Dev scores at these multiples of the trained thresholds.")
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where results are written.")


def continue_training(model, train, objective, evaluate, lr_mode, strategy):
    """Trains `model` for --EPOCHS, calling `evaluate(model)` after each; returns its results per epoch."""
    # The Contribution Predictors stay as trained: only what reads the kept tokens learns.
    variables = split_contribution_predictor_variables(model)[0] if lr_mode else model.trainable_variables
    optimizer = make_optimizer(update_count(train, FLAGS.BATCH_SIZE, FLAGS.EPOCHS), FLAGS.LEARNING_RATE,
                               FLAGS.WARMUP_RATIO, weight_decay=0.01)
    trainer = FineTuningTrainer(model, optimizer, variables, objective, lr_mode=lr_mode, strategy=strategy)
    loop = EpochLoop(trainer, train, FLAGS.BATCH_SIZE, FLAGS.EPOCHS, FLAGS.DATA_SEED, FLAGS.GROUP_BY_LENGTH, strategy)
    label = "AdapLeR, hard removal" if lr_mode else "fine-tuned, nothing removed"

    def after_step(epoch, metrics, state):
        state["losses"].append(float(metrics["loss"]))
        return {"loss": f"{metrics['loss']:.3f}"}

    def after_epoch(epoch, state):
        losses, state["losses"] = state["losses"], []
        state["epochs"].append(dict(epoch=epoch + 1, train_loss=sum(losses) / len(losses), **evaluate(model)))
        print(f"{label}, epoch {epoch + 1}: {state['epochs'][-1]}", flush=True)

    return loop.run(None, {"losses": [], "epochs": []}, after_step=after_step, after_epoch=after_epoch)["epochs"]


def main(argv):
    del argv
    strategy = cli.strategy()
    task = cli.task()
    dirs = cli.task_dir().require()
    tok = cli.tokenizer()
    train = cli.encoded(task, "train", tok, FLAGS.TRAIN_EXAMPLES)
    train = train.select(at_least(train, FLAGS.MIN_TRAIN_LENGTH))
    dev = cli.encoded(task, task.dev_splits[0], tok, FLAGS.EVAL_EXAMPLES)
    metric = task.metrics[0]
    checkpoint = dirs.adapler_model(cli.adapler_name(dirs))
    if not os.path.isfile(checkpoint):
        raise FileNotFoundError(f"{checkpoint} not found: run run.sh (or the stages) with this --SAVE_NAME, --GAMMA "
                                "and --PHI first.")
    tf.keras.utils.set_random_seed(FLAGS.DATA_SEED)
    plain = load_trained(FLAGS.BASE_MODEL, task.num_labels, best_finetuned(task, dirs)[0])
    teacher = predict(plain, train, FLAGS.BATCH_SIZE, description="teacher logits")["logits"]
    objective = TaskObjective(task.num_labels, teacher_logits=teacher, distill_weight=FLAGS.DISTILL_WEIGHT,
                              temperature=FLAGS.DISTILL_TEMPERATURE)
    adapler = load_trained(FLAGS.BASE_MODEL, task.num_labels, checkpoint)
    adapler.bert.encoder.ETA.assign(adapler.bert.encoder.ETA * FLAGS.ETA_SCALE)

    def plain_score(model):
        return {"score": score(task, dev.labels, predict(model, dev, FLAGS.BATCH_SIZE)["logits"])[metric]}

    def removal_points(model):
        points = []
        for scale in sorted(float(value) for value in FLAGS.EVAL_SCALES):
            first, speedup = score_with_removal(model, task, dev, FLAGS.BATCH_SIZE, scale)
            points.append({"eta_scale": scale * FLAGS.ETA_SCALE, "score": first, "flops_speedup": speedup})
        return {"points": points}

    result = {"task": FLAGS.TASK, "backbone": FLAGS.BASE_MODEL, "max_length": FLAGS.MAX_LENGTH,
              "train_examples": len(train), "metric": metric, "checkpoint": os.path.relpath(checkpoint, REPO),
              "plain_start": plain_score(plain)["score"], "adapler_start": removal_points(adapler)["points"]}
    result["adapler"] = continue_training(adapler, train, objective, removal_points, True, strategy)
    result["plain"] = continue_training(plain, train, objective, plain_score, False, strategy)
    result.update(settings={name: FLAGS[name].value for name in ("ETA_SCALE", "EPOCHS", "BATCH_SIZE", "LEARNING_RATE",
                                                                 "DISTILL_WEIGHT", "DISTILL_TEMPERATURE")},
                  command=command_line(sys.argv), machine=machine(), date=today())
    stem = os.path.join(FLAGS.RESULTS_DIR, f"continued_finetuning_{FLAGS.TASK}_{FLAGS.MAX_LENGTH}")
    write_json(stem + ".json", result)
    write_text(stem + ".md", table(result))
    print(table(result), flush=True)


if __name__ == "__main__":
    cli.run(main, section="adapler")
