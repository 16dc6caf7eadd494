"""Fine-tuning a classifier on its task loss (cross-entropy, optionally mixed with distillation)."""

from models.losses import TaskObjective
from models.trainer import ParameterGroup, Trainer


class FineTuningTrainer(Trainer):
    """Trains `variables` (default: every trainable weight) on the task objective.

    Stage 1 trains the plain classifier this way; with a teacher it distils (a smaller student),
    and with `lr_mode=True` an AdapLeR model trains on the sequences hard removal leaves (the
    Contribution Predictors left out of `variables` stay frozen).

    Args:
        model: A `TFBertForSequenceClassification`.
        optimizer: The optimizer of `variables`.
        variables: The weights trained (default: `model.trainable_variables`).
        objective: A `TaskObjective` (default: unweighted cross-entropy).
        lr_mode: Forward passes with hard token removal (AdapLeR models only).
        acc_steps: Steps whose gradients are accumulated before an update.
        strategy: The `tf.distribute.Strategy` the model was built under.
    """

    def __init__(self, model, optimizer, variables=None, objective=None, lr_mode=False, acc_steps=1, strategy=None):
        self.objective = objective or TaskObjective(model.config.num_labels)
        self.lr_mode = lr_mode
        variables = list(model.trainable_variables) if variables is None else list(variables)
        super().__init__(model, [ParameterGroup("optimizer", "loss", variables, optimizer)], acc_steps, strategy)

    def losses(self, element):
        inputs, labels, indices = element[:3]
        logits = self.model(inputs, training=True, lr_mode=self.lr_mode).logits
        return {"loss": self.objective(labels, logits, indices)}, {}
