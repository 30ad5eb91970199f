#!/usr/bin/env bash
# Installs the Debian packages the book and its tests use, when running as root and they are
# missing: dataset-fashion-mnist (the data) and chromium (the rendered-book test).
# Without root it only says what is missing and how to get it.
set -euo pipefail
need=()
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "Installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    echo "Note: missing Debian packages: ${need[*]}." >&2
    echo "  Install them with: sudo apt-get install ${need[*]}" >&2
    echo "  (Fashion-MNIST can also be downloaded into ~/.cache/ntkbook when online.)" >&2
fi
