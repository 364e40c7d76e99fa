"""Test-session settings."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs on one torch thread: the suite is many small problems, and idle threads only spin
    against each other (and against anything else on a 2-core CI machine); the numbers do not change."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
