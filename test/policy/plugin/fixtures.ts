/**
 * Write-policy plugins for the tests, in several languages, written into a temporary folder
 * as executable scripts (outside this package, so node runs them as CommonJS, as an operator's
 * `/etc/parrhesia/whitelist.js` would be run).
 */
import { chmodSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const pluginDir = (): { readonly dir: string; readonly remove: () => void } => {
  const dir = mkdtempSync(join(tmpdir(), "parrhesia-plugin-"))
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) }
}

/**
 * Writes an executable script (atomically: a new file renamed over the old one, as an editor or
 * a deploy would) and moves its modification time `bump` seconds ahead, so a rewrite within the
 * same second is still a change.
 */
export const writeScript = (dir: string, name: string, text: string, bump = 0): string => {
  const path = join(dir, name)
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, text)
  chmodSync(tmp, 0o755)
  if (bump !== 0) {
    const t = Date.now() / 1000 + bump
    utimesSync(tmp, t, t)
  }
  renameSync(tmp, path)
  return path
}

/**
 * The rules every "rules" plugin follows, by the event's content:
 *   "please reject" -> reject "blocked: not today"
 *   "bare reject"   -> reject "not on my list" (no prefix)
 *   "pow reject"    -> reject "pow: more work please"
 *   "shadow"        -> shadowReject
 *   "source"        -> reject "blocked: <type> <sourceType> <sourceInfo> <typeof receivedAt> <kind>"
 *   "stderr"        -> a line on stderr, then accept
 *   anything else   -> accept
 */
export const RULES_NODE = `#!/usr/bin/env node
const rl = require("readline").createInterface({ input: process.stdin, terminal: false })
rl.on("line", (line) => {
  const req = JSON.parse(line)
  const e = req.event
  const answer = (o) => process.stdout.write(JSON.stringify(Object.assign({ id: e.id }, o)) + "\\n")
  switch (e.content) {
    case "please reject": return answer({ action: "reject", msg: "blocked: not today" })
    case "bare reject": return answer({ action: "reject", msg: "not on my list" })
    case "pow reject": return answer({ action: "reject", msg: "pow: more work please" })
    case "shadow": return answer({ action: "shadowReject" })
    case "source":
      return answer({ action: "reject", msg: ["blocked:", req.type, req.sourceType, req.sourceInfo, typeof req.receivedAt, e.kind].join(" ") })
    case "stderr":
      console.error("a note from the plugin")
      return answer({ action: "accept" })
    default: return answer({ action: "accept" })
  }
})
`

export const RULES_PYTHON = `#!/usr/bin/env python3
import json
import sys

while True:
    line = sys.stdin.readline()
    if not line:
        break
    req = json.loads(line)
    e = req["event"]
    c = e["content"]
    res = {"id": e["id"], "action": "accept"}
    if c == "please reject":
        res = {"id": e["id"], "action": "reject", "msg": "blocked: not today"}
    elif c == "bare reject":
        res = {"id": e["id"], "action": "reject", "msg": "not on my list"}
    elif c == "pow reject":
        res = {"id": e["id"], "action": "reject", "msg": "pow: more work please"}
    elif c == "shadow":
        res = {"id": e["id"], "action": "shadowReject"}
    elif c == "source":
        kind = "number" if isinstance(req["receivedAt"], int) else "other"
        msg = " ".join(["blocked:", req["type"], req["sourceType"], req["sourceInfo"], kind, str(e["kind"])])
        res = {"id": e["id"], "action": "reject", "msg": msg}
    elif c == "stderr":
        print("a note from the plugin", file=sys.stderr, flush=True)
    print(json.dumps(res), flush=True)
`

/** POSIX sh: accepts everything, exits with code 3 (without answering) on an event whose content is "crash". */
export const CRASH_SH = `#!/bin/sh
while IFS= read -r line; do
  case "$line" in
    *'"content":"crash"'*) exit 3 ;;
  esac
  id=$(printf '%s' "$line" | sed 's/^.*"event":{"id":"\\([0-9a-f]*\\)".*$/\\1/')
  printf '{"id":"%s","action":"accept"}\\n' "$id"
done
`

/** Reads every line and never answers. */
export const HANG_SH = `#!/bin/sh
while IFS= read -r line; do :; done
`

/** Accepts everything, or rejects everything with "blocked: version <n>": for the reload test. */
export const versioned = (n: number, action: "accept" | "reject") => `#!/usr/bin/env node
// version ${n}
require("readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const id = JSON.parse(line).event.id
  console.log(JSON.stringify(${action === "accept" ? `{ id, action: "accept" }` : `{ id, action: "reject", msg: "blocked: version ${n}" }`}))
})
`

/** Holds requests until it has `n`, then answers them last first (accepting all but content "no"). */
export const batchingReversed = (n: number) => `#!/usr/bin/env node
const held = []
require("readline").createInterface({ input: process.stdin }).on("line", (line) => {
  held.push(JSON.parse(line).event)
  if (held.length < ${n}) return
  for (const e of held.splice(0).reverse()) {
    console.log(JSON.stringify(e.content === "no" ? { id: e.id, action: "reject", msg: "blocked: no" } : { id: e.id, action: "accept" }))
  }
})
`

/**
 * A white-list plugin as strfry's documentation shows one (docs/plugins.md, "Example:
 * Whitelist"): node, CommonJS `require("readline")`, answers with console.log, complains about
 * other request types on stderr, rejects with "blocked: not on white-list". Written for this
 * test after that example's behaviour.
 */
export const whitelistNode = (allowed: string) => `#!/usr/bin/env node

const allowedAuthors = new Set([
    '${allowed}',
])

const lines = require('readline').createInterface({ input: process.stdin, output: process.stdout, terminal: false })

lines.on('line', (text) => {
    const req = JSON.parse(text)
    if (req.type !== 'new') {
        console.error('unexpected request type', req.type)
        return
    }
    const res = { id: req.event.id }
    if (allowedAuthors.has(req.event.pubkey)) {
        res.action = 'accept'
    } else {
        res.action = 'reject'
        res.msg = 'blocked: not on white-list'
    }
    console.log(JSON.stringify(res))
})
`

/** The same white-list in Perl with JSON::PP (core Perl), stdout unbuffered with `$| = 1`. */
export const whitelistPerl = (allowed: string) => `#!/usr/bin/env perl
use strict;
use warnings;
use JSON::PP;

$| = 1;
my $json = JSON::PP->new->utf8;
my %allowed = ('${allowed}' => 1);

while (my $line = <STDIN>) {
    my $req = $json->decode($line);
    my $res = { id => $req->{event}->{id} };
    if ($allowed{$req->{event}->{pubkey}}) {
        $res->{action} = 'accept';
    } else {
        $res->{action} = 'reject';
        $res->{msg} = 'blocked: not on white-list';
    }
    print $json->encode($res), "\\n";
}
`

/** Appends "<sourceType> <sourceInfo> <content>" per event to the file in $PLUGIN_LOG, and accepts. */
export const SOURCE_LOGGER_NODE = `#!/usr/bin/env node
const fs = require("fs")
require("readline").createInterface({ input: process.stdin }).on("line", (line) => {
  const req = JSON.parse(line)
  fs.appendFileSync(process.env.PLUGIN_LOG, [req.sourceType, req.sourceInfo, req.event.content].join(" ") + "\\n")
  console.log(JSON.stringify({ id: req.event.id, action: "accept" }))
})
`
