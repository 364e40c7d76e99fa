"""GAN-style inverse RL: GAIL (Ho & Ermon 2016) and AIRL (Fu et al. 2018).

- :mod:`~irl.inverse.adversarial.losses`: how the discriminator is trained (logistic loss,
  gradient penalty, accuracy), as pure functions of tensors;
- :mod:`~irl.inverse.adversarial.rewards`: what the generator learns from, as functions of the
  discriminator's logit (GAIL's reward forms, AIRL's logit and policy reward).
"""
