"""AdapLeR training throughput (examples/s) on 1 device and on N mirrored replicas.

    python benchmarks/replica_throughput.py --RECIPE=quickstart --DATA_DIR=../shared/data --BATCH_SIZE=32 \
        --REPLICAS=1,2

Each replica count runs in a process of its own (logical CPU devices are fixed when TensorFlow
starts): the backbone after `to_AdapLeR()`, the task's training examples at --MAX_LENGTH in global
batches of --BATCH_SIZE, stage 3's trainer and input pipeline, --WARMUP steps untimed, then --STEPS
timed steps. Writes `replica_throughput.json` and `.md` under --RESULTS_DIR.
"""

import json
import os
import sys
import time

from models.adapler_training import AdapLeRTrainer, make_optimizers
from models.optimizers import make_optimizer
from pipeline import cli
from pipeline.atomic import write_json, write_text
from pipeline.children import run_child
from pipeline.data import example_order
from pipeline.distribution import distribute, split_cpu
from pipeline.flags import FLAGS, define_common_flags
from pipeline.loading import build_model
from pipeline.paths import REPO
from pipeline.provenance import command_line, machine, today

import numpy as np
import tensorflow as tf
from absl import flags

define_common_flags()
flags.DEFINE_list("REPLICAS", ["1", "2"], "Replica counts to time (1 = the default strategy, N = N logical CPUs).")
flags.DEFINE_integer("CHILD", 0, "Internal: time this replica count in this process and print the result.")
flags.DEFINE_integer("STEPS", 12, "Timed steps.", lower_bound=1)
flags.DEFINE_integer("WARMUP", 3, "Untimed steps first (tracing).", lower_bound=1)
flags.DEFINE_string("RESULTS_DIR", os.path.join(REPO, "benchmarks", "results"), "Where the JSON and markdown go.")


def time_replicas(replicas):
    """Examples per second of AdapLeR training steps with `replicas` replicas (this process only)."""
    if replicas > 1:
        split_cpu(replicas)
        strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    else:
        strategy = tf.distribute.get_strategy()
    task = cli.task()
    encoded = cli.encoded(task, "train", cli.tokenizer(), FLAGS.BATCH_SIZE * (FLAGS.STEPS + FLAGS.WARMUP))
    saliencies = np.random.RandomState(0).rand(len(encoded), FLAGS.MAX_LENGTH).astype(np.float32)
    tf.keras.utils.set_random_seed(0)
    with strategy.scope():
        model = build_model(FLAGS.BASE_MODEL, task.num_labels).to_AdapLeR()
        trainer = AdapLeRTrainer(model, *make_optimizers(100, speedup_learning_rate=1e-2), gamma=0.5, phi=0.003,
                                 cp_optimizer=make_optimizer(100, 1e-3), strategy=strategy)
    trainer.set_lambda(50.0)
    data = distribute(strategy, encoded, FLAGS.BATCH_SIZE, example_order(encoded), rows=saliencies)
    trainer.trace(data.element_spec)
    started = None
    for step, element in enumerate(data):
        if step == FLAGS.WARMUP:
            started = time.perf_counter()
        trainer.train_step(element)
    seconds = time.perf_counter() - started
    return {"replicas": replicas, "steps": FLAGS.STEPS, "seconds": seconds,
            "examples_per_second": FLAGS.STEPS * FLAGS.BATCH_SIZE / seconds}


def main(argv):
    del argv
    if FLAGS.CHILD:
        print("RESULT " + json.dumps(time_replicas(FLAGS.CHILD)), flush=True)
        return
    rows = []
    passed = ("TASK", "BASE_MODEL", "BATCH_SIZE", "MAX_LENGTH", "STEPS", "WARMUP", "DATA_DIR")
    for replicas in map(int, FLAGS.REPLICAS):
        words = [sys.executable, os.path.abspath(__file__), f"--CHILD={replicas}"] + [
            f"--{name}={FLAGS[name].value}" for name in passed]
        output = run_child(words, capture=True, timeout=1800)
        rows.append(json.loads(output.split("RESULT ", 1)[1]))
        print(f"{replicas} replica(s): {rows[-1]['examples_per_second']:.1f} examples/s", flush=True)
    result = {"what": f"AdapLeR training steps (stage 3's trainer), {FLAGS.BASE_MODEL}, {FLAGS.TASK}",
              "batch_size": FLAGS.BATCH_SIZE, "max_length": FLAGS.MAX_LENGTH, "runs": rows,
              "command": command_line(sys.argv), "machine": machine(), "date": today()}
    stem = os.path.join(FLAGS.RESULTS_DIR, "replica_throughput")
    write_json(stem + ".json", result)
    lines = [f"AdapLeR training throughput, global batch {FLAGS.BATCH_SIZE}, max length {FLAGS.MAX_LENGTH}, "
             f"{FLAGS.STEPS} timed steps after {FLAGS.WARMUP} warm-up steps.", "",
             f"Machine: {result['machine']}. Date: {result['date']}. Command: `{result['command']}`", "",
             "| replicas | examples/s | relative |", "|---|---|---|"]
    for row in rows:
        lines.append(f"| {row['replicas']} | {row['examples_per_second']:.1f} | "
                     f"{row['examples_per_second'] / rows[0]['examples_per_second']:.2f}x |")
    write_text(stem + ".md", "\n".join(lines) + "\n")


if __name__ == "__main__":
    cli.run(main)
