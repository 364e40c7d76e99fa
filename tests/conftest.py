"""Test-session settings."""

import torch

# The suite is many small problems: one CPU thread avoids idle threads spinning against
# each other (and against anything else on a 2-core CI machine); the numbers do not change.
torch.set_num_threads(1)
