"""The reward-recovery leaderboard: `irl compare`."""
