/**
 * Postgres for tests: each test FILE gets its own database on the server of
 * the global setup (dropped after the file), and `postgresStoreLayer` builds a
 * store on it with EMPTY tables (truncated at every build).
 *
 *   const db = usePostgresDatabase()
 *   eventStoreContract("postgres", () => postgresStoreLayer(db))
 */
import { randomBytes } from "node:crypto"
import { afterAll, beforeAll, inject } from "vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Reactivity from "effect/reactivity/Reactivity"
import { defaults } from "../../src/config/RelayConfig.ts"
import type { Settings } from "../../src/config/settings.ts"
import { EventStore, type StoreError } from "../../src/storage/EventStore.ts"
import { makeFromSettings } from "../../src/storage/postgres/layer.ts"
import { PostgresStore } from "../../src/storage/postgres/PostgresEventStore.ts"

export interface TestDatabase {
  /** URL of this file's database (valid once beforeAll ran). */
  readonly url: () => string
}

/** Runs `f` with a one-connection client on `url`. */
export const withClient = <A>(url: string, f: (sql: PgClient.PgClient) => Effect.Effect<A, unknown>): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(PgClient.makeClient({ url: Redacted.make(url) }).pipe(Effect.provide(Reactivity.layer)), f)
    ) as Effect.Effect<A>
  )

const withDatabase = (url: string, database: string) => {
  const u = new URL(url)
  u.pathname = `/${database}`
  return u.toString()
}

/** Creates a fresh database for this test file (beforeAll) and drops it afterwards (afterAll). */
export const usePostgresDatabase = (): TestDatabase => {
  const server = inject("pgUrl")
  const name = `parrhesia_test_${randomBytes(6).toString("hex")}`
  let url: string | undefined
  beforeAll(async () => {
    await withClient(server, (sql) => sql.unsafe(`CREATE DATABASE "${name}"`))
    url = withDatabase(server, name)
  })
  afterAll(async () => {
    await withClient(server, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
  })
  return {
    url: () => {
      if (url === undefined) throw new Error("usePostgresDatabase: the database is created in beforeAll")
      return url
    }
  }
}

export const TABLES =
  "events, event_tags, event_ids, deleted_events, replaceable_heads, deleted_addresses, moderation_entries, relay_info_overrides, vanished_pubkeys, nip29_groups, group_members, group_invites, group_roles, streams"

/** A Postgres store on the file's database, with empty tables; also provides the PostgresStore internals. */
export const postgresStoreLayer = (
  db: TestDatabase,
  overrides: Partial<Settings> = {}
): Layer.Layer<EventStore | PostgresStore, StoreError> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const settings: Settings = { ...defaults(), ...overrides, databaseUrl: db.url() }
      const { store, internals } = yield* makeFromSettings(settings)
      yield* Effect.orDie(internals.admin.unsafe(`TRUNCATE ${TABLES}`))
      return Context.make(EventStore, store).pipe(Context.add(PostgresStore, internals))
    })
  )
