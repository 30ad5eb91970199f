#!/usr/bin/env bash
# Puts MathJax 3 (its es5 build: tex-chtml.js and the CHTML fonts) into the folder given as $1,
# from the npm registry, so that the book renders math without reaching a CDN.
set -euo pipefail
dest=${1:?usage: fetch-mathjax.sh DEST}
version=3.2.2
if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed to fetch MathJax $version (install Node.js, e.g. apt-get install npm)" >&2
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "mathjax@$version" >/dev/null && tar -xzf "mathjax-$version.tgz")
[ -f "$tmp/package/es5/tex-chtml.js" ] || { echo "error: MathJax package lacks es5/tex-chtml.js" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial" && cp -r "$tmp/package/es5" "$dest.partial"
rm -rf "$dest" && mv "$dest.partial" "$dest"
echo "MathJax $version installed in $dest"
