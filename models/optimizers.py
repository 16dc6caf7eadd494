"""The optimizers of every training method: Adam(W) with linear warm-up, linear decay and clipping."""

from transformers import create_optimizer


def make_optimizer(train_steps, learning_rate, warmup_ratio=0.06, weight_decay=0.0):
    """Adam(W) with linear warm-up then linear decay to 0, epsilon 1e-12 and global clip-norm 1.

    Args:
        train_steps: Optimizer updates of the whole run (the schedule ends there).
        learning_rate: Peak learning rate.
        warmup_ratio: Fraction of the updates spent warming up.
        weight_decay: Decoupled weight decay (0: plain Adam).

    Returns:
        A Keras optimizer.
    """
    optimizer, _ = create_optimizer(
        init_lr=learning_rate, num_train_steps=max(train_steps, 1), num_warmup_steps=int(warmup_ratio * train_steps),
        adam_epsilon=1e-12, adam_global_clipnorm=1.0, weight_decay_rate=weight_decay,
    )
    return optimizer
