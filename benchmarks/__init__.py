"""Side-by-side benchmarks of pytreeclass against jax.jit, Equinox and flax.struct."""
