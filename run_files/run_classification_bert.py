"""Stage 1: fine-tune the plain BERT classifier; one .h5 per epoch and logs/ft_logs.json.

    python run_files/run_classification_bert.py --TASK=sst2 --DATA_DIR=../shared/data

Runs under `--STRATEGY` (or the original's `--MULTI_GPU`) with `--BATCH_SIZE` the global batch,
and keeps resume checkpoints in the task directory's resume/finetune: a rerun with the same flags
continues where a killed one stopped.
"""

import _bootstrap  # noqa: F401

import pipeline  # noqa: F401
import tensorflow as tf
from absl import flags
from tqdm import tqdm

from models.training import global_sum, make_optimizer, replica_share, task_loss, weighted, with_token_axis
from pipeline.atomic import save_weights, write_json
from pipeline.data import num_batches
from pipeline.distribution import (define_distribution_flags, distribute, is_chief, trace_for_any_shape,
                                   weights_digest)
from pipeline.evaluation import predict, score
from pipeline.resume import define_resume_flags
from pipeline.stage import (FLAGS, build_model, current_task, define_common_flags, define_training_order_flags,
                            load_encoded, resumable_run, run, run_logger, stage_strategy, task_dir, tokenizer,
                            training_order)

flags.DEFINE_float("LEARNING_RATE", 2e-5, "Peak learning rate of AdamW.", lower_bound=0.0)
flags.DEFINE_float("WARMUP_RATIO", 0.06, "Fraction of steps of linear warm-up.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("EPOCHS", 3, "Fine-tuning epochs.", lower_bound=1)
define_common_flags()
define_distribution_flags()
define_resume_flags()
define_training_order_flags()


def main(argv):
    del argv
    strategy = stage_strategy()
    chief = is_chief(strategy)
    task = current_task()
    tok = tokenizer()
    dirs = task_dir().build()
    log = run_logger(dirs, "finetune", strategy)
    train = load_encoded(task, "train", tok, FLAGS.TRAIN_EXAMPLES)
    devs = {split: load_encoded(task, split, tok, FLAGS.EVAL_EXAMPLES) for split in task.dev_splits}
    # Python, NumPy and TF: Keras initializers without a seed draw from Python's random.
    tf.keras.utils.set_random_seed(FLAGS.DATA_SEED)
    per_epoch = num_batches(train, FLAGS.BATCH_SIZE)
    with strategy.scope():
        model = build_model(task)
        optimizer = make_optimizer(per_epoch * FLAGS.EPOCHS, FLAGS.LEARNING_RATE, FLAGS.WARMUP_RATIO, weight_decay=0.01)
    class_weights = tf.ones([task.num_labels])

    def replica_step(inputs, labels, indices):
        share = replica_share(labels)
        inputs = with_token_axis(inputs)
        with tf.GradientTape() as tape:
            loss = weighted(task_loss(labels, model(inputs, training=True).logits, class_weights), share)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return global_sum(loss)

    @tf.function(reduce_retracing=True)
    def train_step(batch):
        return strategy.experimental_local_results(strategy.run(replica_step, args=batch))[0]

    resumable, position = resumable_run(dirs, "finetune", strategy, log, model=model, optimizer=optimizer)
    position = position or {"epoch": 0, "batch": 0, "records": []}
    records = position["records"]
    log.info("fine-tuning %s on %d examples (%d steps) in %s", task.name, len(train), per_epoch * FLAGS.EPOCHS,
             dirs.path)
    for epoch in range(position["epoch"], FLAGS.EPOCHS):
        done = position["batch"] if epoch == position["epoch"] else 0
        order = training_order(train, FLAGS.DATA_SEED + epoch + 1)
        data = distribute(strategy, train, FLAGS.BATCH_SIZE, order, skip_steps=done)
        trace_for_any_shape(train_step, data)
        progress = tqdm(data, total=per_epoch, initial=done, desc=f"epoch {epoch + 1}/{FLAGS.EPOCHS}",
                        disable=not chief)
        for step, batch in enumerate(progress, done + 1):
            progress.set_postfix(loss=f"{float(train_step(batch)):.4f}")
            if step % FLAGS.CHECKPOINT_EVERY == 0 and step < per_epoch:
                resumable.save(epoch=epoch, batch=step, records=records)
        record = {"epoch": epoch + 1}
        for split, dev in devs.items():
            record[split] = score(task, dev.labels, predict(model, dev, FLAGS.BATCH_SIZE, strategy=strategy)["logits"])
        records.append(record)
        if chief:
            save_weights(model, dirs.finetuned_model(epoch + 1))
            write_json(dirs.ft_logs, records)
            print(f"epoch {epoch + 1}: " + ", ".join(f"{s} {m}={v:.4f}" for s in devs for m, v in record[s].items()),
                  flush=True)
        log.info("epoch %d: %s", epoch + 1, record)
        resumable.save(epoch=epoch + 1, batch=0, records=records)
    resumable.finish()
    log.info("weights digest %s", weights_digest(model))


if __name__ == "__main__":
    run(main)
