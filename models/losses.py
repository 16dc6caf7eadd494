"""Task losses: class-weighted cross-entropy, distillation from a fine-tuned teacher, and their mix."""

import tensorflow as tf


def task_loss(labels, logits, class_weights):
    """Class-weighted cross-entropy (MSE when the model has a single regression output)."""
    if logits.shape[-1] == 1:
        return tf.reduce_mean(tf.square(tf.cast(labels, tf.float32) - logits[:, 0]))
    labels = tf.cast(labels, tf.int32)
    per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    return tf.reduce_mean(per_example * tf.gather(class_weights, labels))


def distillation_loss(teacher_logits, logits, temperature):
    """KL divergence from the teacher's softened distribution to the student's, times `temperature**2`.

    The factor (Hinton et al., 2015) keeps the gradients' scale independent of the temperature. For a
    single regression output it is the squared error to the teacher's output.

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
    """`(1 - w) task_loss + w distillation_loss`; the task loss alone when `w` is 0."""
    ce = task_loss(labels, logits, class_weights)
    if not distill_weight:
        return ce
    kd = distillation_loss(teacher_logits, logits, temperature)
    return (1.0 - distill_weight) * ce + distill_weight * kd


class TaskObjective:
    """The task loss of a batch, optionally mixed with distillation from a fine-tuned teacher.

    Distillation reads the teacher's logits of the batch's examples by their indices in the training
    split, so the teacher runs once over the split before training instead of at every step.

    Args:
        num_labels: Classifier outputs.
        class_weights: Optional per-class weights of the cross-entropy (ones by default).
        teacher_logits: Optional `[N, K]` teacher logits of the training split, row `i` for example `i`.
        distill_weight: Weight `w` of the distillation loss, in [0, 1].
        temperature: Softmax temperature of the distillation loss.
    """

    def __init__(self, num_labels, class_weights=None, teacher_logits=None, distill_weight=0.0, temperature=1.0):
        if not 0.0 <= distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], got {distill_weight}.")
        if distill_weight and teacher_logits is None:
            raise ValueError("distill_weight needs teacher_logits.")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        weights = class_weights if class_weights is not None else [1.0] * num_labels
        self.class_weights = tf.constant(weights, tf.float32)
        self.teacher_logits = None if teacher_logits is None else tf.constant(teacher_logits, tf.float32)
        self.distill_weight = float(distill_weight)
        self.temperature = float(temperature)

    def __call__(self, labels, logits, indices):
        """The loss of `logits` for the examples at `indices` of the training split."""
        teacher = tf.gather(self.teacher_logits, indices) if self.distill_weight else None
        return mixed_task_loss(labels, logits, self.class_weights, teacher, self.distill_weight, self.temperature)
