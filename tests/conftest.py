import jax

# Kernels are checked against references in float64; tests that need float32 ask for it.
jax.config.update("jax_enable_x64", True)
