/**
 * The ModerationStore on PostgreSQL (tables of migrations/0003): list entries
 * keyed by (list, value), and relay-information overrides. Runs on the admin
 * pool of the Postgres event store.
 */
import type { PgClient } from "@effect/sql-pg/PgClient"
import { Effect, Layer } from "effect"
import { StoreError } from "../EventStore.ts"
import {
  MODERATION_LISTS,
  ModerationStore,
  type ModerationData,
  type ModerationEntry,
  type ModerationList,
  type ModerationStoreShape,
  type RelayInfoField
} from "../ModerationStore.ts"
import { describeError, PostgresStore } from "./PostgresEventStore.ts"

const failed = (what: string) => (e: unknown) => new StoreError({ message: `${what}: ${describeError(e)}`, cause: e })

export const makePostgresModerationStore = (sql: PgClient): ModerationStoreShape => ({
  load: Effect.gen(function* () {
    const rows = yield* sql.unsafe<{ list: string; value: string; reason: string }>(
      "SELECT list, value, reason FROM moderation_entries ORDER BY list, value"
    )
    const info = yield* sql.unsafe<{ field: string; value: string }>("SELECT field, value FROM relay_info_overrides")
    const lists = Object.fromEntries(MODERATION_LISTS.map((l) => [l, [] as Array<ModerationEntry>])) as Record<
      ModerationList,
      Array<ModerationEntry>
    >
    for (const r of rows) lists[r.list as ModerationList]?.push({ value: r.value, reason: r.reason })
    return { lists, relayInfo: Object.fromEntries(info.map((r) => [r.field, r.value])) } satisfies ModerationData
  }).pipe(Effect.mapError(failed("cannot load moderation lists"))),
  add: (list, value, reason) =>
    sql
      .unsafe(
        "INSERT INTO moderation_entries (list, value, reason) VALUES ($1, $2, $3) ON CONFLICT (list, value) DO UPDATE SET reason = EXCLUDED.reason",
        [list, value, reason]
      )
      .pipe(Effect.asVoid, Effect.mapError(failed("cannot store the moderation change"))),
  remove: (list, value) =>
    sql
      .unsafe<{ value: string }>("DELETE FROM moderation_entries WHERE list = $1 AND value = $2 RETURNING value", [list, value])
      .pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(failed("cannot store the moderation change"))
      ),
  setRelayInfo: (field: RelayInfoField, value) =>
    sql
      .unsafe(
        "INSERT INTO relay_info_overrides (field, value) VALUES ($1, $2) ON CONFLICT (field) DO UPDATE SET value = EXCLUDED.value",
        [field, value]
      )
      .pipe(Effect.asVoid, Effect.mapError(failed("cannot store the relay information")))
})

/** The moderation store on the admin pool of the Postgres event store. */
export const layerPostgresModeration: Layer.Layer<ModerationStore, never, PostgresStore> = Layer.effect(
  ModerationStore,
  Effect.map(PostgresStore, (pg) => makePostgresModerationStore(pg.admin))
)
