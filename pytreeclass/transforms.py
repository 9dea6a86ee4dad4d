"""Filtered JAX transforms: whole objects in, arrays traced, the rest static."""
