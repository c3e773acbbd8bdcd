/**
 * The ModerationStore on PostgreSQL (tables of migrations/0003): list entries
 * keyed by (list, value), and relay-information overrides. Runs on the admin
 * pool of the Postgres event store.
 */
import { randomBytes } from "node:crypto"
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
import { describeError } from "./errors.ts"
import { PostgresStore } from "./PostgresEventStore.ts"
import { listenForever } from "./PgListener.ts"

const failed = (what: string) => (e: unknown) => new StoreError({ message: `${what}: ${describeError(e)}`, cause: e })

/** Channel on which a process tells the others that it changed the moderation tables. */
export const MODERATION_CHANNEL = "parrhesia_moderation"

/**
 * `origin` names this process: each change is followed, in its transaction, by a notification
 * carrying it, so the other processes reload and this one ignores its own.
 */
export const makePostgresModerationStore = (sql: PgClient, origin: string = randomBytes(8).toString("hex")) => {
  /** The write and its notification commit together: nobody reloads before the change is visible. */
  const announced = <A, E, R>(write: Effect.Effect<A, E, R>) =>
    sql.withTransaction(Effect.tap(write, () => sql.unsafe(`SELECT pg_notify($1, $2)`, [MODERATION_CHANNEL, origin])))
  let reload: () => void = () => {}
  const shape: ModerationStoreShape = {
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
      announced(
        sql.unsafe(
          "INSERT INTO moderation_entries (list, value, reason) VALUES ($1, $2, $3) ON CONFLICT (list, value) DO UPDATE SET reason = EXCLUDED.reason",
          [list, value, reason]
        )
      ).pipe(Effect.asVoid, Effect.mapError(failed("cannot store the moderation change"))),
    remove: (list, value) =>
      announced(sql.unsafe<{ value: string }>("DELETE FROM moderation_entries WHERE list = $1 AND value = $2 RETURNING value", [list, value])).pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(failed("cannot store the moderation change"))
      ),
    setRelayInfo: (field: RelayInfoField, value) =>
      announced(
        sql.unsafe(
          "INSERT INTO relay_info_overrides (field, value) VALUES ($1, $2) ON CONFLICT (field) DO UPDATE SET value = EXCLUDED.value",
          [field, value]
        )
      ).pipe(Effect.asVoid, Effect.mapError(failed("cannot store the relay information"))),
    onRemoteChange: (f) => {
      reload = f
      // Whatever changed between the caller's first load and now.
      f()
    }
  }
  /** Follows the other processes' changes. */
  const listen = listenForever(sql, MODERATION_CHANNEL, "moderation", {}, () => {
    // Changes made while this process was not listening (start-up, an outage) are caught by reloading once now.
    reload()
    return (payload) =>
      Effect.sync(() => {
        if (payload !== origin) reload()
      })
  })
  return { shape, listen }
}

/** The moderation store on the admin pool of the Postgres event store, following other processes' changes. */
export const layerPostgresModeration: Layer.Layer<ModerationStore, never, PostgresStore> = Layer.effect(
  ModerationStore,
  Effect.gen(function* () {
    const pg = yield* PostgresStore
    const { shape, listen } = makePostgresModerationStore(pg.admin)
    yield* Effect.orDie(listen)
    return shape
  })
)
