"""tf.distribute for the stages: the strategy the flags ask for, distributed input, gathered outputs.

`--BATCH_SIZE` stays the global batch: each of the N replicas gets `BATCH_SIZE / N` examples
per step, and one step consumes the same examples one device would.
"""

import hashlib
import os

from models.replicas import with_token_axis
from pipeline.data import dataset, length_order, num_batches

import numpy as np
import tensorflow as tf
from tqdm import tqdm

STRATEGIES = ("default", "mirrored", "multi_worker")


class DistributionError(ValueError):
    """Distribution flags that cannot work together or on this machine."""


def strategy_from_flags(values):
    """The strategy of a stage, built before anything else touches TensorFlow.

    Args:
        values: Parsed flags with `STRATEGY`, `MULTI_GPU`, `CPU_REPLICAS` and `DETERMINISTIC`.

    Returns:
        A `tf.distribute.Strategy` (the default one for `--STRATEGY=default`).

    Raises:
        DistributionError: Contradicting flags, or logical devices asked for after TensorFlow started.
    """
    name = "mirrored" if values.MULTI_GPU else values.STRATEGY
    if values.MULTI_GPU and values.STRATEGY not in ("default", "mirrored"):
        raise DistributionError(f"--MULTI_GPU means --STRATEGY=mirrored, not {values.STRATEGY}.")
    if values.DETERMINISTIC:
        tf.config.experimental.enable_op_determinism()
    if values.CPU_REPLICAS:
        if name == "default":
            raise DistributionError("--CPU_REPLICAS needs --STRATEGY=mirrored or multi_worker.")
        split_cpu(values.CPU_REPLICAS)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise DistributionError("--STRATEGY=multi_worker reads the cluster from $TF_CONFIG, which is not set.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = None
    if values.CPU_REPLICAS:
        devices = [device.name for device in tf.config.list_logical_devices("CPU")]
    elif not tf.config.list_physical_devices("GPU"):
        raise DistributionError("--STRATEGY=mirrored found no GPU; use --CPU_REPLICAS=N to mirror over CPU devices.")
    return tf.distribute.MirroredStrategy(devices)


def split_cpu(count):
    """Splits the first CPU into `count` logical devices (only possible before TensorFlow initialises)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise DistributionError(f"--CPU_REPLICAS={count}: TensorFlow was already initialised; logical devices "
                                "must be configured before the first operation.") from None


def is_chief(strategy):
    """Whether this process writes checkpoints and logs: always, except on non-chief workers of a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


def worker_label(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "local"
    return f"{resolver.task_type} {resolver.task_id}"


def barrier(strategy):
    """Returns a function that waits until every replica of every worker has called it."""

    @tf.function
    def wait():
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)

    return wait


def describe(strategy):
    """One log line: the strategy, its replicas and this process' role."""
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        name = "MultiWorkerMirroredStrategy"
    elif isinstance(strategy, tf.distribute.MirroredStrategy):
        name = "MirroredStrategy"
    else:
        name = "the default strategy"
    return (f"{name} with {strategy.num_replicas_in_sync} replica"
            f"{'s' if strategy.num_replicas_in_sync > 1 else ''} ({worker_label(strategy)})")


def distribute(strategy, encoded, global_batch, order, rows=None, skip_steps=0):
    """The split as a distributed dataset of `(inputs, labels, indices[, rows])` per replica.

    Args:
        strategy: The strategy.
        encoded: An `Encoded` split.
        global_batch: Examples per step over all replicas (`--BATCH_SIZE`).
        order: Example indices in visiting order.
        rows: Optional `[N, T]` per-example arrays batched with the examples.
        skip_steps: Steps already done (a resumed epoch starts after them).

    Returns:
        A distributed dataset for `strategy.run`.

    Raises:
        DistributionError: The global batch does not split evenly over the replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise DistributionError(
            f"--BATCH_SIZE {global_batch} (the global batch) does not split over {replicas} replicas.")

    def dataset_fn(input_context):
        per_replica = input_context.get_per_replica_batch_size(global_batch)
        data = dataset(encoded, per_replica, order, rows, input_context)
        return data.skip(skip_steps * (input_context.num_replicas_in_sync // input_context.num_input_pipelines))

    return strategy.distribute_datasets_from_function(dataset_fn)


def trace_for_any_shape(step, data):
    """Traces `step(batch)` once for every batch of `data`, whatever its size and length.

    A `reduce_retracing` function otherwise traces the first batch's exact shape, again when the
    length changes and again at the smaller last batch, and a training step takes seconds to trace.

    Args:
        step: A `tf.function` taking one element of `data`.
        data: A (distributed) dataset whose element spec leaves batch and length unknown.
    """
    step.get_concrete_function(data.element_spec)


def gathered_batches(strategy, fn, encoded, batch_size, description):
    """Runs `fn(inputs, labels, indices)` on every replica over a split; yields whole batches.

    Batches follow `length_order`, so callers put rows back by `index`.

    `fn` returns a dict of tensors with the batch first (equal trailing shapes across replicas); the
    per-replica pieces are gathered from every replica and worker, with `index` added.

    Args:
        strategy: The strategy.
        fn: The per-replica computation.
        encoded: An `Encoded` split.
        batch_size: Global batch.
        description: Progress-bar label.

    Yields:
        Dicts of numpy arrays, one per global batch, with `index` the example indices.
    """

    step = _gathering_step(strategy, fn)
    data = distribute(strategy, encoded, batch_size, length_order(encoded))
    trace_for_any_shape(step, data)
    for batch in tqdm(data, total=num_batches(encoded, batch_size), desc=description, leave=False):
        yield {key: value.numpy() for key, value in step(batch).items()}


_STEPS = {}


def _gathering_step(strategy, fn):
    """One traced gathering step per (strategy, fn), so repeated evaluations reuse its graph."""
    key = (id(strategy), id(fn))
    if key not in _STEPS:

        def replica_fn(inputs, labels, indices):
            return dict(fn(with_token_axis(inputs), labels, indices), index=indices)

        @tf.function(reduce_retracing=True)
        def step(batch):
            outputs = strategy.run(replica_fn, args=batch)
            return {name: strategy.gather(value, axis=0) for name, value in outputs.items()}

        _STEPS[key] = (strategy, fn, step)  # holding both keeps their ids from being reused
    return _STEPS[key][2]


def weights_digest(model):
    """A short digest of every weight, equal across processes exactly when the weights are."""
    digest = hashlib.sha1()
    for value in model.get_weights():
        digest.update(np.ascontiguousarray(value).tobytes())
    return digest.hexdigest()[:16]
