"""The one epoch loop of every training stage and method: data order, resume, progress bar, checkpoints."""

from models.trainer import NonFiniteLossError
from pipeline.data import num_batches, training_order
from pipeline.distribution import distribute

from tqdm import tqdm


def update_count(train, batch_size, epochs, acc_steps=1):
    """Optimizer updates of a run (the learning-rate schedules end there)."""
    return -(-num_batches(train, batch_size) * epochs // acc_steps)


class EpochLoop:
    """Runs a `Trainer` over the epochs of a run that may have been interrupted.

    Epoch `e` (0-based) visits the training split in `training_order(train, data_seed + e)`, so a
    resumed run continues the same batches. A `Resumable` (optional) saves the trainer's state, the
    position and the caller's `state` dict every `checkpoint_every` steps and at each epoch's end.

    Args:
        trainer: A `models.trainer.Trainer`.
        train: The `Encoded` training split.
        batch_size: Global batch size.
        epochs: Epochs of the run.
        data_seed: Seed of the data order.
        group_by_length: Batch examples of similar length (see `pipeline.data.length_grouped_order`).
        strategy: The run's `tf.distribute.Strategy`.
        rows: Optional `[N, T]` per-token arrays batched with the examples (e.g. saliencies).
        resumable: Optional `pipeline.resume.Resumable`; without it nothing is saved.
        checkpoint_every: Steps between checkpoints within an epoch.
        chief: Whether this process shows the progress bar.
        log: Logger of the run (the non-finite-loss message goes there too).
    """

    def __init__(self, trainer, train, batch_size, epochs, data_seed, group_by_length, strategy, rows=None,
                 resumable=None, checkpoint_every=200, chief=True, log=None):
        self.trainer = trainer
        self.train = train
        self.batch_size = batch_size
        self.epochs = epochs
        self.data_seed = data_seed
        self.group_by_length = group_by_length
        self.strategy = strategy
        self.rows = rows
        self.resumable = resumable
        self.checkpoint_every = checkpoint_every
        self.chief = chief
        self.log = log
        self.steps_per_epoch = num_batches(train, batch_size)

    def data(self, epoch, skip_steps=0):
        """Epoch `epoch`'s distributed dataset, after its first `skip_steps` steps."""
        order = training_order(self.train, self.data_seed + epoch, self.batch_size, self.group_by_length)
        return distribute(self.strategy, self.train, self.batch_size, order, rows=self.rows, skip_steps=skip_steps)

    def save(self, epoch, batch, state):
        if self.resumable is not None:
            self.resumable.save(epoch=epoch, batch=batch, state=state)

    def run(self, position, state, before_epoch=None, after_step=None, after_epoch=None):
        """Trains the epochs left from `position`.

        Args:
            position: What `Resumable.restore` returned (`epoch`, `batch`, `state`), or None for a fresh run.
            state: The caller's picklable bookkeeping for a fresh run; a resumed run continues the saved one.
            before_epoch: `before_epoch(epoch)`, before the epoch's first step.
            after_step: `after_step(epoch, metrics, state)` after every step; returns the progress bar's postfix
                dict (or None).
            after_epoch: `after_epoch(epoch, state)` after the epoch's last step, before its checkpoint.

        Returns:
            The state.

        Raises:
            NonFiniteLossError: A loss was not finite (logged first); the last checkpoint is intact.
        """
        start, done = (position["epoch"], position["batch"]) if position else (0, 0)
        state = position["state"] if position else state
        for epoch in range(start, self.epochs):
            skip = done if epoch == start else 0
            if before_epoch is not None:
                before_epoch(epoch)
            data = self.data(epoch, skip)
            self.trainer.trace(data.element_spec)
            progress = tqdm(data, total=self.steps_per_epoch, initial=skip, desc=f"epoch {epoch + 1}/{self.epochs}",
                            disable=not self.chief)
            for step, element in enumerate(progress, skip + 1):
                try:
                    metrics = self.trainer.train_step(element)
                except NonFiniteLossError as error:
                    if self.log is not None:
                        self.log.error("%s Stopped; the last checkpoint is intact.", error)
                    raise
                postfix = after_step(epoch, metrics, state) if after_step is not None else None
                if postfix:
                    progress.set_postfix(postfix)
                if step % self.checkpoint_every == 0 and step < self.steps_per_epoch:
                    self.save(epoch, step, state)
            if after_epoch is not None:
                after_epoch(epoch, state)
            self.save(epoch + 1, 0, state)
        return state
