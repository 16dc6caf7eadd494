"""Named recipes: the flags of run.sh and of every benchmark in benchmarks/results/, in one place.

A recipe holds flag values by section: `common` applies to every script that defines the flag,
`finetune` to stage 1, `adapler` to stage 3, `measure` to `benchmarks/reproduce.py`'s measurements,
and `baselines[<method>]` to `run_files/run_baseline.py --METHOD=<method>`. `budgets` gives the
comparison (`benchmarks/compare_methods.py`) each method's trade-off flag and the values it sweeps.
A script run with `--RECIPE=<name>` takes the recipe's values for the flags it defines and did not
get on its command line: flags given explicitly override the recipe.
"""

import json
import os
from dataclasses import dataclass, field

from pipeline.atomic import write_json

from absl import flags

SECTIONS = ("common", "finetune", "adapler", "measure", "baselines", "budgets")


@dataclass(frozen=True)
class Recipe:
    """Flag values by section (see the module docstring).

    Args:
        description: What the recipe is for and where its results are.
        common: Flags of every script (task, data, backbone, the AdapLeR run's name).
        finetune: Stage 1's flags.
        adapler: Stage 3's flags.
        measure: `benchmarks/reproduce.py`'s measurement flags.
        baselines: Per comparison method, `run_files/run_baseline.py`'s flags.
        budgets: Per method (AdapLeR included), `[flag, [values]]`: the settings its trade-off curve sweeps.
    """

    description: str
    common: dict
    finetune: dict = field(default_factory=dict)
    adapler: dict = field(default_factory=dict)
    measure: dict = field(default_factory=dict)
    baselines: dict = field(default_factory=dict)
    budgets: dict = field(default_factory=dict)

    def section(self, name, method=None):
        """The values a script of section `name` takes: `common`, then the section's own (which win).

        `baseline` is `run_files/run_baseline.py`'s section: `common`, then `baselines[method]`.
        """
        if name == "baseline":
            return {**self.common, **self.baselines.get(method, {})}
        if name not in ("common", "finetune", "adapler", "measure"):
            raise ValueError(f"Unknown recipe section {name!r}; the sections are common, finetune, adapler, measure "
                             "and baseline.")
        return dict(self.common) if name == "common" else {**self.common, **getattr(self, name)}

    def with_values(self, section, values, method=None):
        """A copy with `values` (flag name to value) set in `section` (`baselines` needs the `method`)."""
        fields = {name: getattr(self, name) for name in ("description", *SECTIONS)}
        if section == "baselines":
            fields["baselines"] = {**self.baselines, method: {**self.baselines.get(method, {}), **values}}
        else:
            fields[section] = {**getattr(self, section), **values}
        return Recipe(**fields)


_SHORT_RUN = {"CP_LEARNING_RATE": 1e-3, "SPEEDUP_LEARNING_RATE": 1e-2, "INITIAL_MODEL_PATH": ""}
_DISTILL = {"EPOCHS": 2, "LAMBDAS": [50, 50], "MIN_TRAIN_LENGTH": 10, "BATCH_SIZE": 16, "DISTILL_WEIGHT": 0.5,
            **_SHORT_RUN}


def ltp_rescaled(authors_value, max_length, authors_length=128):
    """An LTP setting in score units (the final threshold, the mask's temperature) at `max_length` that means
    what the authors' value means at their padded 128: the same multiple of a token's mean score, which is one
    over the length the scores are divided by."""
    return authors_value * authors_length / max_length


# The comparison methods' own settings, from their authors' (docs/comparison.md): DistilBERT's distillation
# (temperature 2, weight 0.5) for the student; PoWER-BERT's SST-2 learning rates (3e-5, 5e-4 for the retention
# weights) and LTP's (2e-5, temperature 1e-3); one soft epoch, then two epochs with the tokens removed, as many
# as AdapLeR's stage 3 and the fine-tuning.
_BASELINES = {
    "layer_drop": {"EPOCHS": 2, "LEARNING_RATE": 5e-5, "DISTILL_WEIGHT": 0.5, "DISTILL_TEMPERATURE": 2.0},
    "truncation": {"EPOCHS": 2, "LEARNING_RATE": 2e-5},
    "power_bert": {"SOFT_EPOCHS": 1, "EPOCHS": 2, "LEARNING_RATE": 3e-5, "PRUNER_LEARNING_RATE": 5e-4},
    "ltp": {"SOFT_EPOCHS": 1, "EPOCHS": 2, "LEARNING_RATE": 2e-5, "TEMPERATURE": 1e-3, "FINAL_THRESHOLD": 0.01},
    "tr_bert": {"SOFT_EPOCHS": 1, "EPOCHS": 2, "LEARNING_RATE": 2e-5, "PRUNER_LEARNING_RATE": 1e-3, "SAMPLES": 8,
                "DISTILL_WEIGHT": 0.5, "DISTILL_TEMPERATURE": 2.0},
}

RECIPES = {
    "quickstart": Recipe(
        "run.sh: SST-2 at 64 tokens on 4000 training examples, sized for a short run on a CPU. Against the "
        "original's SST-2 settings (GAMMA 0.005, PHI 0.0005, 5 epochs at 3e-5), for ~270 AdapLeR updates instead of "
        "~10k: a 100x larger KL weight, a 6x larger length weight, separate learning rates for the new CP heads and "
        "for ETA/THETA, batches of 16 in stage 3, two epochs at a soft lambda, stage 3 on examples of 10 tokens or "
        "more, ETA scales (and later-layer factors) chosen on dev with the epoch, batches grouped by length, and "
        "deterministic ops (a rerun on one machine repeats its numbers).",
        common={"TASK": "sst2", "BASE_MODEL": "all-MiniLM-L6-v2", "MAX_LENGTH": 64, "BATCH_SIZE": 32,
                "TRAIN_EXAMPLES": 4000, "GAMMA": 0.5, "PHI": 0.003, "SAVE_NAME": "quickstart", "DETERMINISTIC": True,
                "GROUP_BY_LENGTH": True, "TIMING_EXAMPLES": 300},
        finetune={"EPOCHS": 2, "LEARNING_RATE": 5e-5},
        adapler={"EPOCHS": 2, "LAMBDAS": [50, 50], "MIN_TRAIN_LENGTH": 10, "BATCH_SIZE": 16,
                 "ETA_SCALES": [0.6, 0.7, 0.8, 0.9, 1], "LATE_ETA_FACTORS": [1, 1.5, 2], **_SHORT_RUN},
    ),
    "sst2_table": Recipe(
        "SST-2 at 64 on 8000 training examples, the original's lambda schedule over 3 epochs "
        "(benchmarks/results/sst2_minilm_64.json).",
        common={"TASK": "sst2", "MAX_LENGTH": 64, "BATCH_SIZE": 32, "TRAIN_EXAMPLES": 8000, "GAMMA": 0.05,
                "PHI": 0.002, "SAVE_NAME": "bench"},
        finetune={"EPOCHS": 2, "LEARNING_RATE": 5e-5},
        adapler={"EPOCHS": 3, "ETA_SCALES": [0.75, 1, 1.25, 1.5], **_SHORT_RUN},
        measure={"TIMING_EXAMPLES": 200, "SCALES": [0, 0.75, 1, 1.25, 1.5, 2]},
    ),
    "sst2_distill": Recipe(
        "SST-2 at 64 on 8000 training examples with distillation from the fine-tuned model in stage 3 "
        "(benchmarks/results/sst2_distill/).",
        common={"TASK": "sst2", "MAX_LENGTH": 64, "BATCH_SIZE": 32, "TRAIN_EXAMPLES": 8000, "GAMMA": 0.5,
                "PHI": 0.003, "SAVE_NAME": "bench", "GROUP_BY_LENGTH": True},
        finetune={"EPOCHS": 2, "LEARNING_RATE": 5e-5},
        adapler={**_DISTILL, "ETA_SCALES": [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1]},
        measure={"TIMING_EXAMPLES": 200, "SCALES": [0, 0.75, 1, 1.25]},
    ),
    "sst2_16k": Recipe(
        "sst2_distill on 16000 training examples (benchmarks/results/sst2_16k/).",
        common={"TASK": "sst2", "MAX_LENGTH": 64, "BATCH_SIZE": 32, "TRAIN_EXAMPLES": 16000, "GAMMA": 0.5,
                "PHI": 0.003, "SAVE_NAME": "bench", "GROUP_BY_LENGTH": True},
        finetune={"EPOCHS": 2, "LEARNING_RATE": 5e-5},
        adapler={**_DISTILL, "ETA_SCALES": [0.6, 0.7, 0.8, 0.9, 1, 1.1, 1.25]},
        measure={"TIMING_EXAMPLES": 200, "SCALES": [0, 0.75, 1, 1.25]},
    ),
    "movies_256": Recipe(
        "ERASER movie reviews, the first 254 word-pieces (benchmarks/results/movie_rationales_minilm_256.json).",
        common={"TASK": "movie_rationales", "MAX_LENGTH": 256, "BATCH_SIZE": 16, "GAMMA": 0.005, "PHI": 0.0005,
                "SAVE_NAME": "bench"},
        finetune={"EPOCHS": 3, "LEARNING_RATE": 5e-5},
        adapler={"EPOCHS": 3, **_SHORT_RUN},
        measure={"TIMING_EXAMPLES": 100, "SWEEP_TIMING_EXAMPLES": 64, "SCALES": [0, 0.5, 0.75, 1, 1.25, 1.5, 2]},
    ),
    "movies_512": Recipe(
        "ERASER movie reviews, the first 510 word-pieces (benchmarks/results/movie_rationales_minilm_512.json).",
        common={"TASK": "movie_rationales", "MAX_LENGTH": 512, "BATCH_SIZE": 16, "GAMMA": 0.005, "PHI": 0.001,
                "SAVE_NAME": "bench"},
        finetune={"EPOCHS": 2, "LEARNING_RATE": 5e-5},
        adapler={"EPOCHS": 3, "ETA_SCALES": [0.5, 0.75, 1], **_SHORT_RUN},
        measure={"TIMING_EXAMPLES": 100, "SWEEP_TIMING_EXAMPLES": 64,
                 "SCALES": [0, 0.5, 0.75, 1, 1.1, 1.2, 1.3, 1.5, 2]},
    ),
    "sst2_compare": Recipe(
        "The comparison on SST-2 at 64 (benchmarks/results/comparison_sst2_64.*): the 8000-example setting of "
        "the results table, AdapLeR with its best recipe (sst2_distill), every other method from the same "
        "fine-tuned model with its authors' settings as the starting point.",
        common={"TASK": "sst2", "MAX_LENGTH": 64, "BATCH_SIZE": 32, "TRAIN_EXAMPLES": 8000, "GAMMA": 0.5,
                "PHI": 0.003, "SAVE_NAME": "bench", "GROUP_BY_LENGTH": True},
        finetune={"EPOCHS": 2, "LEARNING_RATE": 5e-5},
        adapler={**_DISTILL, "ETA_SCALES": [0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1]},
        measure={"TIMING_EXAMPLES": 200, "TIMING_BATCH_SIZE": 32, "TIMING_REPEATS": 3,
                 "MATCHED_SPEEDUPS": [1.5, 2, 3]},
        # PoWER-BERT's retention weights cover every rank of the padded length, and Adam moves a weight by about
        # its learning rate per step. The authors' 5e-4 over their ~1000 SST-2 steps per epoch is ~0.1 over our
        # 250: too little for the ranks past a 25-token sentence to leave 1, so nothing was removed (retention
        # [62, 62, 62, 61, 61, 60] of 64 at LAMBDA 1e-4). At 1e-2 they can reach 0 within the epoch.
        # LTP at the authors' threshold of 0.01 removed at most 1.35x here: at 64 it is half as strict as at their
        # 128 (see ltp_rescaled). Their thresholds' AdamW at 2e-5 over ~1050 SST-2 steps can move them ~0.02;
        # 8e-5 over our 250 allows the same.
        baselines={**_BASELINES, "power_bert": {**_BASELINES["power_bert"], "PRUNER_LEARNING_RATE": 1e-2},
                   "ltp": {**_BASELINES["ltp"], "FINAL_THRESHOLD": ltp_rescaled(0.01, 64), "PRUNER_LEARNING_RATE": 8e-5}},
        budgets={"adapler": ["ETA_SCALE", [0.6, 0.8, 1, 1.2, 1.4, 1.6]], "layer_drop": ["LAYERS", [1, 2, 3, 4]],
                 "truncation": ["TARGET_SPEEDUP", [1.25, 1.5, 2, 3]],
                 "power_bert": ["LAMBDA", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]],
                 "ltp": ["LAMBDA", [0.01, 0.05, 0.1, 0.2, 0.5, 1, 2, 4]],
                 "tr_bert": ["ALPHA", [0.25, 0.5, 1, 2]]},
    ),
    "movies_compare": Recipe(
        "The comparison on ERASER movie reviews at 512 (benchmarks/results/comparison_movie_rationales_512.*), "
        "AdapLeR with the movies_512 recipe.",
        common={"TASK": "movie_rationales", "MAX_LENGTH": 512, "BATCH_SIZE": 16, "GAMMA": 0.005, "PHI": 0.001,
                "SAVE_NAME": "bench"},
        finetune={"EPOCHS": 2, "LEARNING_RATE": 5e-5},
        adapler={"EPOCHS": 3, "ETA_SCALES": [0.5, 0.75, 1], **_SHORT_RUN},
        measure={"TIMING_EXAMPLES": 50, "TIMING_BATCH_SIZE": 16, "TIMING_REPEATS": 3, "MATCHED_SPEEDUPS": [3, 5, 8]},
        # ~100 steps an epoch (1600 reviews in batches of 16), so the learning rates of the learned budgets go up:
        # PoWER-BERT's retention weights to 3e-2, whose warm-up and decay sum to 1.5, so a weight can go from 1 to
        # 0 (at 1e-2 they summed to 0.5 and every layer kept about half of the 512 ranks, whatever LAMBDA).
        # LTP's threshold and temperature are rescaled to the normaliser of 512 (a mean score is 1/512, not
        # 1/128), and its thresholds' learning rate allows the authors' movement in mean scores (0.02 at 128 is
        # 2.56 mean scores, 0.005 here, over 100 steps). TR-BERT rolls each review out 8 times: its batches of
        # 16 are accumulated from 8 of 2 (16 sequences of 512 per pass, as the fine-tuning; 128 ran out of
        # 24 GB in the joint phase).
        baselines={**_BASELINES, "power_bert": {**_BASELINES["power_bert"], "PRUNER_LEARNING_RATE": 3e-2},
                   "ltp": {**_BASELINES["ltp"], "FINAL_THRESHOLD": ltp_rescaled(0.01, 512),
                           "TEMPERATURE": ltp_rescaled(1e-3, 512), "PRUNER_LEARNING_RATE": 5e-5},
                   "tr_bert": {**_BASELINES["tr_bert"], "BATCH_SIZE": 2, "ACC_STEPS": 8}},
        budgets={"adapler": ["ETA_SCALE", [0.5, 0.75, 1, 1.1, 1.2, 1.35, 1.5]], "layer_drop": ["LAYERS", [1, 2, 3, 4]],
                 "truncation": ["TARGET_SPEEDUP", [2, 3, 5, 8]],
                 "power_bert": ["LAMBDA", [1e-4, 1e-3, 3e-3, 1e-2, 3e-2]], "ltp": ["LAMBDA", [0.05, 0.2, 0.5, 1, 2]],
                 "tr_bert": ["ALPHA", [0.5, 1, 2, 4]]},
    ),
    "quick": Recipe(
        "A tiny slice of SST-2 that runs every stage and measurement in a minute or two (the tests).",
        common={"TASK": "sst2", "MAX_LENGTH": 32, "BATCH_SIZE": 32, "TRAIN_EXAMPLES": 64, "EVAL_EXAMPLES": 32,
                "SAVE_NAME": "bench", "GROUP_BY_LENGTH": True},
        finetune={"EPOCHS": 1, "LEARNING_RATE": 5e-5},
        adapler={"EPOCHS": 1, "LAMBDAS": [50], "MIN_TRAIN_LENGTH": 6, "BATCH_SIZE": 16, "DISTILL_WEIGHT": 0.5,
                 "LATE_ETA_FACTORS": [1, 2], **_SHORT_RUN},
        measure={"TIMING_EXAMPLES": 4, "SWEEP_TIMING_EXAMPLES": 8, "TIMING_REPEATS": 1, "SCALES": [1, 2],
                 "MATCHED_SPEEDUPS": [1.2, 1.5]},
        baselines={method: dict(values, EPOCHS=1) for method, values in _BASELINES.items()},
        budgets={"adapler": ["ETA_SCALE", [1, 2]], "layer_drop": ["LAYERS", [2, 4]],
                 "truncation": ["TARGET_SPEEDUP", [1.5, 2]], "power_bert": ["LAMBDA", [1e-3, 1e-2]],
                 "ltp": ["LAMBDA", [0.1, 0.5]], "tr_bert": ["ALPHA", [1, 2]]},
    ),
}


class RecipeError(ValueError):
    """An unknown recipe, or a recipe value a flag cannot take."""


def get_recipe(name):
    """The recipe called `name`, or the one written to the JSON file `name` (see `write_recipe`)."""
    if name.endswith(".json"):
        if not os.path.isfile(name):
            raise RecipeError(f"--RECIPE {name} not found.")
        with open(name) as handle:
            try:
                return Recipe(**json.load(handle))
            except (json.JSONDecodeError, TypeError) as error:
                raise RecipeError(f"--RECIPE {name} is not a recipe file ({error}).") from None
    if name not in RECIPES:
        raise RecipeError(f"Unknown --RECIPE {name!r}; the recipes are {', '.join(sorted(RECIPES))}.")
    return RECIPES[name]


def write_recipe(recipe, path):
    """Writes `recipe` as JSON, for `--RECIPE=<path>` (a recipe with overrides, handed to a subprocess)."""
    write_json(path, {name: getattr(recipe, name) for name in ("description", *SECTIONS)})


def as_argument(value):
    """`value` written as on a command line: lists comma-separated, booleans true/false."""
    if isinstance(value, (list, tuple)):
        return ",".join(as_argument(item) for item in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def apply(flag_values, recipe, section):
    """Gives every flag of `flag_values` that the recipe's `section` sets, and the command line did not, its value.

    Args:
        flag_values: Parsed `absl.flags.FlagValues`.
        recipe: A `Recipe`.
        section: The script's section (`common` for scripts that train nothing; `baseline` takes the
            method from the flags' `--METHOD`).

    Returns:
        The names of the flags set from the recipe.

    Raises:
        RecipeError: A value the flag's parser or validators refuse.
    """
    applied = []
    method = flag_values["METHOD"].value if "METHOD" in flag_values else None
    for name, value in recipe.section(section, method).items():
        if name not in flag_values or flag_values[name].present:
            continue
        flag = flag_values[name]
        try:
            flag.value = flag.parser.parse(as_argument(value))
        except ValueError as error:
            raise RecipeError(f"The recipe gives --{name} the value {value!r}, which it cannot take: {error}") from None
        applied.append(name)
    return applied


def resolve(recipe, section, define, arguments=()):
    """The value of every flag `define` defines under the recipe's `section`, as the script would take it.

    Args:
        recipe: A `Recipe`.
        section: The script's section.
        define: The script's flag definer (e.g. `pipeline.flags.define_finetuning_flags`), called with a
            `flag_values` of its own.
        arguments: Command-line words the script gets besides the recipe (e.g. `--METHOD=ltp`).

    Returns:
        `(values, defaults)`: flag name to value, and to default.
    """
    flag_values = flags.FlagValues()
    define(flag_values)
    flag_values(["recipe", *arguments])
    apply(flag_values, recipe, section)
    try:
        flag_values.validate_all_flags()
    except flags.IllegalFlagValueError as error:
        raise RecipeError(str(error)) from None
    return ({name: flag_values[name].value for name in flag_values},
            {name: flag_values[name].default for name in flag_values})
