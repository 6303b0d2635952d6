"""Unsupervised shape and pose: differentiable point clouds (Insafutdinov & Dosovitskiy 2018)
in PyTorch (SPEC §4)."""
