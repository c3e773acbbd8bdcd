#!/usr/bin/env sh
# Draws the module map of src/ (one box per folder, the store adapters apart) into
# docs/architecture.svg, the picture in the README's Architecture section. Rerun after moving
# or adding imports between folders: npm run deps:graph
set -e
cd "$(dirname -- "$0")/.."
if ! command -v dot >/dev/null 2>&1; then
  echo "deps-graph: Graphviz's 'dot' is not installed (apt-get install -y graphviz; brew install graphviz; nix shell nixpkgs#graphviz)" >&2
  exit 1
fi
out=docs/architecture.svg
npx depcruise src --config .dependency-cruiser.cjs --include-only '^src/' \
  --collapse '^src/(storage/(memory|postgres)|[^/]+)(/|$)' --output-type dot > "$out.dot"
dot -T svg "$out.dot" > "$out.tmp"
rm -f "$out.dot"
mv "$out.tmp" "$out"
echo "wrote $out"
