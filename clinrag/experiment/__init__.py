"""Experiments: running configurations into run directories, and summarizing ablation grids."""
