/**
 * The StreamStore on PostgreSQL (migrations/0008_streams.sql), on the admin
 * pool of the Postgres event store. Positions only move forward, in SQL, so
 * two writers (a restarted worker and its predecessor) cannot move one back.
 */
import type { PgClient } from "@effect/sql-pg/PgClient"
import { Effect, Layer } from "effect"
import { StoreError } from "../EventStore.ts"
import { StreamStore, type StoredStream, type StreamDirection, type StreamStoreShape } from "../StreamStore.ts"
import { describeError } from "./errors.ts"
import { PostgresStore } from "./PostgresEventStore.ts"

const failed = (what: string) => (e: unknown) => new StoreError({ message: `${what}: ${describeError(e)}`, cause: e })

interface Row {
  readonly url: string
  readonly runtime: boolean
  readonly direction: string
  readonly filter: string
  readonly auth_key: string
  readonly paused: boolean
  readonly down_at: bigint | number | null
  readonly down_id: string | null
  readonly up_at: bigint | number | null
  readonly up_id: string | null
}

const position = (at: bigint | number | null, id: string | null) => (at === null ? undefined : { createdAt: Number(at), id: id ?? "" })

export const makePostgresStreamStore = (sql: PgClient): StreamStoreShape => ({
  load: sql
    .unsafe<Row>("SELECT url, runtime, direction, filter, auth_key, paused, down_at, down_id, up_at, up_id FROM streams ORDER BY url")
    .pipe(
      Effect.map((rows) =>
        rows.map(
          (r): StoredStream => ({
            url: r.url,
            runtime: r.runtime,
            direction: r.direction as StreamDirection,
            filter: r.filter,
            authKey: r.auth_key,
            paused: r.paused,
            down: position(r.down_at, r.down_id),
            up: position(r.up_at, r.up_id)
          })
        )
      ),
      Effect.mapError(failed("cannot load the streams"))
    ),
  add: (spec) =>
    sql
      .unsafe(
        `INSERT INTO streams (url, runtime, direction, filter, auth_key) VALUES ($1, true, $2, $3, $4)
         ON CONFLICT (url) DO UPDATE SET runtime = true, direction = EXCLUDED.direction, filter = EXCLUDED.filter, auth_key = EXCLUDED.auth_key`,
        [spec.url, spec.direction, spec.filter, spec.authKey]
      )
      .pipe(Effect.asVoid, Effect.mapError(failed("cannot store the stream"))),
  remove: (url) =>
    sql.unsafe<{ url: string }>("DELETE FROM streams WHERE url = $1 AND runtime RETURNING url", [url]).pipe(
      Effect.map((rows) => rows.length > 0),
      Effect.mapError(failed("cannot remove the stream"))
    ),
  setPaused: (url, paused) =>
    sql
      .unsafe("INSERT INTO streams (url, paused) VALUES ($1, $2) ON CONFLICT (url) DO UPDATE SET paused = EXCLUDED.paused", [url, paused])
      .pipe(Effect.asVoid, Effect.mapError(failed("cannot store the stream's pause"))),
  advance: (url, direction, p) =>
    sql
      .unsafe(
        direction === "down"
          ? `INSERT INTO streams (url, down_at, down_id) VALUES ($1, $2, $3) ON CONFLICT (url) DO UPDATE
             SET down_at = EXCLUDED.down_at, down_id = EXCLUDED.down_id WHERE streams.down_at IS NULL OR streams.down_at < EXCLUDED.down_at`
          : `INSERT INTO streams (url, up_at, up_id) VALUES ($1, $2, $3) ON CONFLICT (url) DO UPDATE
             SET up_at = EXCLUDED.up_at, up_id = EXCLUDED.up_id WHERE streams.up_at IS NULL OR streams.up_at < EXCLUDED.up_at`,
        [url, p.createdAt, p.id]
      )
      .pipe(Effect.asVoid, Effect.mapError(failed("cannot store the stream's position"))),
  claim: (url, owner, now, until) =>
    sql
      .unsafe<{ url: string }>(
        `INSERT INTO streams (url, owner, lease_until) VALUES ($1, $2, $4) ON CONFLICT (url) DO UPDATE
         SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
         WHERE streams.owner IS NULL OR streams.owner = EXCLUDED.owner OR streams.lease_until IS NULL OR streams.lease_until < $3
         RETURNING url`,
        [url, owner, now, until]
      )
      .pipe(
        Effect.map((rows) => rows.length > 0),
        Effect.mapError(failed("cannot claim the stream"))
      ),
  release: (url, owner) =>
    sql
      .unsafe("UPDATE streams SET owner = NULL, lease_until = NULL WHERE url = $1 AND owner = $2", [url, owner])
      .pipe(Effect.asVoid, Effect.mapError(failed("cannot release the stream"))),
  rewind: (url, direction, p) =>
    sql
      .unsafe(
        direction === "down"
          ? "UPDATE streams SET down_at = $2, down_id = $3 WHERE url = $1 AND down_at > $2"
          : "UPDATE streams SET up_at = $2, up_id = $3 WHERE url = $1 AND up_at > $2",
        [url, p.createdAt, p.id]
      )
      .pipe(Effect.asVoid, Effect.mapError(failed("cannot store the stream's position")))
})

export const layerPostgresStreams: Layer.Layer<StreamStore, never, PostgresStore> = Layer.effect(
  StreamStore,
  Effect.gen(function* () {
    const pg = yield* PostgresStore
    return makePostgresStreamStore(pg.admin)
  })
)
