"""Stage 3: AdapLeR training with the saliencies of stage 2; keeps the fastest checkpoint that stays accurate.

    python run_files/run_classification_w_lr.py --TASK=sst2 --GAMMA=1 --PHI=10 --INITIAL_MODEL_PATH=
    python run_files/run_classification_w_lr.py --RECIPE=quickstart --DATA_DIR=../shared/data

After each epoch the dev split is evaluated with hard removal, at every --ETA_SCALES value (each
with every --LATE_ETA_FACTORS value), and the checkpoint follows the keep rule of
`pipeline/keep_rule.py`. The file always holds the choice so far, so an interrupted run leaves a
usable checkpoint, and a rerun with the same flags resumes from the resume checkpoints in the task
directory. Runs under --STRATEGY (or the original's --MULTI_GPU) with --BATCH_SIZE the global batch.
"""

import os

from models.adapler_training import AdapLeRTrainer, lambda_schedule, make_optimizers
from models.losses import TaskObjective
from models.optimizers import make_optimizer
from pipeline import cli, loading
from pipeline.atomic import save_weights, write_json, write_pickle
from pipeline.data import at_least
from pipeline.distribution import is_chief, weights_digest
from pipeline.epochs import EpochLoop, update_count
from pipeline.evaluation import late_factor_suffix, layer_scales, predict, scaled_eta, score_with_removal
from pipeline.flags import FLAGS, define_adapler_training_flags
from pipeline.keep_rule import SCORE_TOLERANCE, Candidate, Scored, Selection

import numpy as np
import tensorflow as tf

define_adapler_training_flags()
SIGNALS = ("loss", "kl_loss", "length_loss", "lambda", "eta", "theta")


def epoch_lambda(epoch):
    """The soft-removal sharpness of a 0-based epoch: --LAMBDAS when given, else the schedule."""
    return float(FLAGS.LAMBDAS[epoch]) if FLAGS.LAMBDAS else lambda_schedule(epoch, FLAGS.EPOCHS)


def describe(candidate):
    """`ETA x0.8`, or `ETA x0.8, later layers x1.5` when the later half of the layers is scaled further."""
    return f"ETA x{candidate.eta_scale:g}{late_factor_suffix(candidate.late_factor)}"


def starting_model(task, dirs):
    """The model stage 3 starts from (before `to_AdapLeR()`) and where it came from."""
    path = FLAGS.INITIAL_MODEL_PATH
    if path == "pretrain":
        return loading.build_model(FLAGS.BASE_MODEL, task.num_labels), path
    path = path or loading.best_finetuned(task, dirs)[0]
    return loading.load_trained(FLAGS.BASE_MODEL, task.num_labels, path), path


def store_choice(model, weights_path, scales, checkpoint):
    """Writes the chosen epoch's weights with ETA scaled per layer to `checkpoint`; the model's weights stay."""
    current = model.get_weights()
    model.load_weights(weights_path)
    with scaled_eta(model, scales):
        save_weights(model, checkpoint)
    model.set_weights(current)


def main(argv):
    del argv
    strategy = cli.strategy()
    chief = is_chief(strategy)
    task = cli.task()
    dirs = cli.task_dir().require()
    name = cli.adapler_name(dirs)
    log = cli.run_logger(dirs, name, strategy)
    tok = cli.tokenizer()
    train = cli.encoded(task, "train", tok, FLAGS.TRAIN_EXAMPLES)
    dev_split = task.dev_splits[0]
    dev = cli.encoded(task, dev_split, tok, FLAGS.EVAL_EXAMPLES)
    saliencies = loading.load_saliencies(task, dirs, len(train), FLAGS.MAX_LENGTH)
    if FLAGS.MIN_TRAIN_LENGTH:
        kept = at_least(train, FLAGS.MIN_TRAIN_LENGTH)
        log.info("training on the %d of %d examples with at least %d tokens", len(kept), len(train),
                 FLAGS.MIN_TRAIN_LENGTH)
        train, saliencies = train.select(kept), saliencies[kept]
    best_finetuned = loading.ranked_epochs(task, dirs)[0][1]
    # Python, NumPy and TF: Keras initializers without a seed draw from Python's random.
    tf.keras.utils.set_random_seed(FLAGS.DATA_SEED)
    updates = update_count(train, FLAGS.BATCH_SIZE, FLAGS.EPOCHS, FLAGS.ACC_STEPS)
    with strategy.scope():
        model, start = starting_model(task, dirs)
        teacher = None
        if FLAGS.DISTILL_WEIGHT:
            teacher = predict(model, train, FLAGS.BATCH_SIZE, description="teacher logits (train)",
                              strategy=strategy)["logits"]
            log.info("distilling the starting model (weight %g, temperature %g); its training-split logits were "
                     "computed", FLAGS.DISTILL_WEIGHT, FLAGS.DISTILL_TEMPERATURE)
        model.to_AdapLeR()
        cp_optimizer = None
        if FLAGS.CP_LEARNING_RATE is not None:
            cp_optimizer = make_optimizer(updates, FLAGS.CP_LEARNING_RATE, FLAGS.WARMUP_RATIO)
        optimizers = make_optimizers(updates, FLAGS.LEARNING_RATE, FLAGS.WARMUP_RATIO,
                                     speedup_learning_rate=FLAGS.SPEEDUP_LEARNING_RATE)
    objective = TaskObjective(task.num_labels, teacher_logits=teacher, distill_weight=FLAGS.DISTILL_WEIGHT,
                              temperature=FLAGS.DISTILL_TEMPERATURE)
    trainer = AdapLeRTrainer(model, *optimizers, gamma=FLAGS.GAMMA, phi=FLAGS.PHI, acc_steps=FLAGS.ACC_STEPS,
                             objective=objective, cp_optimizer=cp_optimizer, strategy=strategy)
    log.info("flags: %s", {k: v for k, v in FLAGS.flag_values_dict().items() if k.isupper()})
    log.info("start from %s; %d training examples; best fine-tuned %s = %.4f", start, len(train), dev_split,
             best_finetuned)
    resumable, position = cli.resumable_run(dirs, name, strategy, log, trainer.checkpoint_objects())
    loop = EpochLoop(trainer, train, FLAGS.BATCH_SIZE, FLAGS.EPOCHS, FLAGS.DATA_SEED, FLAGS.GROUP_BY_LENGTH, strategy,
                     rows=saliencies, resumable=resumable, checkpoint_every=FLAGS.CHECKPOINT_EVERY, chief=chief,
                     log=log)
    checkpoint = dirs.adapler_model(name)
    encoder = model.bert.encoder
    layers = encoder.num_layers
    candidates = [(float(scale), float(factor)) for scale in sorted({float(v) for v in FLAGS.ETA_SCALES})
                  for factor in sorted({float(v) for v in FLAGS.LATE_ETA_FACTORS})]

    def after_step(epoch, metrics, state):
        signals = state["signals"]
        for key in ("loss", "kl_loss", "length_loss"):
            signals[key].append(float(metrics[key]))
        signals["lambda"].append(float(encoder._lambda.numpy()))
        signals["eta"].append(encoder.ETA.numpy().tolist())
        signals["theta"].append(encoder.THETA.numpy().tolist())
        return {"loss": f"{metrics['loss']:.3f}", "kl": f"{metrics['kl_loss']:.3f}",
                "len": f"{metrics['length_loss']:.1f}"}

    def after_epoch(epoch, state):
        selection = state["selection"]
        log.info("epoch %d: lambda=%g ETA=%s THETA=%s", epoch + 1, epoch_lambda(epoch), np.round(encoder.ETA.numpy(), 4),
                 np.round(encoder.THETA.numpy(), 4))
        records = []
        for scale, factor in candidates:
            first, speed = score_with_removal(model, task, dev, FLAGS.BATCH_SIZE, layer_scales(scale, factor, layers),
                                              strategy)
            records.append(Scored(Candidate(epoch + 1, scale, factor), first, speed))
            log.info("epoch %d, %s: %s=%.4f speedup=%.3f", epoch + 1, describe(records[-1].candidate),
                     task.metrics[0], first, speed)
        changed, keep, drop = selection.add(records)
        if chief:
            # Weights of every epoch that can still be chosen wait on disk beside the resume checkpoints.
            if epoch + 1 in keep:
                save_weights(model, resumable.file(f"epoch_{epoch + 1}.h5"))
            for stale in drop:
                if os.path.exists(resumable.file(f"epoch_{stale}.h5")):
                    os.remove(resumable.file(f"epoch_{stale}.h5"))
        if changed:
            chosen = selection.kept.candidate
            if chief:
                store_choice(model, resumable.file(f"epoch_{chosen.epoch}.h5"),
                             layer_scales(chosen.eta_scale, chosen.late_factor, layers), checkpoint)
            log.info("saved epoch %d at %s -> %s", chosen.epoch, describe(chosen), checkpoint)

    state = {"selection": Selection(best_finetuned - SCORE_TOLERANCE), "signals": {key: [] for key in SIGNALS}}
    state = loop.run(position, state, before_epoch=lambda epoch: trainer.set_lambda(epoch_lambda(epoch)),
                     after_step=after_step, after_epoch=after_epoch)
    selection, kept = state["selection"], state["selection"].kept
    if not selection.qualified:
        log.warning("no epoch scored within %.2f of the fine-tuned %.4f; kept the best-scoring epoch %d (%s)",
                    SCORE_TOLERANCE, best_finetuned, kept.candidate.epoch, describe(kept.candidate))
    if chief:
        write_pickle(dirs.log(f"{name}.pkl"), state["signals"])
        write_json(dirs.log(f"{name}_tradeoff.json"), {
            "metric": task.metrics[0], "split": dev_split, "finetuned_score": best_finetuned,
            "kept": {"epoch": kept.candidate.epoch, "eta_scale": kept.candidate.eta_scale,
                     "late_eta_factor": kept.candidate.late_factor},
            "records": [{"epoch": r.candidate.epoch, "eta_scale": r.candidate.eta_scale,
                         "late_eta_factor": r.candidate.late_factor, "score": r.score, "speedup": r.speedup}
                        for r in selection.records],
        })
    resumable.finish()
    log.info("weights digest %s", weights_digest(model))
    log.info("kept epoch %d at %s: %s=%.4f speedup=%.3f -> %s", kept.candidate.epoch, describe(kept.candidate),
             task.metrics[0], kept.score, kept.speedup, checkpoint)
    if chief:
        print(f"AdapLeR dev {task.metrics[0]}={kept.score:.4f} speedup={kept.speedup:.3f} checkpoint={checkpoint}",
              flush=True)


if __name__ == "__main__":
    cli.run(main, section="adapler")
