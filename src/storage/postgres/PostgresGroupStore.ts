/**
 * The GroupStore on PostgreSQL (tables of migrations/0007): groups, members
 * and invites per scope (a group id, or '' for NIP-43 relay membership), and
 * NIP-43 role definitions. Runs on the admin pool of the Postgres event store.
 *
 * Every change notifies `parrhesia_groups` in its own transaction with the
 * scopes it touched, so the other processes reload just those (and this one,
 * which named itself as the origin, ignores its own). Claims and creations
 * are single statements, so an invite is claimed once and a group id created
 * once across processes.
 */
import { randomBytes } from "node:crypto"
import type { PgClient } from "@effect/sql-pg/PgClient"
import { Effect, Layer } from "effect"
import { StoreError } from "../EventStore.ts"
import {
  GroupStore,
  type GroupRecord,
  type GroupStoreShape,
  type InviteRecord,
  type MemberRecord,
  type RoleRecord,
  type ScopeData
} from "../GroupStore.ts"
import { describeError } from "./errors.ts"
import { PostgresStore } from "./PostgresEventStore.ts"
import { listenForever } from "./PgListener.ts"
import { textArray } from "./sql.ts"

const failed = (what: string) => (e: unknown) => new StoreError({ message: `${what}: ${describeError(e)}`, cause: e })

/** Channel on which a process tells the others which scopes it changed. */
export const GROUPS_CHANNEL = "parrhesia_groups"
/** Notification payloads stay well under PostgreSQL's 8,000 bytes: past this, "reload everything". */
const MAX_PAYLOAD = 4000

interface GroupRow {
  id: string
  name: string
  picture: string
  about: string
  banner: string
  private: boolean
  restricted: boolean
  hidden: boolean
  closed: boolean
  supported_kinds: string
  parent: string | null
  children: string
  pins: string
  created_at: bigint | number | string
}
interface MemberRow {
  scope: string
  pubkey: string
  roles: string
}
interface RoleRow {
  scope: string
  id: string
  label: string
  description: string
  color: string
  ord: string
}

const GROUP_COLUMNS =
  "id, name, picture, about, banner, private, restricted, hidden, closed, to_json(supported_kinds)::text AS supported_kinds, parent, to_json(children)::text AS children, pins, created_at"

const groupOf = (r: GroupRow): GroupRecord => ({
  id: r.id,
  name: r.name,
  picture: r.picture,
  about: r.about,
  banner: r.banner,
  private: r.private,
  restricted: r.restricted,
  hidden: r.hidden,
  closed: r.closed,
  supportedKinds: JSON.parse(r.supported_kinds) as ReadonlyArray<string> | null,
  parent: r.parent,
  children: JSON.parse(r.children) as ReadonlyArray<string>,
  pins: JSON.parse(r.pins) as ReadonlyArray<readonly [string, string]>,
  createdAt: Number(r.created_at)
})
const memberOf = (r: MemberRow): MemberRecord => ({ scope: r.scope, pubkey: r.pubkey, roles: JSON.parse(r.roles) as ReadonlyArray<string> })
const roleOf = (r: RoleRow): RoleRecord => ({ scope: r.scope, id: r.id, label: r.label, description: r.description, color: r.color, order: r.ord })

const INSERT_GROUP = `INSERT INTO nip29_groups (id, name, picture, about, banner, private, restricted, hidden, closed, supported_kinds, parent, children, pins, created_at)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text[], $11, $12::text[], $13, $14)`
const UPSERT_GROUP = `${INSERT_GROUP}
  ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, picture = EXCLUDED.picture, about = EXCLUDED.about, banner = EXCLUDED.banner,
    private = EXCLUDED.private, restricted = EXCLUDED.restricted, hidden = EXCLUDED.hidden, closed = EXCLUDED.closed,
    supported_kinds = EXCLUDED.supported_kinds, parent = EXCLUDED.parent, children = EXCLUDED.children, pins = EXCLUDED.pins`

const groupParams = (g: GroupRecord) => [
  g.id,
  g.name,
  g.picture,
  g.about,
  g.banner,
  g.private,
  g.restricted,
  g.hidden,
  g.closed,
  g.supportedKinds === null ? null : textArray(g.supportedKinds),
  g.parent,
  textArray(g.children),
  JSON.stringify(g.pins),
  g.createdAt
]

/**
 * `origin` names this process: each change is followed, in its transaction, by a notification carrying
 * it and the scopes touched, so the other processes reload those and this one ignores its own.
 */
export const makePostgresGroupStore = (sql: PgClient, origin: string = randomBytes(8).toString("hex")) => {
  const announced = <A, E, R>(scopes: ReadonlyArray<string>, write: Effect.Effect<A, E, R>) => {
    let payload = JSON.stringify({ o: origin, s: scopes })
    if (payload.length > MAX_PAYLOAD) payload = JSON.stringify({ o: origin, s: null })
    return sql.withTransaction(Effect.tap(write, () => sql.unsafe(`SELECT pg_notify($1, $2)`, [GROUPS_CHANNEL, payload])))
  }
  const store = (what: string) => Effect.mapError(failed(`cannot store the ${what}`))
  let reload: (scope: string | undefined) => void = () => {}

  const loadScope = (scope: string) =>
    Effect.gen(function* () {
      const groups = yield* sql.unsafe<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM nip29_groups WHERE id = $1`, [scope])
      const members = yield* sql.unsafe<MemberRow>("SELECT scope, pubkey, to_json(roles)::text AS roles FROM group_members WHERE scope = $1", [scope])
      const roles = yield* sql.unsafe<RoleRow>("SELECT scope, id, label, description, color, ord FROM group_roles WHERE scope = $1", [scope])
      return { group: groups[0] && groupOf(groups[0]), members: members.map(memberOf), roles: roles.map(roleOf) } satisfies ScopeData
    }).pipe(Effect.mapError(failed("cannot load the group")))

  const shape: GroupStoreShape = {
    load: Effect.gen(function* () {
      const groups = yield* sql.unsafe<GroupRow>(`SELECT ${GROUP_COLUMNS} FROM nip29_groups ORDER BY id`)
      const members = yield* sql.unsafe<MemberRow>("SELECT scope, pubkey, to_json(roles)::text AS roles FROM group_members ORDER BY scope, added_at, pubkey")
      const roles = yield* sql.unsafe<RoleRow>("SELECT scope, id, label, description, color, ord FROM group_roles ORDER BY scope, id")
      return { groups: groups.map(groupOf), members: members.map(memberOf), roles: roles.map(roleOf) }
    }).pipe(Effect.mapError(failed("cannot load the groups"))),
    loadScope,
    createGroup: (g, creator) =>
      announced(
        [g.id],
        Effect.gen(function* () {
          const made = yield* sql.unsafe<{ id: string }>(`${INSERT_GROUP} ON CONFLICT (id) DO NOTHING RETURNING id`, groupParams(g))
          if (made.length === 0) return false
          yield* sql.unsafe("INSERT INTO group_members (scope, pubkey, roles) VALUES ($1, $2, $3::text[]) ON CONFLICT (scope, pubkey) DO UPDATE SET roles = EXCLUDED.roles", [
            creator.scope,
            creator.pubkey,
            textArray(creator.roles)
          ])
          return true
        })
      ).pipe(store("new group")),
    saveGroups: (groups) =>
      groups.length === 0
        ? Effect.void
        : announced(
            groups.map((g) => g.id),
            Effect.forEach(groups, (g) => sql.unsafe(UPSERT_GROUP, groupParams(g)), { discard: true })
          ).pipe(store("group")),
    deleteGroup: (id, updated) =>
      announced(
        [id, ...updated.map((g) => g.id)],
        Effect.gen(function* () {
          const gone = yield* sql.unsafe<{ id: string }>("DELETE FROM nip29_groups WHERE id = $1 RETURNING id", [id])
          if (gone.length === 0) return false
          yield* sql.unsafe("DELETE FROM group_members WHERE scope = $1", [id])
          yield* sql.unsafe("DELETE FROM group_invites WHERE scope = $1", [id])
          yield* sql.unsafe("DELETE FROM group_roles WHERE scope = $1", [id])
          for (const g of updated) yield* sql.unsafe(UPSERT_GROUP, groupParams(g))
          return true
        })
      ).pipe(store("group deletion")),
    putMember: (m) =>
      announced(
        [m.scope],
        sql.unsafe<{ added: boolean }>(
          `INSERT INTO group_members (scope, pubkey, roles) VALUES ($1, $2, $3::text[])
           ON CONFLICT (scope, pubkey) DO UPDATE SET roles = EXCLUDED.roles RETURNING (xmax = 0) AS added`,
          [m.scope, m.pubkey, textArray(m.roles)]
        )
      ).pipe(
        Effect.map((rows) => rows[0]?.added === true),
        store("membership")
      ),
    removeMember: (scope, pubkey) =>
      announced([scope], sql.unsafe<{ pubkey: string }>("DELETE FROM group_members WHERE scope = $1 AND pubkey = $2 RETURNING pubkey", [scope, pubkey])).pipe(
        Effect.map((rows) => rows.length > 0),
        store("membership")
      ),
    addInvite: (i) =>
      sql
        .unsafe(
          `INSERT INTO group_invites (scope, code, expires_at, single_use) VALUES ($1, $2, $3, $4)
           ON CONFLICT (scope, code) DO UPDATE SET expires_at = EXCLUDED.expires_at, single_use = EXCLUDED.single_use`,
          [i.scope, i.code, i.expiresAt, i.singleUse]
        )
        .pipe(Effect.asVoid, store("invite")),
    claimInvite: (scope, code) =>
      sql
        .withTransaction(
          Effect.gen(function* () {
            // A single-use invite is deleted by the statement that reads it: claimed once across processes.
            const taken = yield* sql.unsafe<{ expires_at: bigint | number; single_use: boolean }>(
              "DELETE FROM group_invites WHERE scope = $1 AND code = $2 AND single_use RETURNING expires_at, single_use",
              [scope, code]
            )
            const rows =
              taken.length > 0
                ? taken
                : yield* sql.unsafe<{ expires_at: bigint | number; single_use: boolean }>(
                    "SELECT expires_at, single_use FROM group_invites WHERE scope = $1 AND code = $2",
                    [scope, code]
                  )
            const r = rows[0]
            return r === undefined ? undefined : ({ scope, code, expiresAt: Number(r.expires_at), singleUse: r.single_use } satisfies InviteRecord)
          })
        )
        .pipe(store("invite claim")),
    putRole: (r) =>
      announced(
        [r.scope],
        sql.unsafe(
          `INSERT INTO group_roles (scope, id, label, description, color, ord) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (scope, id) DO UPDATE SET label = EXCLUDED.label, description = EXCLUDED.description, color = EXCLUDED.color, ord = EXCLUDED.ord`,
          [r.scope, r.id, r.label, r.description, r.color, r.order]
        )
      ).pipe(Effect.asVoid, store("role")),
    removeRole: (scope, id) =>
      announced(
        [scope],
        Effect.gen(function* () {
          const gone = yield* sql.unsafe<{ id: string }>("DELETE FROM group_roles WHERE scope = $1 AND id = $2 RETURNING id", [scope, id])
          if (gone.length === 0) return false
          yield* sql.unsafe("UPDATE group_members SET roles = array_remove(roles, $2) WHERE scope = $1 AND $2 = ANY(roles)", [scope, id])
          return true
        })
      ).pipe(store("role")),
    onRemoteChange: (f) => {
      reload = f
      // Whatever changed between the caller's first load and now.
      f(undefined)
    }
  }

  /** Follows the other processes' changes. */
  const listen = listenForever(sql, GROUPS_CHANNEL, "groups", {}, () => {
    // Changes made while this process was not listening (start-up, an outage): reload everything once.
    reload(undefined)
    return (payload) =>
      Effect.sync(() => {
        let msg: { o?: unknown; s?: unknown }
        try {
          msg = JSON.parse(payload) as { o?: unknown; s?: unknown }
        } catch {
          return reload(undefined)
        }
        if (msg.o === origin) return
        if (!Array.isArray(msg.s)) return reload(undefined)
        for (const s of new Set(msg.s)) if (typeof s === "string") reload(s)
      })
  })
  return { shape, listen }
}

/** The group store on the admin pool of the Postgres event store, following other processes' changes. */
export const layerPostgresGroups: Layer.Layer<GroupStore, never, PostgresStore> = Layer.effect(
  GroupStore,
  Effect.gen(function* () {
    const pg = yield* PostgresStore
    const { shape, listen } = makePostgresGroupStore(pg.admin)
    yield* Effect.orDie(listen)
    return shape
  })
)
