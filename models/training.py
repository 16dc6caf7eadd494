"""AdapLeR training (SPEC 4): two objectives, two optimizers, accumulation, lambda schedule, NaN guard."""

import math

import tensorflow as tf
from transformers import create_optimizer

from models.saliency_target import layer_kl_losses

SPEEDUP_LEARNING_RATE = 5e-4
ETA_RANGE = (0.01, 1.0)
THETA_MIN = 1e-3


class NonFiniteLossError(FloatingPointError):
    """A loss became NaN or infinite; the step's gradients were not applied."""


def lambda_schedule(epoch, epochs):
    """Soft-removal sharpness for a 0-based `epoch` of an `epochs`-long run.

    `lambda_e = max(10, r) * r**e` with `r = 10**(5 / epochs)` rounded to one significant
    digit, so lambda climbs to about 1e5 by the last epoch whatever the run length. It gives
    the original's three schedules: 10*10^e (5 epochs), 10*3^e (10), 50*50^e (3).

    Args:
        epoch: 0-based epoch.
        epochs: Number of epochs of the run.

    Returns:
        Lambda as a float.
    """
    if epochs < 1 or not 0 <= epoch < epochs:
        raise ValueError(f"epoch {epoch} is outside a run of {epochs} epochs.")
    raw = 10.0 ** (5.0 / epochs)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    rate = round(raw / magnitude) * magnitude
    return max(10.0, rate) * rate**epoch


def make_optimizer(train_steps, learning_rate, warmup_ratio=0.06, weight_decay=0.0):
    """Adam(W) with linear warm-up then linear decay, eps 1e-12 and global clip-norm 1 (SPEC 4.1)."""
    optimizer, _ = create_optimizer(
        init_lr=learning_rate, num_train_steps=max(train_steps, 1), num_warmup_steps=int(warmup_ratio * train_steps),
        adam_epsilon=1e-12, adam_global_clipnorm=1.0, weight_decay_rate=weight_decay,
    )
    return optimizer


def make_optimizers(train_steps, learning_rate=3e-5, warmup_ratio=0.06, weight_decay=0.01,
                    speedup_learning_rate=SPEEDUP_LEARNING_RATE):
    """The main AdamW and the speedup Adam of SPEC 4.1.

    Args:
        train_steps: Total optimizer updates of the run.
        learning_rate: Peak learning rate of the main optimizer.
        warmup_ratio: Fraction of the updates spent warming up.
        weight_decay: Decoupled weight decay of the main optimizer.
        speedup_learning_rate: Peak learning rate of the ETA/THETA optimizer.

    Returns:
        `(optimizer, speedup_optimizer)`.
    """
    return (make_optimizer(train_steps, learning_rate, warmup_ratio, weight_decay),
            make_optimizer(train_steps, speedup_learning_rate, warmup_ratio))


def task_loss(labels, logits, class_weights):
    """Class-weighted cross-entropy (MSE when the model has a single regression output)."""
    if logits.shape[-1] == 1:
        return tf.reduce_mean(tf.square(tf.cast(labels, tf.float32) - logits[:, 0]))
    labels = tf.cast(labels, tf.int32)
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(per_example * tf.gather(class_weights, labels))


def distillation_loss(teacher_logits, logits, temperature):
    """KL divergence from the teacher's softened distribution to the student's, times `temperature**2`
    (Hinton et al., 2015: the factor keeps its gradients' scale independent of the temperature); MSE to
    the teacher's output for a single regression output.

    Args:
        teacher_logits: `[B, K]` logits of the fine-tuned model on the same examples.
        logits: `[B, K]` logits being trained.
        temperature: Softmax temperature of both distributions.

    Returns:
        Scalar mean over the batch.
    """
    teacher_logits = tf.cast(teacher_logits, logits.dtype)
    if logits.shape[-1] == 1:
        return tf.reduce_mean(tf.square(teacher_logits - logits))
    teacher_log_probs = tf.nn.log_softmax(teacher_logits / temperature)
    log_probs = tf.nn.log_softmax(logits / temperature)
    per_example = tf.reduce_sum(tf.exp(teacher_log_probs) * (teacher_log_probs - log_probs), axis=-1)
    return temperature**2 * tf.reduce_mean(per_example)


def mixed_task_loss(labels, logits, class_weights, teacher_logits=None, distill_weight=0.0, temperature=1.0):
    """`(1 - w) task_loss + w distillation_loss`; the task loss alone when `w` is 0.

    Args:
        labels: `[B]` labels.
        logits: `[B, K]` logits being trained.
        class_weights: Per-class weights of the task loss.
        teacher_logits: `[B, K]` teacher logits of the same examples (needed when `w` > 0).
        distill_weight: `w`.
        temperature: Softmax temperature of the distillation loss.

    Returns:
        Scalar loss.
    """
    ce = task_loss(labels, logits, class_weights)
    if not distill_weight:
        return ce
    kd = distillation_loss(teacher_logits, logits, temperature)
    return (1.0 - distill_weight) * ce + distill_weight * kd


def split_contribution_predictor_variables(model):
    """`(others, cps)`: the model's trainable weights without the Contribution Predictors', and theirs.

    Args:
        model: A `TFBertForSequenceClassification`, plain or AdapLeR.

    Returns:
        Two lists in the model's variable order; `cps` is empty for a plain model.
    """
    predictors = model.bert.encoder.contribution_predictors or []
    cp_ids = {id(v) for cp in predictors for v in cp.trainable_variables}
    others = [v for v in model.trainable_variables if id(v) not in cp_ids]
    return others, [v for v in model.trainable_variables if id(v) in cp_ids]


def global_sum(value):
    return tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, value)


def replica_share(labels):
    """This replica's fraction of the global batch (call in a replica context).

    A loss averaged over the replica's examples and multiplied by it (`weighted`) sums over the
    replicas to the global-batch mean, so summed gradients equal one device's on the whole batch.
    A replica left without examples at the end of a split gets 0.
    """
    local = tf.cast(tf.shape(labels)[0], tf.float32)
    return local / global_sum(local)


def with_token_axis(tensors):
    """Pads `[B, T]` tensors to at least one position.

    A replica left without examples at the end of a split receives `[0, 0]` batches, on which
    attention's shapes fail; `[0, 1]` runs and contributes nothing.
    """
    return tf.nest.map_structure(lambda x: tf.pad(x, [[0, 0], [0, tf.maximum(0, 1 - tf.shape(x)[1])]]), tensors)


def weighted(value, share):
    # The mean over an empty share is NaN; its weight 0 must still give 0.
    return tf.math.multiply_no_nan(value, share)


class AdapLeRTrainer:
    """Runs AdapLeR training steps on a model that went through `to_AdapLeR()`.

    Per step, one soft-mode forward pass with `training=True`. The main optimizer minimises
    `CE + GAMMA * sum_i (L - i) KL_i` over the trainable weights; the speedup optimizer
    minimises `CE + PHI * LEN` over ETA and THETA, each variable getting its own gradient.
    With `teacher_logits`, CE becomes `(1 - w) CE + w KD` in both objectives, KD being
    `distillation_loss` against the fine-tuned model's logits of the same examples.
    Gradients are accumulated over `acc_steps` calls and applied together; a non-finite loss
    raises `NonFiniteLossError` before anything is applied.

    Under a `tf.distribute` strategy (the model and optimizers built in its scope) each replica
    accumulates its share of the global batch and the optimizers sum the shares, so an update
    equals the single-device one on the same global batch.

    Args:
        model: An AdapLeR `TFBertForSequenceClassification`.
        optimizer: Main optimizer (see `make_optimizers`).
        speedup_optimizer: Optimizer of ETA and THETA.
        gamma: Weight of the KL loss.
        phi: Weight of the length loss.
        acc_steps: Steps whose gradients are accumulated before an update.
        class_weights: Optional per-class loss weights (ones by default).
        cp_optimizer: Optional separate optimizer for the Contribution Predictors (same
            objective as the main one). The original trains them with the main optimizer; a
            larger learning rate lets short runs train the freshly initialised heads.
        strategy: The `tf.distribute.Strategy` the model was built under (default: the current one).
        teacher_logits: Optional `[N, K]` logits of the fine-tuned model on the training split, row
            `i` for example `i`; `train_step` then needs the batch's example indices. Beyond the
            original: with few updates, matching the fine-tuned model's outputs keeps the backbone
            from drifting while it learns to work without removed tokens.
        distill_weight: `w` above, in [0, 1].
        temperature: Softmax temperature of the distillation loss.
    """

    def __init__(self, model, optimizer, speedup_optimizer, gamma=1.0, phi=10.0, acc_steps=1, class_weights=None,
                 cp_optimizer=None, strategy=None, teacher_logits=None, distill_weight=0.0, temperature=1.0):
        if not model.is_adapler:
            raise ValueError("AdapLeRTrainer needs a model after to_AdapLeR().")
        if acc_steps < 1:
            raise ValueError(f"acc_steps must be at least 1, got {acc_steps}.")
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], got {distill_weight}.")
        if distill_weight and teacher_logits is None:
            raise ValueError("distill_weight needs teacher_logits.")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.model = model
        self.encoder = model.bert.encoder
        self.optimizer = optimizer
        self.speedup_optimizer = speedup_optimizer
        self.gamma = float(gamma)
        self.phi = float(phi)
        self.acc_steps = acc_steps
        self.strategy = strategy or tf.distribute.get_strategy()
        num_labels = model.config.num_labels
        weights = class_weights if class_weights is not None else [1.0] * num_labels
        self.class_weights = tf.constant(weights, tf.float32)
        self.teacher_logits = None if teacher_logits is None else tf.constant(teacher_logits, tf.float32)
        self.distill_weight = float(distill_weight)
        self.temperature = float(temperature)
        self.cp_optimizer = cp_optimizer
        # With a CP optimizer the CP weights go last in main_variables, so the update can split the list.
        others, cps = split_contribution_predictor_variables(model)
        self.cp_variables = cps if cp_optimizer else []
        self.main_variables = others + cps if cp_optimizer else list(model.trainable_variables)
        self.speedup_variables = [self.encoder.ETA, self.encoder.THETA]
        with self.strategy.scope():
            # On-read: each replica sums its own gradients; the optimizers add the replicas up.
            self.accumulators = [
                tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False, name=f"accumulator_{i}",
                            synchronization=tf.VariableSynchronization.ON_READ,
                            aggregation=tf.VariableAggregation.SUM)
                for i, v in enumerate(self.main_variables + self.speedup_variables)
            ]
            self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="steps",
                                     aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self._compute = tf.function(self._distributed_compute, reduce_retracing=True)
        self._apply = tf.function(self._distributed_apply)

    @property
    def steps_seen(self):
        return int(self.steps.numpy())

    def set_lambda(self, value):
        self.encoder._lambda.assign(value)

    def _objective(self, labels, logits, indices):
        teacher = tf.gather(self.teacher_logits, indices) if self.distill_weight else None
        return mixed_task_loss(labels, logits, self.class_weights, teacher, self.distill_weight, self.temperature)

    def _compute_and_accumulate(self, inputs, labels, saliencies, indices):
        encoder = self.encoder
        share = replica_share(labels)
        inputs, saliencies = with_token_axis((inputs, saliencies))
        with tf.GradientTape() as tape, tf.GradientTape(watch_accessed_variables=False) as speed_tape:
            speed_tape.watch(self.speedup_variables)
            outputs = self.model(inputs, training=True, output_explanations=True, output_lengths=True)
            ce = self._objective(labels, outputs.logits, indices)
            kl = layer_kl_losses(
                saliencies, outputs.explanations, inputs["attention_mask"], encoder.ETA, encoder.THETA, encoder._lambda
            )
            depth_weights = tf.range(encoder.num_layers, 0, -1, dtype=tf.float32)
            kl_loss = tf.reduce_sum(depth_weights * kl)
            main_loss = ce + self.gamma * kl_loss
            length_loss = tf.reduce_mean(tf.reduce_sum(tf.stack(outputs.lengths), axis=0))
            speed_loss = ce + self.phi * length_loss
            # Scaled inside the tapes: the accumulated sum over acc_steps and replicas is then a mean.
            scale = share / self.acc_steps
            scaled_main, scaled_speed = weighted(main_loss, scale), weighted(speed_loss, scale)
        grads = tape.gradient(scaled_main, self.main_variables)
        grads += speed_tape.gradient(scaled_speed, self.speedup_variables)
        locally_finite = (tf.math.is_finite(main_loss) & tf.math.is_finite(speed_loss)) | (share == 0.0)
        finite = global_sum(1.0 - tf.cast(locally_finite, tf.float32)) == 0.0
        if finite:
            variables = self.main_variables + self.speedup_variables
            for accumulator, grad, variable in zip(self.accumulators, grads, variables):
                accumulator.assign_add(tf.zeros_like(variable) if grad is None else tf.convert_to_tensor(grad))
        metrics = {"loss": ce, "kl_loss": kl_loss, "kl_losses": kl, "length_loss": length_loss,
                   "total_loss": main_loss, "combined_loss": speed_loss}
        metrics = {key: global_sum(weighted(value, share)) for key, value in metrics.items()}
        return dict(metrics, finite=finite)

    def _distributed_compute(self, inputs, labels, saliencies, indices=None):
        outputs = self.strategy.run(self._compute_and_accumulate, args=(inputs, labels, saliencies, indices))
        # Every replica holds the same all-reduced values.
        return {key: self.strategy.experimental_local_results(value)[0] for key, value in outputs.items()}

    def _apply_accumulated(self):
        count = len(self.main_variables)
        backbone = count - len(self.cp_variables)
        grads = [a.read_value() for a in self.accumulators]
        self.optimizer.apply_gradients(zip(grads[:backbone], self.main_variables[:backbone]))
        if self.cp_variables:
            self.cp_optimizer.apply_gradients(zip(grads[backbone:count], self.cp_variables))
        self.speedup_optimizer.apply_gradients(zip(grads[count:], self.speedup_variables))
        for accumulator in self.accumulators:
            accumulator.assign(tf.zeros_like(accumulator))

    def _distributed_apply(self):
        self.strategy.run(self._apply_accumulated)
        # Cross-replica assignments keep the mirrored copies equal.
        self.encoder.ETA.assign(tf.clip_by_value(self.encoder.ETA, *ETA_RANGE))
        self.encoder.THETA.assign(tf.maximum(self.encoder.THETA, THETA_MIN))

    def trace(self, inputs, labels, saliencies, indices=None):
        """Traces the step once for batches of any size and length (a MiniLM trace takes about 15 s here).

        Without it the step is traced again when the length changes and at the smaller last batch.

        Args:
            inputs: Dict of `tf.TensorSpec`s (or the per-replica specs of a distributed dataset)
                for `input_ids`, `attention_mask` and `token_type_ids`, with unknown dimensions.
            labels: The labels' spec.
            saliencies: The saliency targets' spec.
            indices: The example indices' spec, or None.
        """
        self._compute.get_concrete_function(inputs, labels, saliencies, indices)

    def train_step(self, inputs, labels, saliencies, indices=None):
        """One forward/backward pass; applies the update every `acc_steps` calls.

        Args:
            inputs: Dict with `input_ids`, `attention_mask`, `token_type_ids` (`[B, T]`), or the
                per-replica values of a distributed dataset.
            labels: `[B]` labels (or per-replica).
            saliencies: `[B, T]` saliency targets aligned with the inputs (or per-replica).
            indices: `[B]` example indices into `teacher_logits` (or per-replica); needed when distilling.

        Returns:
            Dict of numpy losses, means over the global batch: `loss` (CE, mixed with KD when
            distilling), `kl_loss`,
            `kl_losses` (per layer), `length_loss`, `total_loss`, `combined_loss`.

        Raises:
            NonFiniteLossError: A loss is NaN or infinite (message names the step, ETA, THETA).
        """
        if self.distill_weight and indices is None:
            raise ValueError("Distillation needs the batch's example indices.")
        metrics = {k: v.numpy() for k, v in self._compute(inputs, labels, saliencies, indices).items()}
        self.steps.assign_add(1)
        if not metrics.pop("finite"):
            raise NonFiniteLossError(
                f"Non-finite loss at step {self.steps_seen} (CE={metrics['loss']}, KL={metrics['kl_loss']}, "
                f"LEN={metrics['length_loss']}); ETA={self.encoder.ETA.numpy()}, THETA={self.encoder.THETA.numpy()}. "
                "No update was applied."
            )
        if self.steps_seen % self.acc_steps == 0:
            self._apply()
        return metrics
