"""The optimizer of the recipe: Adam with warm-up and cosine decay."""

import keras


def default_optimizer(learning_rate, total_steps, warmup_steps=500):
    """Adam with a linear warm-up and a cosine decay to zero over `total_steps`."""
    warmup_steps = min(warmup_steps, max(1, total_steps // 10))
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        warmup_target=learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(1, total_steps - warmup_steps),
    )
    return keras.optimizers.Adam(schedule)
