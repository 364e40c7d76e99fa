"""Inverse RL algorithms."""
