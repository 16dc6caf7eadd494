"""The methods AdapLeR is compared with, from the same fine-tuned checkpoint, on the same training loop.

    python run_files/run_baseline.py --RECIPE=quickstart --METHOD=layer_drop --LAYERS=3 --SAVE_NAME=k3
    python run_files/run_baseline.py --RECIPE=quickstart --METHOD=truncation --TARGET_SPEEDUP=2 --SAVE_NAME=x2
    python run_files/run_baseline.py --RECIPE=quickstart --METHOD=power_bert --LAMBDA=3e-4 --SAVE_NAME=l3e-4
    python run_files/run_baseline.py --RECIPE=quickstart --METHOD=ltp --LAMBDA=0.1 --SAVE_NAME=l0.1
    python run_files/run_baseline.py --RECIPE=quickstart --METHOD=tr_bert --ALPHA=1 --SAVE_NAME=a1

Methods (docs/comparison.md):

- `layer_drop`: a --LAYERS-layer student from evenly spread layers of the fine-tuned model, trained on
  `(1 - w) CE + w KD` from it (--DISTILL_WEIGHT, --DISTILL_TEMPERATURE).
- `truncation`: fine-tuned further on [CLS], the first word-pieces and [SEP], --KEEP_LENGTH tokens in
  all, or the length that gives --TARGET_SPEEDUP on the training split.
- `power_bert` and `ltp`: a soft phase of --SOFT_EPOCHS (the backbone and the pruner's state, penalty
  weight --LAMBDA), then a hard phase of --EPOCHS that retrains the weights with the tokens removed,
  the pruner frozen.
- `tr_bert`: the residual scores of the training split (stored once per fine-tuned checkpoint in
  `data/residual/`), an RL phase of --SOFT_EPOCHS for the policies alone (--SAMPLES rollouts, reward
  weight --ALPHA, imitation of the residual top-k for its first half), then a joint phase of --EPOCHS
  that trains every weight on distillation (--DISTILL_WEIGHT) plus the policy-gradient term.

The last phase keeps the epoch with the best dev score. Writes
`models/baselines/<METHOD>_<SAVE_NAME>.h5` and `.json` (the settings and what was learned); a
finished soft phase leaves `<METHOD>_<SAVE_NAME>_soft.h5`, so a rerun starts at the hard phase. Each
phase resumes from its checkpoints in the task directory, as stages 1 and 3 do.
"""

import json
import os

from models.finetuning import FineTuningTrainer
from models.flops import truncation_length
from models.layer_drop import make_student, student_layers
from models.losses import TaskObjective
from models.ltp import LTPPruner
from models.modeling_tf_bert import TFBertPruningForSequenceClassification
from models.optimizers import largest_move, make_optimizer
from models.power_bert import PoWERBertPruner
from models.pruning_training import SoftPruningTrainer
from models.tr_bert import TRBertPruner, late_layer, padded_residual_step
from models.tr_bert_training import TRBertTrainer
from pipeline import cli, loading, methods
from pipeline.atomic import atomic_path, save_weights, write_json
from pipeline.distribution import gathered_batches, is_chief
from pipeline.epochs import EpochLoop, update_count
from pipeline.evaluation import predict, score
from pipeline.flags import FLAGS, define_baseline_flags
from pipeline.resume import run_flags
from tasks.readers import DataError

import numpy as np
import tensorflow as tf

define_baseline_flags()


class Run:
    """One method's run: its task, splits, starting model and where its phases save."""

    def __init__(self):
        self.strategy = cli.strategy()
        self.chief = is_chief(self.strategy)
        self.task = cli.task()
        self.dirs = cli.task_dir().require()
        self.name = f"{FLAGS.METHOD}_{FLAGS.SAVE_NAME}"
        self.log = cli.run_logger(self.dirs, self.name, self.strategy)
        self.tokenizer = cli.tokenizer()
        self.train = cli.encoded(self.task, "train", self.tokenizer, FLAGS.TRAIN_EXAMPLES)
        self.dev_split = self.task.dev_splits[0]
        self.dev = cli.encoded(self.task, self.dev_split, self.tokenizer, FLAGS.EVAL_EXAMPLES)
        self.start = FLAGS.INITIAL_MODEL_PATH or loading.best_finetuned(self.task, self.dirs)[0]
        self.checkpoint = self.dirs.baseline_model(FLAGS.METHOD, FLAGS.SAVE_NAME)
        self.record = {"method": FLAGS.METHOD, "initial_model": self.start, "settings": run_flags(FLAGS)}
        self.log.info("%s from %s on %d training examples", FLAGS.METHOD, self.start, len(self.train))

    def encoded(self, split, limit, max_length):
        return loading.load_encoded(self.task, split, self.tokenizer, max_length, FLAGS.DATA_DIR, FLAGS.DATA_SEED,
                                    limit, FLAGS.HATEXPLAIN_TIES)

    def starting_model(self, model_class=None):
        kwargs = {} if model_class is None else {"model_class": model_class}
        model = loading.build_model(FLAGS.BASE_MODEL, self.task.num_labels, **kwargs)
        model.load_weights(self.start)
        return model

    def optimizer(self, learning_rate, train, epochs, weight_decay=0.01):
        return make_optimizer(update_count(train, FLAGS.BATCH_SIZE, epochs, FLAGS.ACC_STEPS), learning_rate,
                              FLAGS.WARMUP_RATIO, weight_decay)

    def phase(self, phase, trainer, epochs, train, dev, keep_best, rows=None):
        """Trains `trainer` for `epochs`; with `keep_best`, the best dev epoch goes to the checkpoint and record."""
        resumable, position = cli.resumable_run(self.dirs, f"{self.name}_{phase}", self.strategy, self.log,
                                                trainer.checkpoint_objects())
        loop = EpochLoop(trainer, train, FLAGS.BATCH_SIZE, epochs, FLAGS.DATA_SEED, FLAGS.GROUP_BY_LENGTH,
                         self.strategy, rows=rows, resumable=resumable, checkpoint_every=FLAGS.CHECKPOINT_EVERY,
                         chief=self.chief, log=self.log)
        model, metric = trainer.model, self.task.metrics[0]

        def after_epoch(epoch, state):
            if not keep_best:
                return
            logits = predict(model, dev, FLAGS.BATCH_SIZE, lr_mode=model.removes_tokens, strategy=self.strategy,
                             description=f"{phase} epoch {epoch + 1}")["logits"]
            value = score(self.task, dev.labels, logits)[metric]
            self.log.info("%s epoch %d: %s %s=%.4f", phase, epoch + 1, self.dev_split, metric, value)
            if state["best"] is None or value > state["best"]:
                state.update(best=value, epoch=epoch + 1)
                self.record.update(epoch=epoch + 1, dev_score=value)
                if self.chief:
                    save_weights(model, self.checkpoint)
                    methods.write_record(self.checkpoint, self.record)
                self.log.info("kept %s epoch %d -> %s", phase, epoch + 1, self.checkpoint)

        state = loop.run(position, {"best": None, "epoch": None}, after_epoch=after_epoch,
                         after_step=lambda epoch, metrics, state: {"loss": f"{metrics['loss']:.4f}"})
        if keep_best:
            self.record.update(epoch=state["epoch"], dev_score=state["best"])
        resumable.finish()


def layer_drop(run):
    teacher = run.starting_model()
    teacher_logits = predict(teacher, run.train, FLAGS.BATCH_SIZE, description="teacher logits")["logits"]
    layers = student_layers(teacher.config.num_hidden_layers, FLAGS.LAYERS)
    run.log.info("a %d-layer student from teacher layers %s (0-based)", len(layers), layers)
    run.record.update(layers=layers)
    with run.strategy.scope():
        student = make_student(teacher, layers)
        optimizer = run.optimizer(FLAGS.LEARNING_RATE, run.train, FLAGS.EPOCHS)
    objective = TaskObjective(run.task.num_labels, teacher_logits=teacher_logits, distill_weight=FLAGS.DISTILL_WEIGHT,
                              temperature=FLAGS.DISTILL_TEMPERATURE)
    trainer = FineTuningTrainer(student, optimizer, objective=objective, acc_steps=FLAGS.ACC_STEPS,
                                strategy=run.strategy)
    run.phase("student", trainer, FLAGS.EPOCHS, run.train, run.dev, keep_best=True)


def truncation(run):
    keep = FLAGS.KEEP_LENGTH
    if not keep:
        config = methods.backbone_config(FLAGS.BASE_MODEL)
        keep, gain = truncation_length(config, run.train.lengths, run.task.num_labels, FLAGS.TARGET_SPEEDUP)
        run.log.info("keeping %d tokens: %.2fx FLOPs on the training split (target %gx)", keep, gain,
                     FLAGS.TARGET_SPEEDUP)
    keep = min(keep, FLAGS.MAX_LENGTH)
    run.record.update(keep_length=keep)
    train = run.encoded("train", FLAGS.TRAIN_EXAMPLES, keep)
    dev = run.encoded(run.dev_split, FLAGS.EVAL_EXAMPLES, keep)
    with run.strategy.scope():
        model = run.starting_model()
        optimizer = run.optimizer(FLAGS.LEARNING_RATE, train, FLAGS.EPOCHS)
    trainer = FineTuningTrainer(model, optimizer, acc_steps=FLAGS.ACC_STEPS, strategy=run.strategy)
    run.phase("truncated", trainer, FLAGS.EPOCHS, train, dev, keep_best=True)


def make_pruner(num_layers):
    if FLAGS.METHOD == "power_bert":
        return PoWERBertPruner(num_layers, FLAGS.MAX_LENGTH, FLAGS.LAMBDA, name="pruner")
    return LTPPruner(num_layers, FLAGS.MAX_LENGTH, FLAGS.FINAL_THRESHOLD, FLAGS.TEMPERATURE, FLAGS.LAMBDA,
                     name="pruner")


def soft_phase_done(run, soft_checkpoint):
    """Whether a soft phase with these flags finished before (its weights and record are there)."""
    if not (FLAGS.RESUME and os.path.isfile(soft_checkpoint)):
        return False
    done = methods.read_record(soft_checkpoint, FLAGS.METHOD)
    return done.get("settings") == run.record["settings"]


def retention_floor(run, learning_rate):
    """Records (and warns of) how far the soft phase's schedule lets a PoWER-BERT retention weight fall from 1.

    Adam moves a weight by about its learning rate per update, so a weight the penalty pushes down all the
    way still ends near `1 - largest_move`: below a full move every layer keeps about that share of the
    ranks, whatever `--LAMBDA`.
    """
    move = largest_move(update_count(run.train, FLAGS.BATCH_SIZE, FLAGS.SOFT_EPOCHS, FLAGS.ACC_STEPS),
                        learning_rate, FLAGS.WARMUP_RATIO)
    run.record.update(retention_weight_largest_move=move)
    if move < 1.0:
        run.log.warning("the soft phase can move a retention weight by at most about %.2f (--PRUNER_LEARNING_RATE=%g "
                        "over its updates): no layer will keep fewer than about %d of %d tokens; a rate of %.2g "
                        "or more lets a weight reach 0", move, learning_rate, (1.0 - move) * FLAGS.MAX_LENGTH,
                        FLAGS.MAX_LENGTH, learning_rate / move)


def pruning(run):
    with run.strategy.scope():
        model = run.starting_model(TFBertPruningForSequenceClassification)
        pruner = make_pruner(model.config.num_hidden_layers)
        model.attach_pruner(pruner)
    run.record.update(pruner=pruner.get_config())
    pruner_rate = FLAGS.PRUNER_LEARNING_RATE or (5e-4 if FLAGS.METHOD == "power_bert" else FLAGS.LEARNING_RATE)
    if FLAGS.METHOD == "power_bert":
        retention_floor(run, pruner_rate)
    soft_checkpoint = run.checkpoint.replace(".h5", "_soft.h5")
    if soft_phase_done(run, soft_checkpoint):
        run.log.info("soft phase done before: %s", soft_checkpoint)
        model.load_weights(soft_checkpoint)
    else:
        with run.strategy.scope():
            optimizer = run.optimizer(FLAGS.LEARNING_RATE, run.train, FLAGS.SOFT_EPOCHS)
            pruner_optimizer = run.optimizer(pruner_rate, run.train, FLAGS.SOFT_EPOCHS, weight_decay=0.0)
        trainer = SoftPruningTrainer(model, optimizer, pruner_optimizer, acc_steps=FLAGS.ACC_STEPS,
                                     strategy=run.strategy)
        run.phase("soft", trainer, FLAGS.SOFT_EPOCHS, run.train, run.dev, keep_best=False)
        if run.chief:
            save_weights(model, soft_checkpoint)
            methods.write_record(soft_checkpoint, run.record)
    if FLAGS.METHOD == "power_bert":
        run.record.update(retention_configuration=pruner.configure())
        run.log.info("retention configuration %s", run.record["retention_configuration"])
    else:
        run.record.update(thresholds=[float(t) for t in pruner.thresholds.numpy()])
        run.log.info("thresholds %s", run.record["thresholds"])
    with run.strategy.scope():
        optimizer = run.optimizer(FLAGS.LEARNING_RATE, run.train, FLAGS.EPOCHS)
    trainer = FineTuningTrainer(model, optimizer, lr_mode=True, acc_steps=FLAGS.ACC_STEPS, strategy=run.strategy)
    run.phase("hard", trainer, FLAGS.EPOCHS, run.train, run.dev, keep_best=True)


def residual_scores(run, points, late):
    """TR-BERT's offline pass over the training split, stored in the task directory and reused by every run
    from the same fine-tuned checkpoint (`[N, MAX_LENGTH, points]`)."""
    path = run.dirs.residual_scores("train")
    shape = (len(run.train), FLAGS.MAX_LENGTH, len(points))
    made_with = {"initial_model": run.start, "points": list(points), "late_layer": late}
    if os.path.isfile(path) and os.path.isfile(methods.record_path(path)):
        with open(methods.record_path(path)) as handle:
            if json.load(handle) == made_with:
                scores = np.load(path)
                if scores.shape != shape:
                    raise DataError(f"{path} has shape {scores.shape} but the training split gives {shape}: it was "
                                    "stored for another --MAX_LENGTH or --TRAIN_EXAMPLES; delete it.")
                run.log.info("residual scores from %s", path)
                return scores
    with run.strategy.scope():
        model = run.starting_model()
    step = padded_residual_step(model, points, late, FLAGS.MAX_LENGTH)
    scores = np.zeros(shape, np.float32)
    for batch in gathered_batches(run.strategy, step, run.train, FLAGS.BATCH_SIZE, "residual scores"):
        scores[batch["index"]] = batch["residual"]
    if run.chief:
        with atomic_path(path, suffix=".npy") as temporary:
            np.save(temporary, scores)
        write_json(methods.record_path(path), made_with)
    run.log.info("residual scores at layers %s from the gradient at hidden state %d -> %s", list(points), late, path)
    return scores


def tr_bert(run):
    teacher_logits = predict(run.starting_model(), run.train, FLAGS.BATCH_SIZE, description="teacher logits")["logits"]
    with run.strategy.scope():
        model = run.starting_model(TFBertPruningForSequenceClassification)
        pruner = TRBertPruner(model.config.num_hidden_layers, model.config.hidden_size, name="pruner")
        model.attach_pruner(pruner)
    late = late_layer(model.config.num_hidden_layers)
    run.record.update(pruner=pruner.get_config(), points=list(pruner.points), late_layer=late)
    scores = residual_scores(run, pruner.points, late)
    policy_checkpoint = run.checkpoint.replace(".h5", "_policy.h5")
    if soft_phase_done(run, policy_checkpoint):
        run.log.info("RL phase done before: %s", policy_checkpoint)
        model.load_weights(policy_checkpoint)
    else:
        with run.strategy.scope():
            optimizer = run.optimizer(FLAGS.PRUNER_LEARNING_RATE or 1e-3, run.train, FLAGS.SOFT_EPOCHS,
                                      weight_decay=0.0)
        # The authors imitate the residual top-k for the first half of the RL steps.
        half = update_count(run.train, FLAGS.BATCH_SIZE, FLAGS.SOFT_EPOCHS, 1) // 2
        trainer = TRBertTrainer(model, optimizer, FLAGS.ALPHA, FLAGS.SAMPLES, imitation_steps=half,
                                acc_steps=FLAGS.ACC_STEPS, strategy=run.strategy)
        run.phase("policy", trainer, FLAGS.SOFT_EPOCHS, run.train, run.dev, keep_best=False, rows=scores)
        if run.chief:
            save_weights(model, policy_checkpoint)
            methods.write_record(policy_checkpoint, run.record)
    objective = TaskObjective(run.task.num_labels, teacher_logits=teacher_logits, distill_weight=FLAGS.DISTILL_WEIGHT,
                              temperature=FLAGS.DISTILL_TEMPERATURE)
    with run.strategy.scope():
        optimizer = run.optimizer(FLAGS.LEARNING_RATE, run.train, FLAGS.EPOCHS)
    trainer = TRBertTrainer(model, optimizer, FLAGS.ALPHA, FLAGS.SAMPLES, joint=True, objective=objective,
                            acc_steps=FLAGS.ACC_STEPS, strategy=run.strategy)
    run.phase("joint", trainer, FLAGS.EPOCHS, run.train, run.dev, keep_best=True, rows=scores)


METHODS = {"layer_drop": layer_drop, "truncation": truncation, "power_bert": pruning, "ltp": pruning,
           "tr_bert": tr_bert}


def main(argv):
    del argv
    if FLAGS.METHOD is None:
        raise DataError(f"--METHOD is required: one of {', '.join(METHODS)}.")
    # Python, NumPy and TF: Keras initializers without a seed draw from Python's random.
    tf.keras.utils.set_random_seed(FLAGS.DATA_SEED)
    run = Run()
    METHODS[FLAGS.METHOD](run)
    if run.chief:
        write_json(run.dirs.log(f"{run.name}.json"), run.record)
        print(f"{FLAGS.METHOD} dev {run.task.metrics[0]}={run.record['dev_score']:.4f} (epoch {run.record['epoch']}) "
              f"checkpoint={run.checkpoint}", flush=True)


if __name__ == "__main__":
    cli.run(main, section="baseline")
