"""AdapLeR training throughput (examples/s) on 1 device and on N mirrored replicas.

    python benchmarks/replica_throughput.py --DATA_DIR=../shared/data --REPLICAS=1,2

Each replica count runs in a process of its own (logical CPU devices are fixed when TensorFlow
starts): the embedded backbone after `to_AdapLeR()`, SST-2 training examples at --MAX_LENGTH in
global batches of --BATCH_SIZE, stage 3's trainer and input pipeline, --WARMUP steps untimed,
then --STEPS timed steps. Writes `replica_throughput.json` and `.md` under --RESULTS_DIR.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import models  # noqa: E402,F401
from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("REPLICAS", ["1", "2"], "Replica counts to time (1 = the default strategy, N = N logical CPUs).")
flags.DEFINE_integer("CHILD", 0, "Internal: time this replica count in this process and print the result.")
flags.DEFINE_integer("BATCH_SIZE", 32, "Global batch.")
flags.DEFINE_integer("MAX_LENGTH", 64, "Maximum tokens per example.")
flags.DEFINE_integer("STEPS", 12, "Timed steps.")
flags.DEFINE_integer("WARMUP", 3, "Untimed steps first (tracing).")
flags.DEFINE_string("DATA_DIR", os.environ.get("ADAPLER_DATA_DIR", ""), "Folder with glue/SST-2.")
flags.DEFINE_string("RESULTS_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results"),
                    "Where the JSON and markdown go.")


def time_replicas(replicas):
    """Examples per second of AdapLeR training steps with `replicas` replicas (this process only)."""
    import numpy as np
    import tensorflow as tf

    from models.backbones import EMBEDDED, load_tokenizer, resolve_backbone
    from models.modeling_tf_bert import TFBertForSequenceClassification
    from models.training import AdapLeRTrainer, make_optimizer, make_optimizers
    from pipeline.data import encode, example_order
    from pipeline.distribution import distribute, split_cpu
    from tasks.registry import get_task, load_split

    if replicas > 1:
        split_cpu(replicas)
        strategy = tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    else:
        strategy = tf.distribute.get_strategy()
    count = FLAGS.BATCH_SIZE * (FLAGS.STEPS + FLAGS.WARMUP)
    examples = load_split(get_task("sst2"), "train", FLAGS.DATA_DIR or None)[:count]
    encoded = encode(examples, load_tokenizer(EMBEDDED), FLAGS.MAX_LENGTH)
    saliencies = np.random.RandomState(0).rand(len(encoded), FLAGS.MAX_LENGTH).astype(np.float32)
    tf.keras.utils.set_random_seed(0)
    with strategy.scope():
        model = TFBertForSequenceClassification.from_pretrained(resolve_backbone(EMBEDDED), num_labels=2).to_AdapLeR()
        trainer = AdapLeRTrainer(model, *make_optimizers(100, speedup_learning_rate=1e-2), gamma=0.5, phi=0.003,
                                 cp_optimizer=make_optimizer(100, 1e-3), strategy=strategy)
    trainer.set_lambda(50.0)
    data = distribute(strategy, encoded, FLAGS.BATCH_SIZE, example_order(encoded), rows=saliencies)
    started = None
    for step, (inputs, labels, _, targets) in enumerate(data):
        if step == FLAGS.WARMUP:
            started = time.perf_counter()
        trainer.train_step(inputs, labels, targets)
    seconds = time.perf_counter() - started
    return {"replicas": replicas, "steps": FLAGS.STEPS, "seconds": seconds,
            "examples_per_second": FLAGS.STEPS * FLAGS.BATCH_SIZE / seconds}


def main(argv):
    del argv
    if FLAGS.CHILD:
        print("RESULT " + json.dumps(time_replicas(FLAGS.CHILD)), flush=True)
        return
    from benchmarks.report import command_line, machine
    from pipeline.atomic import write_json, write_text

    rows = []
    for replicas in map(int, FLAGS.REPLICAS):
        words = [sys.executable, os.path.abspath(__file__), f"--CHILD={replicas}"] + [
            f"--{name}={FLAGS[name].value}" for name in ("BATCH_SIZE", "MAX_LENGTH", "STEPS", "WARMUP", "DATA_DIR")]
        output = subprocess.run(words, capture_output=True, text=True, timeout=1800, check=True).stdout
        rows.append(json.loads(output.split("RESULT ", 1)[1]))
        print(f"{replicas} replica(s): {rows[-1]['examples_per_second']:.1f} examples/s", flush=True)
    result = {"what": "AdapLeR training steps (stage 3's trainer), embedded MiniLM, SST-2",
              "batch_size": FLAGS.BATCH_SIZE, "max_length": FLAGS.MAX_LENGTH, "runs": rows,
              "command": command_line(sys.argv), "machine": machine(), "date": time.strftime("%Y-%m-%d")}
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
    app.run(main)
