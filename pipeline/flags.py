"""Every flag of the stages, tools and benchmarks, each defined once (the original's names where it had one).

Scripts call the `define_*` functions they need; `pipeline.cli.run` then applies `--RECIPE` and
turns user errors into one line. A definer takes `flag_values` so a recipe can be resolved against a
stage's flags without running it (`pipeline.recipes`).
"""

import os

from models.backbones import EMBEDDED
from pipeline.distribution import STRATEGIES
from pipeline.paths import default_root
from tasks.hatexplain import TIE_RULES

from absl import flags

FLAGS = flags.FLAGS


def _positive_numbers(values):
    try:
        return all(float(value) > 0 for value in values)
    except ValueError:
        return False


def define_recipe_flag(flag_values=FLAGS):
    """`--RECIPE`: a named recipe (or a recipe file) giving the script's flags."""
    flags.DEFINE_string("RECIPE", "", "A named recipe (pipeline/recipes.py), or a recipe JSON file, giving this "
                        "script's flags; flags given explicitly override it. Empty = the defaults.",
                        flag_values=flag_values)


def define_data_flags(flag_values=FLAGS):
    """Where the data comes from: `--DATA_DIR` and HateXplain's tie rule."""
    flags.DEFINE_string("DATA_DIR", os.environ.get("ADAPLER_DATA_DIR", ""),
                        "Folder with the upstream layouts (glue/, eraser/, ag_news/, dbpedia_csv/, aclImdb/, "
                        "hatexplain/); empty = tensorflow-datasets.", flag_values=flag_values)
    flags.DEFINE_enum("HATEXPLAIN_TIES", "drop", list(TIE_RULES),
                      "HateXplain posts whose three annotators all disagree: 'drop' them as the upstream dataset "
                      "does, or 'original': label them hatespeech, as the original code's set order did.",
                      flag_values=flag_values)


def define_run_flags(flag_values=FLAGS):
    """The backbone, the data seed and the root of the task directories: which task directories a run uses."""
    fv = flag_values
    flags.DEFINE_integer("DATA_SEED", 42, "Seed of data order and initialisation; also names the task directory.",
                         flag_values=fv)
    flags.DEFINE_string("BASE_MODEL", EMBEDDED, "Backbone: all-MiniLM-L6-v2 (embedded, offline), bert-base-uncased "
                        "(hub) or a local BERT folder.", flag_values=fv)
    flags.DEFINE_string("DIRECTORY", default_root(), "Root of the task directories (<root>/<backbone>/<seed>/<task>): "
                        "$ADAPLER_DIRECTORY, else the repository's directory/.", flag_values=fv)


def define_common_flags(flag_values=FLAGS):
    """Flags of every stage: the task, its data, the backbone, the task directory and `--RECIPE`.

    `--TASK` is required; `pipeline.cli.run` checks it once a recipe had the chance to set it.
    """
    fv = flag_values
    define_recipe_flag(fv)
    define_data_flags(fv)
    flags.DEFINE_string("TASK", None, "Task name, e.g. sst2, mrpc, mnli, movie_rationales, ag_news (required).",
                        flag_values=fv)
    flags.DEFINE_integer("MAX_LENGTH", 128, "Maximum tokens per example ([CLS] and [SEP] included).", lower_bound=8,
                         flag_values=fv)
    flags.DEFINE_integer("BATCH_SIZE", 32, "Examples per batch; under --STRATEGY the global batch, split evenly over "
                         "the replicas.", lower_bound=1, flag_values=fv)
    define_run_flags(fv)
    flags.DEFINE_integer("TRAIN_EXAMPLES", 0, "Use only the first N training examples (0 = all).", lower_bound=0,
                         flag_values=fv)
    flags.DEFINE_integer("EVAL_EXAMPLES", 0, "Use only the first N evaluation examples (0 = all).", lower_bound=0,
                         flag_values=fv)


def define_distribution_flags(flag_values=FLAGS):
    """`--STRATEGY`, `--MULTI_GPU` (the original's shorthand), `--CPU_REPLICAS` and `--DETERMINISTIC`."""
    fv = flag_values
    flags.DEFINE_enum("STRATEGY", "default", list(STRATEGIES),
                      "default: one device. mirrored: every local GPU (or the --CPU_REPLICAS logical CPUs). "
                      "multi_worker: MultiWorkerMirroredStrategy over the cluster in $TF_CONFIG. --BATCH_SIZE is "
                      "the global batch, split evenly over the replicas.", flag_values=fv)
    flags.DEFINE_bool("MULTI_GPU", False, "The original's flag: same as --STRATEGY=mirrored.", flag_values=fv)
    flags.DEFINE_integer("CPU_REPLICAS", 0, "Split the CPU into N logical devices before TensorFlow starts and mirror "
                         "over them (tests, CPU-only machines); 0 = no split.", lower_bound=0, flag_values=fv)
    flags.DEFINE_bool("DETERMINISTIC", False, "Deterministic TensorFlow ops (tf.config.experimental."
                      "enable_op_determinism): the same flags give the same weights, e.g. after a resumed run. "
                      "Slower on some kernels.", flag_values=fv)


def define_resume_flags(flag_values=FLAGS):
    """`--RESUME` and `--CHECKPOINT_EVERY` of the training stages."""
    flags.DEFINE_bool("RESUME", True, "Resume from the newest checkpoint a run with the same flags left in the "
                      "task directory's resume/ folder; false = start over (the old checkpoints are replaced).",
                      flag_values=flag_values)
    flags.DEFINE_integer("CHECKPOINT_EVERY", 200, "Steps between resume checkpoints (one more at each epoch end).",
                         lower_bound=1, flag_values=flag_values)


def define_training_flags(epochs, learning_rate, flag_values=FLAGS):
    """Flags of every stage that trains: its schedule, data order, distribution and resume.

    Args:
        epochs: Default of `--EPOCHS`.
        learning_rate: Default of `--LEARNING_RATE`.
        flag_values: Where to define them.
    """
    fv = flag_values
    flags.DEFINE_integer("EPOCHS", epochs, "Training epochs.", lower_bound=1, flag_values=fv)
    flags.DEFINE_float("LEARNING_RATE", learning_rate, "Peak learning rate of the main optimizer (AdamW, linear "
                       "warm-up then decay).", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("WARMUP_RATIO", 0.06, "Fraction of updates of linear warm-up.", lower_bound=0.0,
                       upper_bound=1.0, flag_values=fv)
    flags.DEFINE_integer("ACC_STEPS", 1, "Batches whose gradients are accumulated per update.", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_bool("GROUP_BY_LENGTH", False,
                      "Beyond the original: batch examples of similar length together (shuffled within windows of "
                      "50 batches, batches shuffled), so short sentences are not padded to a long one's length. "
                      "Faster steps on data of mixed lengths; false = the original's plain shuffle.", flag_values=fv)
    define_distribution_flags(fv)
    define_resume_flags(fv)


def define_adapler_name_flags(flag_values=FLAGS):
    """Flags naming an AdapLeR run: `<SAVE_NAME>_GAMMA<g>_PHI<p>` (stages 3-5 and the tools)."""
    fv = flag_values
    flags.DEFINE_float("GAMMA", 1.0, "Weight of the KL (saliency) loss.", flag_values=fv)
    flags.DEFINE_float("PHI", 10.0, "Weight of the length loss in the speedup objective.", flag_values=fv)
    flags.DEFINE_string("SAVE_NAME", "znorm_l2", "Name prefix of the AdapLeR checkpoint and logs.", flag_values=fv)


def define_initial_model_flag(default, flag_values=FLAGS):
    """`--INITIAL_MODEL_PATH`: the checkpoint a stage starts from."""
    flags.DEFINE_string("INITIAL_MODEL_PATH", default,
                        "'pretrain' = pre-trained backbone, '' = best fine-tuned epoch, or a checkpoint path.",
                        flag_values=flag_values)


def define_distillation_flags(flag_values=FLAGS):
    """`--DISTILL_WEIGHT` and `--DISTILL_TEMPERATURE`: distillation from the fine-tuned model."""
    flags.DEFINE_float("DISTILL_WEIGHT", 0.0,
                       "Beyond the original: weight w of distillation from the fine-tuned model (the starting "
                       "checkpoint) in the task loss, (1 - w) CE + w KD; 0 = cross-entropy only. Its logits on the "
                       "training examples are computed once before training.", lower_bound=0.0, upper_bound=1.0,
                       flag_values=flag_values)
    flags.DEFINE_float("DISTILL_TEMPERATURE", 2.0, "Softmax temperature of the distillation loss.", lower_bound=1e-3,
                       flag_values=flag_values)


def define_min_train_length_flag(flag_values=FLAGS):
    """`--MIN_TRAIN_LENGTH`: train on the examples of at least so many tokens."""
    flags.DEFINE_integer("MIN_TRAIN_LENGTH", 0,
                         "Beyond the original: train only on the examples of at least this many tokens ([CLS] and "
                         "[SEP] included); 0 = all. A phrase of 3 tokens has nothing to remove, and a training set "
                         "of phrases teaches little about removal from the sentences of a dev set.", lower_bound=0,
                         flag_values=flag_values)


def define_finetuning_flags(flag_values=FLAGS):
    """Stage 1: the original's defaults (3 epochs at 2e-5)."""
    define_common_flags(flag_values)
    define_training_flags(epochs=3, learning_rate=2e-5, flag_values=flag_values)


def define_adapler_training_flags(flag_values=FLAGS):
    """Stage 3: the original's flags and defaults (5 epochs at 3e-5 from the pre-trained backbone), and ours."""
    fv = flag_values
    define_common_flags(fv)
    define_training_flags(epochs=5, learning_rate=3e-5, flag_values=fv)
    define_adapler_name_flags(fv)
    define_initial_model_flag("pretrain", fv)
    define_distillation_flags(fv)
    flags.register_multi_flags_validator(
        ["DISTILL_WEIGHT", "INITIAL_MODEL_PATH"],
        lambda f: not f["DISTILL_WEIGHT"] or f["INITIAL_MODEL_PATH"] != "pretrain",
        "--DISTILL_WEIGHT distills the fine-tuned model: it needs --INITIAL_MODEL_PATH= (the best fine-tuned epoch) or "
        "a checkpoint path, not 'pretrain'.", flag_values=fv)
    define_min_train_length_flag(fv)
    flags.DEFINE_float("CP_LEARNING_RATE", None,
                       "Separate peak learning rate of the Contribution Predictors (default: --LEARNING_RATE, as the "
                       "original). Short runs need a larger one to train the new heads.", lower_bound=0.0,
                       flag_values=fv)
    flags.DEFINE_float("SPEEDUP_LEARNING_RATE", 5e-4, "Peak learning rate of the ETA/THETA optimizer (5e-4 in the "
                       "original); short runs need more.", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_list("ETA_SCALES", ["1"],
                      "Beyond the original: ETA multipliers tried on the dev split after each epoch; the keep rule "
                      "chooses among every (epoch, scale), and the kept checkpoint stores the scaled ETA. The "
                      "inference-time speed knob, chosen on dev as the epoch is. Default 1: the original's behaviour.",
                      flag_values=fv)
    flags.register_validator("ETA_SCALES", _positive_numbers, "--ETA_SCALES takes positive numbers, e.g. 0.8,0.9,1.",
                             flag_values=fv)
    flags.DEFINE_list("LATE_ETA_FACTORS", ["1"],
                      "Beyond the original: extra ETA multipliers of the later half of the layers (layers "
                      "L//2+1..L), each tried with every --ETA_SCALES value on dev; the keep rule chooses among them "
                      "as among scales. Default 1: one scale for every layer.", flag_values=fv)
    flags.register_validator("LATE_ETA_FACTORS", _positive_numbers,
                             "--LATE_ETA_FACTORS takes positive numbers, e.g. 1,1.5,2.", flag_values=fv)
    flags.DEFINE_list("LAMBDAS", [],
                      "Beyond the original: the soft-removal sharpness of each epoch, one value per epoch, instead of "
                      "the schedule of --EPOCHS (models/adapler_training.py lambda_schedule). A short run can stay at "
                      "a soft lambda, e.g. --EPOCHS=1 --LAMBDAS=50: the schedule of a 1-epoch run starts at 1e5.",
                      flag_values=fv)
    flags.register_validator("LAMBDAS", _positive_numbers, "--LAMBDAS takes positive numbers, e.g. 50,2500.",
                             flag_values=fv)
    flags.register_multi_flags_validator(
        ["LAMBDAS", "EPOCHS"], lambda f: not f["LAMBDAS"] or len(f["LAMBDAS"]) == f["EPOCHS"],
        "--LAMBDAS needs one value per epoch (--EPOCHS).", flag_values=fv)


def define_checkpoint_flags(split_default=None, split_help="", flag_values=FLAGS):
    """Flags choosing the checkpoint (and, with a `split_default`, the split) of stages 4, 5 and the tools."""
    fv = flag_values
    flags.DEFINE_bool("LR_MODEL", False, "Use the AdapLeR checkpoint with hard removal (else the best fine-tuned "
                      "one).", flag_values=fv)
    flags.DEFINE_string("MODEL_PATH", "", "Checkpoint to use; empty = the task directory's default.", flag_values=fv)
    if split_default is not None:
        flags.DEFINE_string("SPLIT", split_default, split_help, flag_values=fv)
    define_adapler_name_flags(fv)


def define_timing_flags(flag_values=FLAGS):
    """Interleaved wall-clock timing of the plain model against another on the dev split."""
    fv = flag_values
    flags.DEFINE_integer("TIMING_REPEATS", 3, "Timed calls per batch and model (the median is kept).", lower_bound=1,
                         flag_values=fv)
    flags.DEFINE_integer("TIMING_EXAMPLES", 0, "Time only the first N dev examples at batch 1 (0 = all).",
                         lower_bound=0, flag_values=fv)
    flags.DEFINE_integer("TIMING_BATCH_SIZE", 32, "Batch size of the batched timing.", lower_bound=2, flag_values=fv)


def define_method_flag(choices, default, flag_values=FLAGS):
    """`--METHOD`: which comparison method a script trains or evaluates."""
    flags.DEFINE_enum("METHOD", default, list(choices),
                      "The method: adapler (the stages' own), layer_drop (a smaller student), truncation (shorter "
                      "inputs), power_bert or ltp (pruning inside the layers), tr_bert (RL-trained selection).",
                      flag_values=flag_values)


def define_baseline_flags(flag_values=FLAGS):
    """`run_files/run_baseline.py`: the common and training flags, and each method's settings."""
    from pipeline.methods import BASELINES

    fv = flag_values
    define_common_flags(fv)
    define_training_flags(epochs=2, learning_rate=2e-5, flag_values=fv)
    define_initial_model_flag("", fv)
    define_distillation_flags(fv)
    define_method_flag(BASELINES, None, fv)
    flags.DEFINE_string("SAVE_NAME", "baseline", "Names the run: models/baselines/<METHOD>_<SAVE_NAME>.h5 and .json.",
                        flag_values=fv)
    flags.DEFINE_integer("LAYERS", 3, "layer_drop: layers of the student, taken evenly from the teacher's.",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("KEEP_LENGTH", 0, "truncation: tokens kept ([CLS], the first word-pieces, [SEP]); 0 = the "
                         "length that gives --TARGET_SPEEDUP on the training split.", lower_bound=0, flag_values=fv)
    flags.DEFINE_float("TARGET_SPEEDUP", 2.0, "truncation: the FLOPs speedup the kept length is chosen for.",
                       lower_bound=1.0, flag_values=fv)
    flags.DEFINE_float("LAMBDA", None, "power_bert, ltp: weight of the soft phase's penalty (the trade-off).",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("TEMPERATURE", 1e-3, "ltp: temperature of the soft mask.", lower_bound=1e-8, flag_values=fv)
    flags.DEFINE_float("FINAL_THRESHOLD", 0.01, "ltp: threshold base of the last layer (scaled linearly over the "
                       "others).", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_integer("SOFT_EPOCHS", 1, "power_bert, ltp: epochs of the soft phase (then --EPOCHS of the hard one); "
                         "tr_bert: epochs of the policies' RL phase (then --EPOCHS of the joint one).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_float("PRUNER_LEARNING_RATE", None, "power_bert, ltp: learning rate of the pruner's state in the soft "
                       "phase (default: 5e-4 for PoWER-BERT's retention weights, --LEARNING_RATE for LTP's "
                       "thresholds, as their authors); tr_bert: of the policies in the RL phase (default 1e-3).",
                       lower_bound=0.0, flag_values=fv)
    flags.DEFINE_float("ALPHA", 1.0, "tr_bert: weight of the kept fraction in the reward (the trade-off; the "
                       "authors' IMDB setting is 1).", lower_bound=0.0, flag_values=fv)
    flags.DEFINE_integer("SAMPLES", 8, "tr_bert: action vectors sampled per example (K).", lower_bound=2,
                         flag_values=fv)
    flags.register_multi_flags_validator(
        ["METHOD", "LAMBDA"], lambda f: f["METHOD"] not in ("power_bert", "ltp") or f["LAMBDA"] is not None,
        "--METHOD=power_bert and ltp need --LAMBDA (the soft phase's penalty weight).", flag_values=fv)
