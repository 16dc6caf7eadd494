"""TR-BERT's two training phases on the shared loop: the policies alone by REINFORCE, then every weight.

Each example is rolled out K times (the batch tiled, rollout k of example b at `k * B + b`): the encoder's
soft mode samples keep/drop actions at the selection points from the policies and applies them as a mask.
A rollout's reward is `-loss - alpha * kept fraction` (`models.tr_bert.rewards`), its advantage the reward
minus the mean of the example's K rollouts, and the policy term `mean(advantage * NLL(actions))`. For the
first `imitation_steps` steps the first rollout of each example follows the residual scores' top-k instead
of sampling (imitation). The joint phase adds the task objective of every rollout (distillation from the
fine-tuned teacher when the objective has one) and trains all weights on the sum.
"""

from models.losses import TaskObjective
from models.tr_bert import kept_fraction, log_likelihood, per_example_loss, policy_gradient_loss, rewards
from models.trainer import ParameterGroup, Trainer

import tensorflow as tf


class TRBertTrainer(Trainer):
    """Trains a pruning classifier with a `TRBertPruner` attached.

    Args:
        model: The classifier, its pruner a `models.tr_bert.TRBertPruner`.
        optimizer: The optimizer of the trained variables.
        alpha: Weight of the kept fraction in the reward (the trade-off).
        samples: Rollouts K per example.
        imitation_steps: Steps whose first rollout imitates the residual top-k.
        joint: False: the policies alone, the rest frozen and without dropout; True: every weight, the task
            objective added.
        objective: The joint phase's `TaskObjective` (default: cross-entropy).
        acc_steps: Steps whose gradients are accumulated before an update.
        strategy: The `tf.distribute.Strategy` the model was built under.
    """

    def __init__(self, model, optimizer, alpha, samples=8, imitation_steps=0, joint=False, objective=None,
                 acc_steps=1, strategy=None):
        self.pruner = model.bert.encoder.pruner
        if not getattr(self.pruner, "before_layer", False):
            raise ValueError("TRBertTrainer needs a model with a TRBertPruner attached.")
        self.alpha = float(alpha)
        self.samples = int(samples)
        self.imitation_steps = int(imitation_steps)
        self.joint = joint
        self.objective = objective or TaskObjective(model.config.num_labels)
        variables = list(model.trainable_variables) if joint else self.pruner.state_variables
        super().__init__(model, [ParameterGroup("optimizer", "loss", variables, optimizer)], acc_steps, strategy)

    def losses(self, element):
        inputs, labels, indices, residual = element
        k = self.samples
        inputs = {name: tf.tile(value, [k, 1]) for name, value in inputs.items()}
        labels, indices, residual = tf.tile(labels, [k]), tf.tile(indices, [k]), tf.tile(residual, [k, 1, 1])
        first = tf.range(tf.shape(labels)[0]) < tf.shape(labels)[0] // k
        imitate = first & (self.steps < self.imitation_steps)
        with self.pruner.guided(residual, imitate):
            outputs = self.model(inputs, training=self.joint, output_explanations=True)
        mask = tf.cast(inputs["attention_mask"], tf.float32)
        reward = rewards(tf.stop_gradient(per_example_loss(labels, outputs.logits)),
                         kept_fraction([outputs.lengths[p] for p in self.pruner.points], tf.reduce_sum(mask, -1)),
                         self.alpha)
        not_cls = tf.range(tf.shape(mask)[1])[None, :] > 0
        live, log_probability = mask, 0.0
        for probabilities, actions in zip(outputs.explanations, outputs.soft_masks):
            log_probability += log_likelihood(probabilities, actions, (live > 0) & not_cls)
            live = actions
        policy = policy_gradient_loss(reward, log_probability, k)
        loss = (policy + self.objective(labels, outputs.logits, indices)) if self.joint else policy
        kept = tf.cast(outputs.lengths[self.pruner.points[-1]], tf.float32) / tf.reduce_sum(mask, -1)
        return {"loss": loss}, {"reward": tf.reduce_mean(reward), "kept": tf.reduce_mean(kept)}
