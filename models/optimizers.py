"""The optimizers of every training method: Adam(W) with linear warm-up, linear decay and clipping."""

from transformers import create_optimizer


def _optimizer_and_schedule(train_steps, learning_rate, warmup_ratio, weight_decay):
    return create_optimizer(
        init_lr=learning_rate, num_train_steps=max(train_steps, 1), num_warmup_steps=int(warmup_ratio * train_steps),
        adam_epsilon=1e-12, adam_global_clipnorm=1.0, weight_decay_rate=weight_decay,
    )


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
    return _optimizer_and_schedule(train_steps, learning_rate, warmup_ratio, weight_decay)[0]


def largest_move(train_steps, learning_rate, warmup_ratio=0.06):
    """About the most `make_optimizer`'s Adam moves one weight over the run: the sum of its learning rates.

    Adam's step is about its learning rate when a weight's gradient keeps its sign (a constant penalty
    does), whatever the gradient's size; warm-up and the decay to 0 halve the peak rate times the updates.

    Args:
        train_steps: Optimizer updates of the whole run.
        learning_rate: Peak learning rate.
        warmup_ratio: Fraction of the updates spent warming up.
    """
    schedule = _optimizer_and_schedule(train_steps, learning_rate, warmup_ratio, 0.0)[1]
    return float(sum(float(schedule(step)) for step in range(train_steps)))
