"""Stage 1: fine-tune the plain BERT classifier; one .h5 per epoch and logs/ft_logs.json.

    python run_files/run_classification_bert.py --TASK=sst2 --DATA_DIR=../shared/data
"""

import _bootstrap  # noqa: F401

import pipeline  # noqa: F401
import tensorflow as tf
from absl import flags, logging
from tqdm import tqdm

from models.training import make_optimizer, task_loss
from pipeline.atomic import save_weights, write_json
from pipeline.data import batches, num_batches
from pipeline.evaluation import predict, score
from pipeline.stage import FLAGS, build_model, current_task, define_common_flags, load_encoded, run, task_dir, tokenizer

flags.DEFINE_float("LEARNING_RATE", 2e-5, "Peak learning rate of AdamW.", lower_bound=0.0)
flags.DEFINE_float("WARMUP_RATIO", 0.06, "Fraction of steps of linear warm-up.", lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_integer("EPOCHS", 3, "Fine-tuning epochs.", lower_bound=1)
define_common_flags()


def main(argv):
    del argv
    task = current_task()
    tok = tokenizer()
    dirs = task_dir().build()
    train = load_encoded(task, "train", tok, FLAGS.TRAIN_EXAMPLES)
    devs = {split: load_encoded(task, split, tok, FLAGS.EVAL_EXAMPLES) for split in task.dev_splits}
    tf.random.set_seed(FLAGS.DATA_SEED)
    model = build_model(task)
    steps = num_batches(train, FLAGS.BATCH_SIZE) * FLAGS.EPOCHS
    optimizer = make_optimizer(steps, FLAGS.LEARNING_RATE, FLAGS.WARMUP_RATIO, weight_decay=0.01)
    class_weights = tf.ones([task.num_labels])

    @tf.function(reduce_retracing=True)
    def train_step(inputs, labels):
        with tf.GradientTape() as tape:
            loss = task_loss(labels, model(inputs, training=True).logits, class_weights)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    logging.info("Fine-tuning %s on %d examples (%d steps) in %s", task.name, len(train), steps, dirs.path)
    records = []
    for epoch in range(1, FLAGS.EPOCHS + 1):
        progress = tqdm(batches(train, FLAGS.BATCH_SIZE, shuffle_seed=FLAGS.DATA_SEED + epoch),
                        total=num_batches(train, FLAGS.BATCH_SIZE), desc=f"epoch {epoch}/{FLAGS.EPOCHS}")
        for inputs, labels, _ in progress:
            progress.set_postfix(loss=f"{float(train_step(inputs, tf.constant(labels))):.4f}")
        record = {"epoch": epoch}
        for split, dev in devs.items():
            record[split] = score(task, dev.labels, predict(model, dev, FLAGS.BATCH_SIZE)["logits"])
        save_weights(model, dirs.finetuned_model(epoch))
        records.append(record)
        write_json(dirs.ft_logs, records)
        logging.info("epoch %d: %s", epoch, record)
        print(f"epoch {epoch}: " + ", ".join(f"{s} {m}={v:.4f}" for s in devs for m, v in record[s].items()), flush=True)


if __name__ == "__main__":
    run(main)
