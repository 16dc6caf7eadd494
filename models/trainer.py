"""The training step every method shares: named objectives, an optimizer per group of variables,
gradient accumulation, tf.distribute and a guard against non-finite losses."""

import abc
from dataclasses import dataclass

from models.replicas import global_sum, replica_share, weighted, with_token_axis

import tensorflow as tf


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the step's gradients were not applied."""


@dataclass
class ParameterGroup:
    """Variables that one optimizer updates with the gradient of one objective.

    Args:
        name: The optimizer's name in checkpoints (e.g. `optimizer`, `speedup_optimizer`).
        objective: Key of the objective (see `Trainer.losses`) whose gradient trains the variables.
        variables: The variables; a variable belongs to one group at most.
        optimizer: Their optimizer. Its global clip-norm applies to this group's gradients.
    """

    name: str
    objective: str
    variables: list
    optimizer: object


class Trainer(abc.ABC):
    """Training steps on the elements of a `pipeline.data` dataset, as they come.

    An element is `(inputs, labels, indices)` or `(inputs, labels, indices, rows)`, where `rows` are
    per-token arrays batched with their examples (saliency targets, residual scores). Subclasses
    say what to minimise in `losses`; each `ParameterGroup` is updated with the gradient of its
    objective, so one forward pass can train several variable sets on different objectives.
    Gradients are accumulated over `acc_steps` calls and applied together; a non-finite objective
    raises `NonFiniteLossError` before anything is accumulated. Variables in no group are frozen.

    Under a `tf.distribute` strategy (the model and optimizers built in its scope) each replica
    accumulates its share of the global batch and the optimizers sum the shares, so an update
    equals the single-device one on the same global batch.

    Args:
        model: The model trained.
        groups: The `ParameterGroup`s.
        acc_steps: Steps whose gradients are accumulated before an update.
        strategy: The `tf.distribute.Strategy` the model was built under (default: the current one).
    """

    def __init__(self, model, groups, acc_steps=1, strategy=None):
        if acc_steps < 1:
            raise ValueError(f"acc_steps must be at least 1, got {acc_steps}.")
        seen = [id(v) for group in groups for v in group.variables]
        if len(seen) != len(set(seen)):
            raise ValueError("A variable belongs to more than one parameter group.")
        self.model = model
        self.groups = list(groups)
        self.acc_steps = acc_steps
        self.strategy = strategy or tf.distribute.get_strategy()
        self.variables = [v for group in self.groups for v in group.variables]
        self.objectives = list(dict.fromkeys(group.objective for group in self.groups))
        with self.strategy.scope():
            # On-read: each replica sums its own gradients; the optimizers add the replicas up.
            self.accumulators = [
                tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"accumulator_{i}",
                            synchronization=tf.VariableSynchronization.ON_READ,
                            aggregation=tf.VariableAggregation.SUM)
                for i, v in enumerate(self.variables)
            ]
            self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._compute = tf.function(self._distributed_compute, reduce_retracing=True)
        self._apply = tf.function(self._distributed_apply)

    @abc.abstractmethod
    def losses(self, element):
        """The objectives and metrics of one replica's batch (called in a replica context).

        Args:
            element: `(inputs, labels, indices[, rows])`, inputs and rows padded to one position at least.

        Returns:
            `(objectives, metrics)`: dicts of tensors. Every group's objective is a key of `objectives`
            (scalar means over the batch); `metrics` are extra means to report.
        """

    def after_update(self):  # noqa: B027  (an optional hook: most methods clamp nothing)
        """Called in cross-replica context after every update (e.g. to clamp variables)."""
        # A statement, not only the docstring: autograph cannot convert an empty body.
        pass

    def failure_context(self):
        """Extra text for the non-finite-loss message (e.g. the values of learned thresholds)."""
        return ""

    @property
    def steps_seen(self):
        return int(self.steps.numpy())

    def checkpoint_objects(self):
        """What a resumable run saves: the model, each optimizer, the accumulated gradients and the step."""
        objects = {"model": self.model, "accumulators": self.accumulators, "steps": self.steps}
        for group in self.groups:
            objects.setdefault(group.name, group.optimizer)
        return objects

    def _replica_step(self, element):
        inputs, labels, indices, *rows = element
        share = replica_share(labels)
        inputs, rows = with_token_axis((inputs, rows))
        with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
            tape.watch(self.variables)
            objectives, metrics = self.losses((inputs, labels, indices, *rows))
            # Scaled inside the tape: the accumulated sum over acc_steps and replicas is then a mean.
            scale = share / self.acc_steps
            scaled = {name: weighted(objectives[name], scale) for name in self.objectives}
        gradients = {}
        for name in self.objectives:
            variables = [v for group in self.groups if group.objective == name for v in group.variables]
            gradients.update(zip(map(id, variables), tape.gradient(scaled[name], variables)))
        del tape
        locally_finite = tf.reduce_all([tf.math.is_finite(objectives[name]) for name in self.objectives])
        locally_finite = locally_finite | (share == 0.0)
        finite = global_sum(1.0 - tf.cast(locally_finite, tf.float32)) == 0.0
        if finite:
            for accumulator, variable in zip(self.accumulators, self.variables):
                grad = gradients[id(variable)]
                accumulator.assign_add(tf.zeros_like(variable) if grad is None else tf.convert_to_tensor(grad))
        reported = dict(metrics, **{name: objectives[name] for name in self.objectives})
        reported = {key: global_sum(weighted(value, share)) for key, value in reported.items()}
        return dict(reported, finite=finite)

    def _distributed_compute(self, element):
        outputs = self.strategy.run(self._replica_step, args=(element,))
        # Every replica holds the same all-reduced values.
        return {key: self.strategy.experimental_local_results(value)[0] for key, value in outputs.items()}

    def _apply_accumulated(self):
        grads = [accumulator.read_value() for accumulator in self.accumulators]
        start = 0
        for group in self.groups:
            end = start + len(group.variables)
            group.optimizer.apply_gradients(zip(grads[start:end], group.variables))
            start = end
        for accumulator in self.accumulators:
            accumulator.assign(tf.zeros_like(accumulator))

    def _distributed_apply(self):
        self.strategy.run(self._apply_accumulated)
        self.after_update()

    def trace(self, element_spec):
        """Traces the step once for batches of any size and length.

        Without it the step is traced again when the length changes and at the smaller last batch.

        Args:
            element_spec: The (distributed) dataset's `element_spec`, batch and length unknown.
        """
        self._compute.get_concrete_function(element_spec)

    def train_step(self, element):
        """One forward/backward pass; applies the update every `acc_steps` calls.

        Args:
            element: One element of the (distributed) dataset.

        Returns:
            Dict of numpy means over the global batch: every objective and metric.

        Raises:
            NonFiniteLossError: An objective is NaN or infinite (the message names the step).
        """
        metrics = {key: value.numpy() for key, value in self._compute(element).items()}
        self.steps.assign_add(1)
        if not metrics.pop("finite"):
            values = ", ".join(f"{name}={metrics[name]}" for name in self.objectives)
            raise NonFiniteLossError(f"Non-finite loss at step {self.steps_seen} ({values}){self.failure_context()}. "
                                     "No update was applied.")
        if self.steps_seen % self.acc_steps == 0:
            self._apply()
        return metrics
