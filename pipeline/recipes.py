"""Named recipes: the flags of run.sh and of every benchmark in benchmarks/results/, in one place.

A recipe holds flag values by section: `common` applies to every script that defines the flag,
`finetune` to stage 1, `adapler` to stage 3, `measure` to `benchmarks/reproduce.py`'s measurements.
A script run with `--RECIPE=<name>` takes the recipe's values for the flags it defines and did not
get on its command line: flags given explicitly override the recipe.
"""

import json
import os
from dataclasses import dataclass, field

from pipeline.atomic import write_json

from absl import flags

SECTIONS = ("common", "finetune", "adapler", "measure")


@dataclass(frozen=True)
class Recipe:
    """Flag values by section (see the module docstring).

    Args:
        description: What the recipe is for and where its results are.
        common: Flags of every script (task, data, backbone, the AdapLeR run's name).
        finetune: Stage 1's flags.
        adapler: Stage 3's flags.
        measure: `benchmarks/reproduce.py`'s measurement flags.
    """

    description: str
    common: dict
    finetune: dict = field(default_factory=dict)
    adapler: dict = field(default_factory=dict)
    measure: dict = field(default_factory=dict)

    def section(self, name):
        """The values a script of section `name` takes: `common`, then the section's own (which win)."""
        if name not in SECTIONS:
            raise ValueError(f"Unknown recipe section {name!r}; the sections are {', '.join(SECTIONS)}.")
        return dict(self.common) if name == "common" else {**self.common, **getattr(self, name)}

    def with_values(self, section, values):
        """A copy with `values` (flag name to value) set in `section`."""
        merged = {**getattr(self, section), **values}
        return Recipe(**{**{name: getattr(self, name) for name in ("description", *SECTIONS)}, section: merged})


_SHORT_RUN = {"CP_LEARNING_RATE": 1e-3, "SPEEDUP_LEARNING_RATE": 1e-2, "INITIAL_MODEL_PATH": ""}
_DISTILL = {"EPOCHS": 2, "LAMBDAS": [50, 50], "MIN_TRAIN_LENGTH": 10, "BATCH_SIZE": 16, "DISTILL_WEIGHT": 0.5,
            **_SHORT_RUN}

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
    "quick": Recipe(
        "A tiny slice of SST-2 that runs every stage and measurement in a minute or two (the tests).",
        common={"TASK": "sst2", "MAX_LENGTH": 32, "BATCH_SIZE": 32, "TRAIN_EXAMPLES": 64, "EVAL_EXAMPLES": 32,
                "SAVE_NAME": "bench", "GROUP_BY_LENGTH": True},
        finetune={"EPOCHS": 1, "LEARNING_RATE": 5e-5},
        adapler={"EPOCHS": 1, "LAMBDAS": [50], "MIN_TRAIN_LENGTH": 6, "BATCH_SIZE": 16, "DISTILL_WEIGHT": 0.5,
                 "LATE_ETA_FACTORS": [1, 2], **_SHORT_RUN},
        measure={"TIMING_EXAMPLES": 4, "SWEEP_TIMING_EXAMPLES": 8, "TIMING_REPEATS": 1, "SCALES": [1, 2]},
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
        section: The script's section (`common` for scripts that train nothing).

    Returns:
        The names of the flags set from the recipe.

    Raises:
        RecipeError: A value the flag's parser or validators refuse.
    """
    applied = []
    for name, value in recipe.section(section).items():
        if name not in flag_values or flag_values[name].present:
            continue
        flag = flag_values[name]
        try:
            flag.value = flag.parser.parse(as_argument(value))
        except ValueError as error:
            raise RecipeError(f"The recipe gives --{name} the value {value!r}, which it cannot take: {error}") from None
        applied.append(name)
    return applied


def resolve(recipe, section, define):
    """The value of every flag `define` defines under the recipe's `section`, as the script would take it.

    Args:
        recipe: A `Recipe`.
        section: The script's section.
        define: The script's flag definer (e.g. `pipeline.flags.define_finetuning_flags`), called with a
            `flag_values` of its own.

    Returns:
        `(values, defaults)`: flag name to value, and to default.
    """
    flag_values = flags.FlagValues()
    define(flag_values)
    flag_values(["recipe"])
    apply(flag_values, recipe, section)
    try:
        flag_values.validate_all_flags()
    except flags.IllegalFlagValueError as error:
        raise RecipeError(str(error)) from None
    return ({name: flag_values[name].value for name in flag_values},
            {name: flag_values[name].default for name in flag_values})
