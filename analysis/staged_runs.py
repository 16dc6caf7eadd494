"""A benchmark's stages, run as subprocesses in a task directory per seed, and reused when made with the same
settings (`benchmarks/reproduce.py`, `benchmarks/compare_methods.py`)."""

import os
import sys

from analysis.result_cache import claim
from models.backbones import backbone_label, load_tokenizer
from models.checkpoints import weights_digest
from pipeline import methods, recipes
from pipeline.children import run_child
from pipeline.flags import define_adapler_training_flags, define_baseline_flags, define_finetuning_flags
from pipeline.loading import SALIENCY_EPOCHS, best_finetuned, load_encoded, load_trained, ranked_epochs, read_ft_logs
from pipeline.paths import REPO, TaskDir
from pipeline.resume import EXECUTION_FLAGS
from tasks.readers import DataError
from tasks.registry import get_task

# What a run's results do not depend on: where and how it ran, and the seed (recorded apart).
NOT_SETTINGS = set(EXECUTION_FLAGS) | {"DATA_SEED", "DATA_DIR"}


def with_changes(recipe, changes):
    """The recipe with every `<section>.<FLAG>=<value>` change (sections common, finetune, adapler)."""
    for change in changes:
        key, equals, value = change.partition("=")
        section, dot, name = key.partition(".")
        if not (equals and dot and name) or section not in ("common", "finetune", "adapler"):
            raise DataError(f"--SET={change}: write <section>.<FLAG>=<value>, section common, finetune or adapler.")
        recipe = recipe.with_values(section, {name: value})
    return recipe


def flat(section, values):
    """`{"<section>.<FLAG>": value}` of the flags a result depends on."""
    return {f"{section}.{name}": value for name, value in values.items() if name not in NOT_SETTINGS}


class StagedRun:
    """A recipe's stages over seeds, each seed in `<work_dir>/<backbone>/<seed>/<task>/`.

    Args:
        recipe: The `Recipe` (with its changes).
        work_dir: Root of the task directories.
        data_dir: `--DATA_DIR` of the stages.
        tie_rule: `--HATEXPLAIN_TIES` of the stages.
        reuse: Reuse artefacts made with the same settings (`--RESUME`).
    """

    def __init__(self, recipe, work_dir, data_dir, tie_rule="drop", reuse=True):
        self.recipe, self.work_dir, self.data_dir, self.tie_rule, self.reuse = recipe, work_dir, data_dir, tie_rule, reuse
        self.finetune, finetune_defaults = recipes.resolve(recipe, "finetune", define_finetuning_flags)
        self.adapler, adapler_defaults = recipes.resolve(recipe, "adapler", define_adapler_training_flags)
        self.defaults = {**flat("finetune", finetune_defaults), **flat("adapler", adapler_defaults)}
        self.task = get_task(self.adapler["TASK"])
        self.backbone = self.adapler["BASE_MODEL"]
        self.max_length = self.adapler["MAX_LENGTH"]
        self.name = TaskDir.adapler_name(self.adapler["SAVE_NAME"], self.adapler["GAMMA"], self.adapler["PHI"])

    def settings(self, *sections):
        """Flat settings of the `finetune` and `adapler` sections."""
        return {key: value for section in sections for key, value in flat(section, getattr(self, section)).items()}

    def baseline_settings(self, method, budget_flag, value):
        """`(settings, defaults)` of one comparison method's run at one budget, flat (`"baseline.LAMBDA"`)."""
        arguments = [f"--METHOD={method}", f"--{budget_flag}={recipes.as_argument(value)}"]
        values, defaults = recipes.resolve(self.recipe, "baseline", define_baseline_flags, arguments)
        return flat("baseline", values), flat("baseline", defaults)

    def task_dir(self, seed):
        return TaskDir(backbone_label(self.backbone), self.task.name, seed, root=self.work_dir)

    def run_script(self, dirs, script, *extra):
        """Runs `script` with the recipe (written to the task directory) and this seed's data flags."""
        recipe_file = dirs.log("benchmark_recipe.json")
        recipes.write_recipe(self.recipe, recipe_file)
        words = [sys.executable, os.path.join(REPO, script), f"--RECIPE={recipe_file}", f"--DATA_SEED={dirs.seed}",
                 f"--DATA_DIR={self.data_dir}", f"--HATEXPLAIN_TIES={self.tie_rule}", f"--DIRECTORY={self.work_dir}",
                 *extra]
        print(f"== seed {dirs.seed}: {script} {' '.join(extra)}", flush=True)
        run_child(words)

    def finetuned(self, dirs):
        """Stages 1 and 2 of a seed, skipped when their artefacts were made with these settings.

        Returns:
            Whether nothing had to run again (so later artefacts made from them stay valid).
        """
        reused = claim(dirs.log("benchmark_finetune.json"), self.settings("finetune"), self.defaults,
                       os.path.isfile(dirs.ft_logs), self.reuse)
        if not (reused and len(read_ft_logs(dirs.ft_logs)) == self.finetune["EPOCHS"]):
            self.run_script(dirs, "run_files/run_classification_bert.py")
            reused = False
        epochs = [epoch for epoch, _ in ranked_epochs(self.task, dirs)[:SALIENCY_EPOCHS]]
        if not (reused and all(os.path.isfile(dirs.saliency("train", epoch)) for epoch in epochs)):
            self.run_script(dirs, "tools/store_saliencies.py", "--SPLIT=train")
            reused = False
        return reused

    def adapler_trained(self, dirs, finetuned_reused=True):
        """Stage 3 of a seed, skipped when its checkpoint was made with these settings from the same stages 1-2."""
        reused = claim(dirs.log(f"benchmark_{self.name}.json"), self.settings("finetune", "adapler"), self.defaults,
                       os.path.isfile(dirs.adapler_model(self.name)), self.reuse)
        if not (finetuned_reused and reused):
            self.run_script(dirs, "run_files/run_classification_w_lr.py")

    def baseline_trained(self, dirs, method, budget_flag, value, save_name, finetuned_reused=True):
        """One comparison method's run at one budget, skipped when made with these settings; returns its checkpoint."""
        settings, defaults = self.baseline_settings(method, budget_flag, value)
        settings.update(self.settings("finetune"))
        checkpoint = dirs.baseline_model(method, save_name)
        reused = claim(dirs.log(f"benchmark_{method}_{save_name}.json"), settings, {**self.defaults, **defaults},
                       os.path.isfile(checkpoint), self.reuse)
        if not (finetuned_reused and reused):
            self.run_script(dirs, "run_files/run_baseline.py", f"--METHOD={method}",
                            f"--{budget_flag}={recipes.as_argument(value)}", f"--SAVE_NAME={save_name}")
        return checkpoint

    def dev_split(self, seed, max_length=None):
        """`(split name, encoded examples)` of the dev split the benchmark scores (at `max_length`)."""
        split = self.task.dev_splits[0]
        return split, load_encoded(self.task, split, load_tokenizer(self.backbone), max_length or self.max_length,
                                   self.data_dir, seed, self.adapler["EVAL_EXAMPLES"], self.tie_rule)

    def finetuned_digest(self, dirs):
        """`weights_digest` of the seed's best fine-tuned checkpoint, or None before stage 1 has made it."""
        if not os.path.isfile(dirs.ft_logs):
            return None
        checkpoint = best_finetuned(self.task, dirs)[0]
        return weights_digest(checkpoint) if os.path.isfile(checkpoint) else None

    def plain_model(self, dirs):
        return load_trained(self.backbone, self.task.num_labels, best_finetuned(self.task, dirs)[0])

    def adapler_model(self, dirs):
        return load_trained(self.backbone, self.task.num_labels, dirs.adapler_model(self.name))

    def method_model(self, method, checkpoint):
        """`(model, record)` of a comparison method's checkpoint."""
        return methods.load_method(method, self.backbone, self.task.num_labels, checkpoint)
