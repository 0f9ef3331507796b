"""The simulation of the normal world as it was before the non-normal worlds (frozen copy).

Kept verbatim to test that today's cells still get byte-identical datasets.
"""

import numpy as np

from shrinkstudy.design.cells import rep_generator


def simulate_reps_v1(cell, reps, base_seed: int):
    reps = np.asarray(reps, dtype=np.int64)
    sizes = np.asarray(cell.sizes)
    group = np.repeat(np.arange(cell.J), sizes)
    y = np.empty((len(reps), cell.N))
    means = np.empty((len(reps), cell.J))
    for i, rep in enumerate(reps):
        rng = rep_generator(base_seed, cell, int(rep))
        means[i] = cell.mu + rng.normal(0.0, cell.tau, cell.J) if cell.tau > 0 else cell.mu
        y[i] = means[i, group] + rng.normal(0.0, cell.sigma, cell.N)
    return y, means
