"""The AIST stylizer: a CycleGAN with alpha and feature-distance terms (SPEC §3)."""
