#!/usr/bin/env sh
# Runs a command with Node >= 22.19 on PATH and the project's packages installed.
set -e
cd "$(dirname -- "$0")/.."
. ./scripts/node-env.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "parrhesia: installing packages (npm ci)" >&2
  npm ci --no-audit --no-fund >&2
fi
exec "$@"
