/**
 * vitest globalSetup: one throwaway embedded PostgreSQL for the whole run, in
 * a fresh folder under the OS temp dir, removed at the end. With
 * TEST_DATABASE_URL set, that server is used instead (each test file still
 * creates and drops its own database there). Test files read the URL with
 * `inject("pgUrl")` — use test/support/postgres.ts.
 */
import { mkdirSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { randomBytes } from "node:crypto"
import type { TestProject } from "vitest/node"
import { startEmbedded, type EmbeddedServer } from "../../src/storage/postgres/EmbeddedPostgres.ts"

declare module "vitest" {
  export interface ProvidedContext {
    pgUrl: string
  }
}

export default async function setup(project: TestProject) {
  const external = process.env.TEST_DATABASE_URL
  if (external !== undefined && external !== "") {
    project.provide("pgUrl", external)
    return
  }
  const dir = join(tmpdir(), `parrhesia-test-pg-${process.pid}-${randomBytes(4).toString("hex")}`)
  mkdirSync(dir, { recursive: true })
  let server: EmbeddedServer | undefined
  try {
    // Relays keep their ingest and read pools open (12 connections each by default) and test files run in parallel.
    server = await startEmbedded({ dataDir: dir, port: 0, database: "postgres", warn: () => {}, maxConnections: 600 })
  } catch (e) {
    rmSync(dir, { recursive: true, force: true })
    throw e
  }
  project.provide("pgUrl", server.url)
  return async () => {
    await server?.stop().catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  }
}
