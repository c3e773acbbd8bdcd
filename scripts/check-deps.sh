#!/usr/bin/env sh
# The import rules of src/ (.dependency-cruiser.cjs): no import circle, src/nostr pure, stores
# without sockets, adapters only from the wiring, no import from a lower layer into a higher one.
# Prints each offending import (rule: from → to) and exits 1 when a rule is broken.
# Run by scripts/test.sh; alone: npm run deps:check
set -e
cd "$(dirname -- "$0")/.."
status=0
out=$(npx depcruise src --config .dependency-cruiser.cjs --output-type err 2>&1) || status=$?
printf '%s\n' "$out"
# depcruise exits with the number of errors, which a multiple of 256 would turn into 0: the
# success line decides too.
case "$out" in
  *"no dependency violations found"*) [ "$status" -eq 0 ] && exit 0 ;;
esac
exit 1
