"""A user's own distribution of the group effects: uniform, mean 0 and SD tau.

Name it in a grid block as ``effects: [examples.uniform_effects:draw]`` (a module of the project;
see config/config.yaml).
"""

import numpy as np


def draw(rng: np.random.Generator, shape, tau: float) -> np.ndarray:
    """theta_j uniform on [-sqrt(3) tau, sqrt(3) tau]: mean 0, SD tau."""
    half = np.sqrt(3.0) * tau
    return rng.uniform(-half, half, size=shape)
