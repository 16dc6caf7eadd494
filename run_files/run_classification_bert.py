"""Stage 1: fine-tune the plain BERT classifier; one .h5 per epoch and logs/ft_logs.json.

    python run_files/run_classification_bert.py --TASK=sst2 --DATA_DIR=../shared/data
    python run_files/run_classification_bert.py --RECIPE=quickstart --DATA_DIR=../shared/data

Runs under `--STRATEGY` (or the original's `--MULTI_GPU`) with `--BATCH_SIZE` the global batch,
and keeps resume checkpoints in the task directory's resume/finetune: a rerun with the same flags
continues where a killed one stopped.
"""

from models.finetuning import FineTuningTrainer
from models.optimizers import make_optimizer
from pipeline import cli
from pipeline.atomic import save_weights, write_json
from pipeline.distribution import is_chief, weights_digest
from pipeline.epochs import EpochLoop, update_count
from pipeline.evaluation import predict, score
from pipeline.flags import FLAGS, define_finetuning_flags
from pipeline.loading import build_model

import tensorflow as tf

define_finetuning_flags()


def main(argv):
    del argv
    strategy = cli.strategy()
    chief = is_chief(strategy)
    task = cli.task()
    tok = cli.tokenizer()
    dirs = cli.task_dir().build()
    log = cli.run_logger(dirs, "finetune", strategy)
    train = cli.encoded(task, "train", tok, FLAGS.TRAIN_EXAMPLES)
    devs = {split: cli.encoded(task, split, tok, FLAGS.EVAL_EXAMPLES) for split in task.dev_splits}
    # Python, NumPy and TF: Keras initializers without a seed draw from Python's random.
    tf.keras.utils.set_random_seed(FLAGS.DATA_SEED)
    with strategy.scope():
        model = build_model(FLAGS.BASE_MODEL, task.num_labels)
        updates = update_count(train, FLAGS.BATCH_SIZE, FLAGS.EPOCHS, FLAGS.ACC_STEPS)
        optimizer = make_optimizer(updates, FLAGS.LEARNING_RATE, FLAGS.WARMUP_RATIO, weight_decay=0.01)
    trainer = FineTuningTrainer(model, optimizer, acc_steps=FLAGS.ACC_STEPS, strategy=strategy)
    resumable, position = cli.resumable_run(dirs, "finetune", strategy, log, trainer.checkpoint_objects())
    loop = EpochLoop(trainer, train, FLAGS.BATCH_SIZE, FLAGS.EPOCHS, FLAGS.DATA_SEED, FLAGS.GROUP_BY_LENGTH, strategy,
                     resumable=resumable, checkpoint_every=FLAGS.CHECKPOINT_EVERY, chief=chief, log=log)
    log.info("fine-tuning %s on %d examples (%d steps) in %s", task.name, len(train),
             loop.steps_per_epoch * FLAGS.EPOCHS, dirs.path)

    def after_epoch(epoch, records):
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

    loop.run(position, [], after_step=lambda epoch, metrics, records: {"loss": f"{metrics['loss']:.4f}"},
             after_epoch=after_epoch)
    resumable.finish()
    log.info("weights digest %s", weights_digest(model))


if __name__ == "__main__":
    cli.run(main, section="finetune")
