"""Stage 3: AdapLeR training with the saliencies of stage 2; keeps the fastest checkpoint that stays accurate.

    python run_files/run_classification_w_lr.py --TASK=sst2 --GAMMA=1 --PHI=10 --INITIAL_MODEL_PATH=

After each epoch the dev split is evaluated with hard removal; the checkpoint kept follows
`pipeline/keep_rule.py`: among epochs scoring above (best fine-tuned score - 0.01), those within 1%
of the highest FLOPs speedup count as equally fast and the most accurate of them is kept. With
--ETA_SCALES each epoch is also evaluated with its ETA scaled, and every (epoch, scale) competes; with
--LATE_ETA_FACTORS the later half of the layers is scaled further, and every (epoch, scale, factor) competes. If no
epoch qualifies, the best-scoring epoch is kept and the log says so. The file always holds the
choice so far, so an interrupted run leaves a usable checkpoint, and a rerun with the same flags
resumes from the resume checkpoints in the task directory (see pipeline/resume.py). Runs under
--STRATEGY (or the original's --MULTI_GPU) with --BATCH_SIZE the global batch.
"""

import _bootstrap  # noqa: F401

import os
import sys

import numpy as np
import pipeline  # noqa: F401
import tensorflow as tf
from absl import flags
from tqdm import tqdm

from models.training import AdapLeRTrainer, NonFiniteLossError, lambda_schedule, make_optimizer, make_optimizers
from pipeline.atomic import save_weights, write_json, write_pickle
from pipeline.data import num_batches
from pipeline.distribution import define_distribution_flags, distribute, is_chief, weights_digest
from pipeline.evaluation import late_factor_suffix, layer_scales, predict, scaled_eta, score_with_removal
from pipeline.keep_rule import SCORE_TOLERANCE, choose_epoch, contenders
from pipeline.resume import define_resume_flags
from pipeline.stage import (FLAGS, adapler_name, build_model, current_task, define_adapler_name_flags,
                            define_common_flags, define_training_order_flags, load_encoded, ranked_epochs,
                            resumable_run, run, run_logger, stage_strategy, task_dir, tokenizer, training_order)
from tasks.readers import DataError

TOP_EPOCHS = 3

flags.DEFINE_integer("EPOCHS", 5, "AdapLeR training epochs (sets the lambda schedule).", lower_bound=1)
flags.DEFINE_string("INITIAL_MODEL_PATH", "pretrain",
                    "'pretrain' = pre-trained backbone, '' = best fine-tuned epoch, or a checkpoint path.")
flags.DEFINE_float("LEARNING_RATE", 3e-5, "Peak learning rate of the main optimizer.", lower_bound=0.0)
flags.DEFINE_float("WARMUP_RATIO", 0.06, "Fraction of updates of linear warm-up.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("CP_LEARNING_RATE", None,
                   "Separate peak learning rate of the Contribution Predictors (default: --LEARNING_RATE, as the "
                   "original). Short runs need a larger one (e.g. 1e-3) to train the new heads.", lower_bound=0.0)
flags.DEFINE_float("SPEEDUP_LEARNING_RATE", 5e-4,
                   "Peak learning rate of the ETA/THETA optimizer (5e-4 in the original); short runs need more.",
                   lower_bound=0.0)
flags.DEFINE_list("ETA_SCALES", ["1"],
                  "Beyond the original: ETA multipliers tried on the dev split after each epoch; the keep rule "
                  "chooses among every (epoch, scale), and the kept checkpoint stores the scaled ETA. The "
                  "inference-time speed knob, chosen on dev as the epoch is. Default 1: the original's behaviour.")
flags.register_validator("ETA_SCALES", lambda values: all(_positive_number(v) for v in values),
                         "--ETA_SCALES takes positive numbers, e.g. 0.8,0.9,1.")
flags.DEFINE_list("LATE_ETA_FACTORS", ["1"],
                  "Beyond the original: extra ETA multipliers of the later half of the layers (layers L//2+1..L), "
                  "each tried with every --ETA_SCALES value on dev; the keep rule chooses among them as among "
                  "scales. After a short run at a soft lambda the later layers' learned thresholds remove less "
                  "than those layers tolerate. Default 1: one scale for every layer.")
flags.register_validator("LATE_ETA_FACTORS", lambda values: all(_positive_number(v) for v in values),
                         "--LATE_ETA_FACTORS takes positive numbers, e.g. 1,1.5,2.")
flags.DEFINE_list("LAMBDAS", [],
                  "Beyond the original: the soft-removal sharpness of each epoch, one value per epoch, instead of "
                  "the schedule of --EPOCHS (models/training.py lambda_schedule). A short run can stay at a soft "
                  "lambda, e.g. --EPOCHS=1 --LAMBDAS=50: the schedule of a 1-epoch run jumps straight to 1e5.")
flags.register_validator("LAMBDAS", lambda values: all(_positive_number(v) for v in values),
                         "--LAMBDAS takes positive numbers, e.g. 50,2500.")
flags.register_multi_flags_validator(
    ["LAMBDAS", "EPOCHS"], lambda f: not f["LAMBDAS"] or len(f["LAMBDAS"]) == f["EPOCHS"],
    "--LAMBDAS needs one value per epoch (--EPOCHS).")
flags.DEFINE_integer("MIN_TRAIN_LENGTH", 0,
                     "Beyond the original: train only on the examples of at least this many tokens ([CLS] and [SEP] "
                     "included); 0 = all. SST-2's training set is mostly phrases (46% of them under 10 tokens) while "
                     "its dev set holds sentences (median 24 tokens), and a 3-token phrase has nothing to remove.",
                     lower_bound=0)
flags.DEFINE_float("DISTILL_WEIGHT", 0.0,
                   "Beyond the original: weight w of distillation from the fine-tuned model (the starting checkpoint) "
                   "in the task loss, (1 - w) CE + w KD; 0 = the original's CE. Its logits on the training examples "
                   "are computed once before training.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_float("DISTILL_TEMPERATURE", 2.0, "Softmax temperature of the distillation loss.", lower_bound=1e-3)
flags.register_multi_flags_validator(["DISTILL_WEIGHT", "INITIAL_MODEL_PATH"],
                                     lambda f: not f["DISTILL_WEIGHT"] or f["INITIAL_MODEL_PATH"] != "pretrain",
                                     "--DISTILL_WEIGHT distills the fine-tuned model: it needs --INITIAL_MODEL_PATH= "
                                     "(the best fine-tuned epoch) or a checkpoint path, not 'pretrain'.")
flags.DEFINE_integer("ACC_STEPS", 1, "Batches whose gradients are accumulated per update.", lower_bound=1)
define_adapler_name_flags()
define_common_flags()
define_distribution_flags()
define_resume_flags()
define_training_order_flags()


def load_saliencies(task, dirs, count):
    """Mean of the saved saliency arrays of the best epochs, checked against the training split."""
    arrays = []
    for epoch, _ in ranked_epochs(task, dirs.ft_logs)[:TOP_EPOCHS]:
        path = dirs.saliency("train", epoch)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{path} not found: run tools/store_saliencies.py --SPLIT=train first.")
        try:
            values = np.load(path, mmap_mode="r")
        except ValueError as error:
            raise DataError(f"{path} is not a readable .npy file ({error}).") from None
        if values.shape != (count, FLAGS.MAX_LENGTH):
            raise DataError(
                f"{path} has shape {values.shape} but the training split gives ({count}, {FLAGS.MAX_LENGTH}): "
                "it was stored for another --MAX_LENGTH or --TRAIN_EXAMPLES; rerun tools/store_saliencies.py."
            )
        arrays.append(values)
    return np.mean(arrays, axis=0).astype(np.float32)


def epoch_lambda(epoch):
    """The soft-removal sharpness of a 0-based epoch: --LAMBDAS when given, else the schedule."""
    if FLAGS.LAMBDAS:
        return float(FLAGS.LAMBDAS[epoch])
    return lambda_schedule(epoch, FLAGS.EPOCHS)


def _positive_number(text):
    try:
        return float(text) > 0
    except ValueError:
        return False


def initial_model(task, dirs):
    """The starting model (still without Contribution Predictors) and the path it came from."""
    model = build_model(task)
    path = FLAGS.INITIAL_MODEL_PATH
    if path == "":
        path = dirs.finetuned_model(ranked_epochs(task, dirs.ft_logs)[0][0])
    if path != "pretrain":
        model.load_weights(path)
    return model, path


def teacher_logits(model, train, strategy, log):
    """The starting model's logits on the training examples, or None without distillation."""
    if not FLAGS.DISTILL_WEIGHT:
        return None
    logits = predict(model, train, FLAGS.BATCH_SIZE, description="teacher logits (train)", strategy=strategy)["logits"]
    log.info("distilling the starting model (weight %g, temperature %g); its training-split logits were computed",
             FLAGS.DISTILL_WEIGHT, FLAGS.DISTILL_TEMPERATURE)
    return logits


def main(argv):
    del argv
    strategy = stage_strategy()
    chief = is_chief(strategy)
    task = current_task()
    dirs = task_dir().require()
    name = adapler_name(dirs)
    log = run_logger(dirs, name, strategy)
    tok = tokenizer()
    train = load_encoded(task, "train", tok, FLAGS.TRAIN_EXAMPLES)
    dev_split = task.dev_splits[0]
    dev = load_encoded(task, dev_split, tok, FLAGS.EVAL_EXAMPLES)
    saliencies = load_saliencies(task, dirs, len(train))
    if FLAGS.MIN_TRAIN_LENGTH:
        long_enough = np.flatnonzero(train.lengths >= FLAGS.MIN_TRAIN_LENGTH)
        if not len(long_enough):
            raise DataError(f"No training example has --MIN_TRAIN_LENGTH={FLAGS.MIN_TRAIN_LENGTH} tokens or more "
                            f"(the longest has {train.lengths.max()}).")
        log.info("training on the %d of %d examples with at least %d tokens", len(long_enough), len(train),
                 FLAGS.MIN_TRAIN_LENGTH)
        train, saliencies = train.select(long_enough), saliencies[long_enough]
    best_finetuned = ranked_epochs(task, dirs.ft_logs)[0][1]
    # Python, NumPy and TF: Keras initializers without a seed draw from Python's random.
    tf.keras.utils.set_random_seed(FLAGS.DATA_SEED)
    per_epoch = num_batches(train, FLAGS.BATCH_SIZE)
    updates = -(-per_epoch * FLAGS.EPOCHS // FLAGS.ACC_STEPS)
    with strategy.scope():
        model, start = initial_model(task, dirs)
        distill_targets = teacher_logits(model, train, strategy, log)
        model.to_AdapLeR()
        cp_optimizer = None
        if FLAGS.CP_LEARNING_RATE is not None:
            cp_optimizer = make_optimizer(updates, FLAGS.CP_LEARNING_RATE, FLAGS.WARMUP_RATIO)
        optimizers = make_optimizers(updates, FLAGS.LEARNING_RATE, FLAGS.WARMUP_RATIO,
                                     speedup_learning_rate=FLAGS.SPEEDUP_LEARNING_RATE)
    trainer = AdapLeRTrainer(model, *optimizers, gamma=FLAGS.GAMMA, phi=FLAGS.PHI, acc_steps=FLAGS.ACC_STEPS,
                             cp_optimizer=cp_optimizer, strategy=strategy, teacher_logits=distill_targets,
                             distill_weight=FLAGS.DISTILL_WEIGHT, temperature=FLAGS.DISTILL_TEMPERATURE)
    log.info("flags: %s", {k: v for k, v in FLAGS.flag_values_dict().items() if k.isupper()})
    log.info("start from %s; %d training examples; best fine-tuned %s = %.4f", start, len(train), dev_split,
             best_finetuned)
    objects = dict(model=model, optimizer=optimizers[0], speedup_optimizer=optimizers[1],
                   accumulators=trainer.accumulators, steps=trainer.steps)
    if cp_optimizer is not None:
        objects["cp_optimizer"] = cp_optimizer
    resumable, position = resumable_run(dirs, name, strategy, log, **objects)
    signal_keys = ("loss", "kl_loss", "length_loss", "lambda", "eta", "theta")
    position = position or {"epoch": 0, "batch": 0, "records": [], "saved": None, "contenders": [],
                            "signals": {key: [] for key in signal_keys}}
    records, saved, signals = position["records"], position["saved"], position["signals"]
    contenders_kept = position["contenders"]
    checkpoint = dirs.adapler_model(name)
    floor = best_finetuned - SCORE_TOLERANCE
    candidates = [(scale, factor) for scale in sorted({float(value) for value in FLAGS.ETA_SCALES})
                  for factor in sorted({float(value) for value in FLAGS.LATE_ETA_FACTORS})]
    layers = model.bert.encoder.num_layers
    for epoch in range(position["epoch"], FLAGS.EPOCHS):
        trainer.set_lambda(epoch_lambda(epoch))
        done = position["batch"] if epoch == position["epoch"] else 0
        order = training_order(train, FLAGS.DATA_SEED + epoch)
        data = distribute(strategy, train, FLAGS.BATCH_SIZE, order, rows=saliencies, skip_steps=done)
        inputs_spec, labels_spec, indices_spec, targets_spec = data.element_spec
        trainer.trace(inputs_spec, labels_spec, targets_spec, indices_spec)
        progress = tqdm(data, total=per_epoch, initial=done, desc=f"epoch {epoch + 1}/{FLAGS.EPOCHS}",
                        disable=not chief)
        for step, (inputs, labels, indices, targets) in enumerate(progress, done + 1):
            try:
                metrics = trainer.train_step(inputs, labels, targets, indices)
            except NonFiniteLossError as error:
                log.error("%s Stopped; the last saved checkpoint (%s) is intact.", error, saved and checkpoint)
                sys.exit(1)
            for key in ("loss", "kl_loss", "length_loss"):
                signals[key].append(float(metrics[key]))
            signals["lambda"].append(float(model.bert.encoder._lambda.numpy()))
            signals["eta"].append(model.bert.encoder.ETA.numpy().tolist())
            signals["theta"].append(model.bert.encoder.THETA.numpy().tolist())
            progress.set_postfix(loss=f"{metrics['loss']:.3f}", kl=f"{metrics['kl_loss']:.3f}",
                                 len=f"{metrics['length_loss']:.1f}")
            if step % FLAGS.CHECKPOINT_EVERY == 0 and step < per_epoch:
                resumable.save(epoch=epoch, batch=step, records=records, saved=saved, contenders=contenders_kept,
                               signals=signals)
        log.info("epoch %d: lambda=%g ETA=%s THETA=%s", epoch + 1, epoch_lambda(epoch),
                 np.round(model.bert.encoder.ETA.numpy(), 4), np.round(model.bert.encoder.THETA.numpy(), 4))
        for scale, factor in candidates:
            first, speed = score_with_removal(model, task, dev, FLAGS.BATCH_SIZE,
                                              layer_scales(scale, factor, layers), strategy)
            records.append(((epoch + 1, scale, factor), first, speed))
            log.info("epoch %d, %s: %s=%.4f speedup=%.3f", epoch + 1, describe(scale, factor), task.metrics[0],
                     first, speed)
        chosen, _ = choose_epoch(records, floor)
        # Weights of every epoch that can still win wait on disk beside the resume checkpoints.
        contenders_kept = sorted({key[0] for key, _, _ in contenders(records, floor)})
        if chief:
            if epoch + 1 in contenders_kept:
                save_weights(model, resumable.file(f"epoch_{epoch + 1}.h5"))
            for stale in set(range(1, epoch + 2)) - set(contenders_kept):
                if os.path.exists(resumable.file(f"epoch_{stale}.h5")):
                    os.remove(resumable.file(f"epoch_{stale}.h5"))
        if chosen != saved:
            if chief:
                store_choice(model, resumable.file(f"epoch_{chosen[0]}.h5"), layer_scales(*chosen[1:], layers),
                             checkpoint)
            saved = chosen
            log.info("saved epoch %d at %s -> %s", chosen[0], describe(*chosen[1:]), checkpoint)
        resumable.save(epoch=epoch + 1, batch=0, records=records, saved=saved, contenders=contenders_kept,
                       signals=signals)
    kept = next(record for record in records if record[0] == tuple(saved))
    _, qualified = choose_epoch(records, floor)
    if not qualified:
        log.warning("no epoch scored within %.2f of the fine-tuned %.4f; kept the best-scoring epoch %d (%s)",
                    SCORE_TOLERANCE, best_finetuned, saved[0], describe(*saved[1:]))
    if chief:
        write_pickle(dirs.log(f"{name}.pkl"), signals)
        write_json(dirs.log(f"{name}_tradeoff.json"), {
            "metric": task.metrics[0], "split": dev_split, "finetuned_score": best_finetuned,
            "kept": {"epoch": saved[0], "eta_scale": saved[1], "late_eta_factor": saved[2]},
            "records": [{"epoch": epoch, "eta_scale": scale, "late_eta_factor": factor, "score": first,
                         "speedup": speed} for (epoch, scale, factor), first, speed in records],
        })
    resumable.finish()
    log.info("weights digest %s", weights_digest(model))
    log.info("kept epoch %d at %s: %s=%.4f speedup=%.3f -> %s", kept[0][0], describe(*kept[0][1:]), task.metrics[0],
             kept[1], kept[2], checkpoint)
    if chief:
        print(f"AdapLeR dev {task.metrics[0]}={kept[1]:.4f} speedup={kept[2]:.3f} checkpoint={checkpoint}", flush=True)


def describe(scale, factor):
    """`ETA x0.8`, or `ETA x0.8, later layers x1.5` when the later half of the layers is scaled further."""
    return f"ETA x{scale:g}{late_factor_suffix(factor)}"


def store_choice(model, weights_path, scale, checkpoint):
    """Writes the chosen epoch's weights with ETA scaled (one value or one per layer) to `checkpoint`; the
    model's own weights stay."""
    current = model.get_weights()
    model.load_weights(weights_path)
    with scaled_eta(model, scale):
        save_weights(model, checkpoint)
    model.set_weights(current)


if __name__ == "__main__":
    run(main)
