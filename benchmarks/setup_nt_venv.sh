#!/usr/bin/env bash
# Create benchmarks/.venv-nt: an isolated venv with neural-tangents 0.6.5 and the JAX it was
# released against, the reference that benchmarks/bench_kernel.py --with-nt compares ntkbook with.
#
# Idempotent: if the venv already works (nt_reference.py --check) it does nothing. Needs PyPI.
#
#   bash benchmarks/setup_nt_venv.sh          # create or verify
#   NT_VENV=/some/dir bash benchmarks/setup_nt_venv.sh
#   PYTHON=python3.11 bash benchmarks/setup_nt_venv.sh
#
# Why these pins: neural-tangents 0.6.5 (Jan 2024) uses jax.core/jax.interpreters internals that
# later JAX releases removed, so it gets jax/jaxlib 0.4.25 (Feb 2024). jaxlib 0.4.25 predates
# NumPy 2 (numpy<2). SciPy, ml_dtypes and opt_einsum are pinned to releases of the same months
# so that the set stays the one measured here (scipy 1.13 was also seen to import).
#
# neural-tangents 0.6.5 also declares tensorflow>=2.15 and tf2jax, used only by its
# experimental TF-model interop (nt.experimental.empirical_ntk_fn_tf), which `import
# neural_tangents` nonetheless imports. They are several hundred MB and add nothing to a JAX
# benchmark, so neural-tangents is installed with --no-deps and its other runtime dependency
# (frozendict) explicitly; benchmarks/nt_reference.py registers an empty
# neural_tangents.experimental before importing neural_tangents when TensorFlow is absent (a
# venv that has TensorFlow and tf2jax gets the real subpackage).
#
# This installs the CPU jaxlib: on a GPU machine neural-tangents runs on the CPU (the jaxlib
# 0.4.25 CUDA wheels are not on PyPI) and bench_kernel.py reports the ratio as not comparable.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${NT_VENV:-$HERE/.venv-nt}"
PYTHON="${PYTHON:-python3}"

PINS=(
  "jax==0.4.25"
  "jaxlib==0.4.25"
  "numpy==1.26.4"
  "scipy==1.12.0"
  "ml_dtypes==0.3.2"
  "opt_einsum==3.3.0"
  "frozendict==2.4.4"
)
NT_PIN="neural-tangents==0.6.5"

check() {  # prints the venv's versions; fails if it cannot compute a tiny NTK
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" "$HERE/nt_reference.py" --check 2>/dev/null
}

if versions="$(check)"; then
  echo "setup_nt_venv: $VENV already works: $versions"
  exit 0
fi

echo "setup_nt_venv: creating $VENV with $("$PYTHON" --version 2>&1)"
"$PYTHON" -m venv --clear "$VENV"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${PIP[@]}" install --quiet "${PINS[@]}"
"${PIP[@]}" install --quiet --no-deps "$NT_PIN"

if ! versions="$(check)"; then
  echo "setup_nt_venv: the new venv fails its check:" >&2
  "$VENV/bin/python" "$HERE/nt_reference.py" --check >&2 || true
  exit 1
fi
echo "setup_nt_venv: ready: $versions"
