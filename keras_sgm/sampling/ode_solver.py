"""An adaptive ODE solver (Dormand-Prince 5(4)) in `keras.ops`, for the probability-flow ODE.

The adaptive `probability_flow_ode` sampler and `bits_per_dim` integrate
with it; it knows nothing about models.
"""

import numpy as np
from keras import ops

# Dormand-Prince 5(4) tableau: nodes, stage weights, 5th-order weights, and
# the difference between the 5th- and 4th-order weights (the error estimate).
_NODES = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0)
_STAGES = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
)
_WEIGHTS = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)
_ERROR = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)


def _scalar(value):
    return ops.convert_to_tensor(value, "float32")


def dormand_prince_step(slope, rtol, atol):
    """One Dormand-Prince 5(4) step of `dx/ds = slope(x, s)` and its scaled error norm.

    Returns:
        `step(x, slope_at_x, s, h) -> (x_next, slope_at_x_next, error)`, with
        the error in units of the tolerance (accept the step when <= 1).
    """

    def step(x, slope_start, s, h):
        stages = [slope_start]
        for node, row in zip(_NODES[1:], _STAGES[1:]):
            x_stage = x + h * sum(w * k for w, k in zip(row, stages))
            stages.append(slope(x_stage, s + node * h))
        x_next = x + h * sum(w * k for w, k in zip(_WEIGHTS, stages))
        stages.append(slope(x_next, s + h))
        error = h * sum(w * k for w, k in zip(_ERROR, stages))
        scale = atol + rtol * ops.maximum(ops.abs(x), ops.abs(x_next))
        return x_next, stages[-1], ops.sqrt(ops.mean(ops.square(error / scale)))

    return step


def solve_adaptive(slope, x, start, end, rtol, atol, compile, advance=None):
    """Integrates `dx/ds = slope(x, s)` from `s = start` to `s = end` with error control.

    Dormand-Prince 5(4) with the first-same-as-last stage reused (6
    evaluations of `slope` per attempted step) and the usual step-size
    controller, as scipy's RK45. Steps are compiled; acceptance is decided
    in Python.

    Args:
        slope: `slope(x, s)` in `keras.ops`.
        x: The state at `start`.
        start: Where the integration starts (a float).
        end: Where it ends.
        rtol: Relative tolerance.
        atol: Absolute tolerance.
        compile: Compiles a function of tensors (`compile_stateful` over the model's variables).
        advance: Called with the percentage points of `[start, end]` each
            accepted step covers, for a progress bar.

    Returns:
        `(x(end), nfe)`, with `nfe` the evaluations of `slope`.
    """
    step = compile(dormand_prince_step(slope, rtol, atol))
    k = compile(slope)(x, _scalar(start))
    nfe, s, h = 1, start, (end - start) / 100.0
    percent_done = 0
    while (end - s) * np.sign(end - start) > 1e-6 * abs(end):
        h = min(h, end - s) if end > start else max(h, end - s)
        x_next, k_next, error = step(x, k, _scalar(s), _scalar(h))
        nfe += 6
        error = float(ops.convert_to_numpy(error))
        if error <= 1.0:
            x, k, s = x_next, k_next, s + h
            done = round(100 * (s - start) / (end - start))
            if advance is not None:
                advance(done - percent_done)
            percent_done = done
        # Safety factor 0.9, growth kept between 0.2x and 10x.
        h *= min(10.0, max(0.2, 0.9 * (error + 1e-12) ** -0.2))
    return x, nfe
