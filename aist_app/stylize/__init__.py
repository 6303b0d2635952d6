"""Stylization metrics for any stylizer (SPEC §3): KID with its feature nets, mask IoU, the
views as tensors. The built-in stylizer (the AIST CycleGAN) lives in
:mod:`aist_plugins.cyclegan`."""
