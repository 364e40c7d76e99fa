"""One registry of inverse algorithms: name → config dataclass + fit function.

``irl fit --algo NAME`` and comparison harnesses resolve algorithms here. Every
registered fit function has the signature

    fit(task, demos: Demos, *, config: Config, callback=None, checkpoint=None) -> result

where ``task`` is an :data:`irl.inverse.common.Task`: the exact :class:`TabularMDP` for
the algorithms with ``tabular=True``, or an :class:`EnvTask` (a gymnasium env id and
kwargs) for the ones that sample the env (gail, airl, bc, gcl, gan-gcl, iq-learn). The result is an
:class:`irl.inverse.common.InverseResult` (``reward_model``, ``policy``, ``log``,
``converged``, ``iterations``, ``seconds``, ``stop_reason``, ``stop_message``,
``config``), a :class:`~irl.inverse.common.TabularResult` with ``reward_table`` on a
tabular task, plus the algorithm's own fields. Algorithms with a margin per iteration
also expose ``margins`` (apprenticeship learning); maximum margin planning exposes its
structured slack per iteration as ``slacks``.

``checkpoint`` (an :class:`irl.checkpoint.Checkpoint`) is for the algorithms with
``resumable=True``: they resume from its restored state and save theirs now and then.
Callers pass it to those alone; the others always run from the start (maxent, sharing
deep-maxent's fit, accepts it and ignores it).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from irl._registry import Registry


@dataclass(frozen=True)
class Algorithm:
    """A registered inverse algorithm.

    Fields:
        name: the ``--algo`` name.
        description: one line for ``irl fit --help``.
        module: import path of the module holding the config class and fit function.
        config: name of the config dataclass in ``module``.
        fit: name of the fit function in ``module``.
        defaults: overrides of the config's own defaults for this name (e.g. deep-maxent
            is maxent with ``reward="mlp"``, max-margin is apprenticeship learning with
            ``variant="max-margin"``).
        tabular: whether ``fit`` takes the exact model (a TabularMDP) or an env (an EnvTask).
        resumable: whether ``fit`` honours ``checkpoint``: it saves its state at the end of an
            iteration when due and resumes from a restored one, ending with the numbers of an
            uninterrupted run (:mod:`irl.checkpoint`).
    """

    name: str
    description: str
    module: str
    config: str
    fit: str = "fit"
    defaults: tuple[tuple[str, Any], ...] = ()
    tabular: bool = True
    resumable: bool = False

    def config_class(self) -> type:
        return getattr(importlib.import_module(self.module), self.config)

    def make_config(self, **overrides: Any) -> Any:
        """The config with this entry's defaults, then ``overrides`` (unknown keys raise ``TypeError``)."""
        return self.config_class()(**{**dict(self.defaults), **overrides})

    def fit_function(self) -> Callable[..., Any]:
        return getattr(importlib.import_module(self.module), self.fit)


ALGORITHMS: Registry[Algorithm] = Registry("inverse algorithm")


def register(algorithm: Algorithm) -> Algorithm:
    """Adds ``algorithm`` under its name (a name twice is an error)."""
    return ALGORITHMS.register(algorithm.name, algorithm)


def get_algorithm(name: str) -> Algorithm:
    """The registered algorithm ``name``; ``KeyError`` with the known names otherwise."""
    return ALGORITHMS.get(name)


register(Algorithm(
    "maxent",
    "exact maximum-entropy IRL (Ziebart 2008), linear or tabular reward, L-BFGS",
    "irl.inverse.maxent", "MaxEntConfig",
))
register(Algorithm(
    "deep-maxent",
    "exact MaxEnt IRL with an MLP reward on the features (Wulfmeier 2015), Adam",
    "irl.inverse.maxent", "MaxEntConfig", defaults=(("reward", "mlp"), ("max_iters", 300)), resumable=True,
))
register(Algorithm(
    "projection",
    "apprenticeship learning by feature matching, projection variant (Abbeel & Ng 2004)",
    "irl.inverse.apprenticeship", "ApprenticeshipConfig", defaults=(("variant", "projection"),),
))
register(Algorithm(
    "max-margin",
    "apprenticeship learning by feature matching, max-margin QP variant (Abbeel & Ng 2004)",
    "irl.inverse.apprenticeship", "ApprenticeshipConfig", defaults=(("variant", "max-margin"),),
))
register(Algorithm(
    "mmp",
    "maximum margin planning, loss-augmented subgradient descent (Ratliff et al. 2006)",
    "irl.inverse.mmp", "MMPConfig", resumable=True,
))
register(Algorithm(
    "bc",
    "behaviour cloning: maximum likelihood of the demo actions, early stopping on held-out episodes; no reward",
    "irl.inverse.bc", "BCConfig", tabular=False,
))
register(Algorithm(
    "gail",
    "generative adversarial imitation (Ho & Ermon 2016) on an SAC or PPO generator; reward: the discriminator's logit",
    "irl.inverse.adversarial.fit", "AdversarialConfig", defaults=(("method", "gail"),), tabular=False,
    resumable=True,
))
register(Algorithm(
    "airl",
    "adversarial IRL (Fu et al. 2018) on an SAC or PPO generator; reward: g of f = g + γh' − h",
    "irl.inverse.adversarial.fit", "AdversarialConfig", defaults=(("method", "airl"),), tabular=False,
    resumable=True,
))
register(Algorithm(
    "gcl",
    "guided cost learning (Finn et al. 2016): MaxEnt IRL with importance-weighted samples of an SAC or PPO generator",
    "irl.inverse.gcl.fit", "GCLConfig", defaults=(("method", "gcl"),), tabular=False, resumable=True,
))
register(Algorithm(
    "gan-gcl",
    "GAN guided cost learning (Finn, Christiano et al. 2016): a trajectory discriminator exp r / (exp r + q)",
    "irl.inverse.gcl.fit", "GCLConfig", defaults=(("method", "gan-gcl"),), tabular=False, resumable=True,
))
register(Algorithm(
    "iq-learn",
    "inverse soft-Q learning (Garg et al. 2021): one soft Q-function is the policy and the reward Q − γV'; offline "
    "or online",
    "irl.inverse.iq_learn", "IQLearnConfig", tabular=False, resumable=True,
))
