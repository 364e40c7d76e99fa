"""Guided cost learning (Finn, Levine & Abbeel 2016) and GAN-GCL (Finn, Christiano, Abbeel & Levine 2016).

- :mod:`~irl.inverse.gcl.weights`: the importance weights, in log space, as pure functions of
  tensors (self-normalised trajectory weights, the fused density of several samplers, the
  effective sample size, weights tempered to keep it up, and the weights GAN-GCL's discriminator gives demos and samples);
- :mod:`~irl.inverse.gcl.oracle`: on a tabular task, the exact MaxEnt gradient (causal and
  trajectory-level) beside the sampled estimates, to say how good each estimate is;
- :mod:`~irl.inverse.gcl.fit`: the algorithm on a generator (``irl fit --algo gcl | gan-gcl``).
"""

from irl.inverse.gcl.oracle import (
    Trajectories,
    causal_gradient,
    cosine,
    enumerate_trajectories,
    gan_gcl_gradient,
    gcl_gradient,
    relative_error,
    sample_average_gradient,
    sample_trajectories,
    trajectory_counts,
    trajectory_gradient,
    trajectory_log_probs,
    trajectory_returns,
    trajectory_visitation,
)
from irl.inverse.gcl.weights import (
    discriminator_log_partition,
    effective_sample_size,
    episode_sums,
    fused_log_density,
    gan_gcl_log_weights,
    tempered_log_weights,
    trajectory_log_weights,
)

__all__ = [
    "Trajectories",
    "causal_gradient",
    "cosine",
    "discriminator_log_partition",
    "effective_sample_size",
    "enumerate_trajectories",
    "episode_sums",
    "fused_log_density",
    "gan_gcl_gradient",
    "gan_gcl_log_weights",
    "gcl_gradient",
    "relative_error",
    "sample_average_gradient",
    "sample_trajectories",
    "trajectory_counts",
    "trajectory_gradient",
    "trajectory_log_probs",
    "tempered_log_weights",
    "trajectory_log_weights",
    "trajectory_returns",
    "trajectory_visitation",
]
