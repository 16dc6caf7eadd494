"""The soft phase of the token-pruning methods: the task loss plus the pruner's penalty, the pruner's state
trained by an optimizer of its own."""

from models.losses import TaskObjective
from models.trainer import ParameterGroup, Trainer


class SoftPruningTrainer(Trainer):
    """Trains a `TFBertPruningForSequenceClassification` in soft mode.

    The loss is the task objective plus `pruner.penalty(...)` (PoWER-BERT's L1 on the retention weights,
    LTP's mean mask). The backbone and classifier follow `optimizer`, the pruner's state
    (`pruner.state_variables`) `pruner_optimizer`, both on the same loss; after every update
    `pruner.clamp()` keeps the state in range. The hard phase that follows is plain fine-tuning with
    `lr_mode=True` (`models.finetuning.FineTuningTrainer`), the pruner frozen.

    Args:
        model: A pruning classifier with its pruner attached.
        optimizer: The backbone's optimizer.
        pruner_optimizer: The pruner state's optimizer.
        objective: A `TaskObjective` (default: unweighted cross-entropy).
        acc_steps: Steps whose gradients are accumulated before an update.
        strategy: The `tf.distribute.Strategy` the model was built under.
    """

    def __init__(self, model, optimizer, pruner_optimizer, objective=None, acc_steps=1, strategy=None):
        if not model.removes_tokens:
            raise ValueError("SoftPruningTrainer needs a model with a pruner (attach_pruner).")
        self.pruner = model.bert.encoder.pruner
        self.objective = objective or TaskObjective(model.config.num_labels)
        groups = [ParameterGroup("optimizer", "loss", list(model.trainable_variables), optimizer),
                  ParameterGroup("pruner_optimizer", "loss", self.pruner.state_variables, pruner_optimizer)]
        super().__init__(model, groups, acc_steps, strategy)

    def losses(self, element):
        inputs, labels, indices = element[:3]
        outputs = self.model(inputs, training=True)
        task = self.objective(labels, outputs.logits, indices)
        penalty = self.pruner.penalty(outputs.soft_masks, inputs["attention_mask"])
        return {"loss": task + penalty}, {"task_loss": task, "penalty": penalty}

    def after_update(self):
        self.pruner.clamp()
