"""AdapLeR training: the saliency-matching and length objectives, their optimizers, the lambda schedule."""

import math

from models.losses import TaskObjective
from models.optimizers import make_optimizer
from models.saliency_target import layer_kl_losses
from models.trainer import ParameterGroup, Trainer

import tensorflow as tf

SPEEDUP_LEARNING_RATE = 5e-4
ETA_RANGE = (0.01, 1.0)
THETA_MIN = 1e-3


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


def make_optimizers(train_steps, learning_rate=3e-5, warmup_ratio=0.06, weight_decay=0.01,
                    speedup_learning_rate=SPEEDUP_LEARNING_RATE):
    """The main AdamW (backbone, classifier, CPs) and the speedup Adam (ETA and THETA).

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


class AdapLeRTrainer(Trainer):
    """AdapLeR's training step on a model that went through `to_AdapLeR()`.

    Per step, one soft-removal forward pass with `training=True` and two objectives:
    `total_loss = CE + GAMMA * sum_i (L - i) KL_i` trains the backbone, classifier and CPs (the
    main optimizer, or the CPs apart with `cp_optimizer`); `combined_loss = CE + PHI * LEN` trains
    ETA and THETA (the speedup optimizer), each variable with its own gradient. CE is the
    `objective` (cross-entropy, or its mix with distillation). After an update ETA is clamped to
    `ETA_RANGE` and THETA kept positive. Elements are `(inputs, labels, indices, saliencies)`.

    Args:
        model: An AdapLeR `TFBertForSequenceClassification`.
        optimizer: Main optimizer (see `make_optimizers`).
        speedup_optimizer: Optimizer of ETA and THETA.
        gamma: Weight of the KL loss.
        phi: Weight of the length loss.
        acc_steps: Steps whose gradients are accumulated before an update.
        objective: A `TaskObjective` (default: unweighted cross-entropy). Beyond the original, its
            distillation from the fine-tuned model keeps the backbone from drifting in short runs.
        cp_optimizer: Optional separate optimizer of the Contribution Predictors (same objective as
            the main one). The original trains them with the main optimizer; a larger learning rate
            lets short runs train the freshly initialised heads.
        strategy: The `tf.distribute.Strategy` the model was built under (default: the current one).
    """

    def __init__(self, model, optimizer, speedup_optimizer, gamma=1.0, phi=10.0, acc_steps=1, objective=None,
                 cp_optimizer=None, strategy=None):
        if not model.is_adapler:
            raise ValueError("AdapLeRTrainer needs a model after to_AdapLeR().")
        self.encoder = model.bert.encoder
        self.gamma = float(gamma)
        self.phi = float(phi)
        self.objective = objective or TaskObjective(model.config.num_labels)
        if cp_optimizer is None:
            groups = [ParameterGroup("optimizer", "total_loss", list(model.trainable_variables), optimizer)]
        else:
            others, cps = split_contribution_predictor_variables(model)
            groups = [ParameterGroup("optimizer", "total_loss", others, optimizer),
                      ParameterGroup("cp_optimizer", "total_loss", cps, cp_optimizer)]
        groups.append(ParameterGroup("speedup_optimizer", "combined_loss", [self.encoder.ETA, self.encoder.THETA],
                                     speedup_optimizer))
        super().__init__(model, groups, acc_steps, strategy)

    def set_lambda(self, value):
        self.encoder._lambda.assign(value)

    def losses(self, element):
        inputs, labels, indices, saliencies = element
        encoder = self.encoder
        outputs = self.model(inputs, training=True, output_explanations=True, output_lengths=True)
        ce = self.objective(labels, outputs.logits, indices)
        kl = layer_kl_losses(saliencies, outputs.explanations, inputs["attention_mask"], encoder.ETA, encoder.THETA,
                             encoder._lambda)
        depth_weights = tf.range(encoder.num_layers, 0, -1, dtype=tf.float32)
        kl_loss = tf.reduce_sum(depth_weights * kl)
        length_loss = tf.reduce_mean(tf.reduce_sum(tf.stack(outputs.lengths), axis=0))
        objectives = {"total_loss": ce + self.gamma * kl_loss, "combined_loss": ce + self.phi * length_loss}
        return objectives, {"loss": ce, "kl_loss": kl_loss, "kl_losses": kl, "length_loss": length_loss}

    def after_update(self):
        # Cross-replica assignments keep the mirrored copies equal.
        self.encoder.ETA.assign(tf.clip_by_value(self.encoder.ETA, *ETA_RANGE))
        self.encoder.THETA.assign(tf.maximum(self.encoder.THETA, THETA_MIN))

    def failure_context(self):
        return f"; ETA={self.encoder.ETA.numpy()}, THETA={self.encoder.THETA.numpy()}"
