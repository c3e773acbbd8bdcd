/**
 * Applies the plain SQL files of `migrations/` in name order, each in its own
 * transaction, and records what ran in `parrhesia_migrations`. Re-running is a
 * no-op; concurrent starts are serialised by an advisory lock; a failing file
 * fails start-up with its name and the database's message.
 *
 * The wire protocol client prepares every statement, and a prepared statement
 * holds one command only, so files are split into statements here (aware of
 * quotes, dollar quotes and comments).
 */
import { readdirSync, readFileSync } from "node:fs"
import { fileURLToPath } from "node:url"
import { join } from "node:path"
import { Effect } from "effect"
import type { SqlClient } from "effect/sql/SqlClient"
import { StoreError } from "../EventStore.ts"

export const defaultMigrationsDir = fileURLToPath(new URL("../../../migrations/", import.meta.url))

export interface MigrationFile {
  readonly id: number
  readonly name: string
  readonly sql: string
}

/** `0001_events.sql` -> id 1. Files not matching `NNNN_name.sql` are ignored. */
export const loadMigrations = (dir: string = defaultMigrationsDir): ReadonlyArray<MigrationFile> =>
  readdirSync(dir)
    .filter((f) => /^\d+_[\w-]+\.sql$/.test(f))
    .sort()
    .map((name) => ({ id: Number(name.slice(0, name.indexOf("_"))), name, sql: readFileSync(join(dir, name), "utf8") }))

/** Splits SQL text into statements at top-level semicolons. */
export const splitStatements = (text: string): Array<string> => {
  const out: Array<string> = []
  let start = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text[i]!
    if (c === "-" && text[i + 1] === "-") {
      const end = text.indexOf("\n", i)
      i = end === -1 ? n : end + 1
    } else if (c === "/" && text[i + 1] === "*") {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (text[i] === "/" && text[i + 1] === "*") (depth++, (i += 2))
        else if (text[i] === "*" && text[i + 1] === "/") (depth--, (i += 2))
        else i++
      }
    } else if (c === "'" || c === '"') {
      i++
      while (i < n) {
        if (text[i] === c) {
          if (text[i + 1] === c) i += 2
          else break
        } else i++
      }
      i++
    } else if (c === "$") {
      const m = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 64))
      if (m !== null) {
        const tag = m[0]
        const end = text.indexOf(tag, i + tag.length)
        i = end === -1 ? n : end + tag.length
      } else i++
    } else if (c === ";") {
      const stmt = text.slice(start, i).trim()
      if (stripComments(stmt) !== "") out.push(stmt)
      start = ++i
    } else i++
  }
  const last = text.slice(start).trim()
  if (stripComments(last) !== "") out.push(last)
  return out
}

const stripComments = (s: string) => s.replace(/--[^\n]*/g, "").replace(/\/\*[\s\S]*?\*\//g, "").trim()

const errorText = (e: unknown): string => {
  const any = e as { message?: unknown; cause?: { message?: unknown; fields?: { message?: unknown } } }
  const reason = (e as { reason?: { message?: unknown; cause?: { message?: unknown } } }).reason
  const parts = [reason?.cause?.message, reason?.message, any.cause?.message, any.message].filter(
    (x): x is string => typeof x === "string" && x !== ""
  )
  return parts[0] ?? String(e)
}

/** Applies pending migrations; returns the names applied by this call. */
export const runMigrations = (sql: SqlClient, files: ReadonlyArray<MigrationFile> = loadMigrations()) =>
  Effect.gen(function* () {
    yield* sql
      .withTransaction(
        Effect.andThen(
          sql.unsafe(`SELECT pg_advisory_xact_lock(7335001)`),
          sql.unsafe(
            `CREATE TABLE IF NOT EXISTS parrhesia_migrations (
               id integer PRIMARY KEY,
               name text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now()
             )`
          )
        )
      )
      .pipe(Effect.mapError((e) => new StoreError({ message: `cannot prepare migrations: ${errorText(e)}`, cause: e })))
    const applied: Array<string> = []
    for (const file of files) {
      const ran = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            // One migrator at a time, whichever process it runs in.
            yield* sql.unsafe(`SELECT pg_advisory_xact_lock(7335001)`)
            const done = yield* sql.unsafe<{ id: number }>(`SELECT id FROM parrhesia_migrations WHERE id = $1`, [file.id])
            if (done.length > 0) return false
            for (const stmt of splitStatements(file.sql)) yield* sql.unsafe(stmt)
            yield* sql.unsafe(`INSERT INTO parrhesia_migrations (id, name) VALUES ($1, $2)`, [file.id, file.name])
            return true
          })
        )
        .pipe(
          Effect.mapError(
            (e) => new StoreError({ message: `migration ${file.name} failed: ${errorText(e)}`, cause: e })
          )
        )
      if (ran) applied.push(file.name)
    }
    return applied
  })
