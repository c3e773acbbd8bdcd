/**
 * NIP-29 as pure functions: the kinds, the roles this relay supports and what
 * each may do, reading the `h`, `previous` and metadata tags of an event, the
 * subgroup rules (parent exists, no cycle, every child listed), and the
 * relay-generated events (39000-39003, 39005) of a group's state. No state,
 * no effects: Groups.ts applies them.
 */
import type { NostrEvent } from "../nostr/index.ts"
import { GROUP_ID, type GroupRecord, type MemberRecord } from "../storage/GroupStore.ts"

export const PUT_USER = 9000
export const REMOVE_USER = 9001
export const EDIT_METADATA = 9002
export const DELETE_EVENT = 9005
export const CREATE_GROUP = 9007
export const DELETE_GROUP = 9008
export const CREATE_INVITE = 9009
export const UPDATE_PINS = 9010
export const JOIN_REQUEST = 9021
export const LEAVE_REQUEST = 9022
export const GROUP_METADATA = 39000
export const GROUP_ADMINS = 39001
export const GROUP_MEMBERS = 39002
export const GROUP_ROLES = 39003
/** Live audio/video participants: not supported here (no LiveKit), never published. */
export const GROUP_LIVEKIT = 39004
export const GROUP_PINS = 39005
/** NIP-EE MLS group messages: their `h` tag names an MLS group, not a NIP-29 one. */
export const MLS_GROUP_MESSAGE = 445

/** The addressable kinds only the relay signs (29.md: "MUST be created by the relay master key only"). */
export const RELAY_GROUP_KINDS: ReadonlyArray<number> = [GROUP_METADATA, GROUP_ADMINS, GROUP_MEMBERS, GROUP_ROLES, GROUP_LIVEKIT, GROUP_PINS]
/** The relay-generated kinds this relay publishes for each group. */
export const PUBLISHED_KINDS: ReadonlyArray<number> = [GROUP_METADATA, GROUP_ADMINS, GROUP_MEMBERS, GROUP_ROLES, GROUP_PINS]
/** Kinds whose events hold an invite code: served only to their author (the read policy treats them as private kinds). */
export const SECRET_KINDS: ReadonlyArray<number> = [CREATE_INVITE, JOIN_REQUEST]
/** Most pins a group keeps ("the relay may choose to limit the number of pins"). */
export const MAX_PINS = 100

export const isModerationKind = (k: number) => k >= 9000 && k <= 9020
export const isGroupManagementKind = (k: number) => k >= 9000 && k <= 9022

// ---------------------------------------------------------------- roles

export type Permission = "put-user" | "remove-user" | "edit-metadata" | "delete-event" | "delete-group" | "create-invite" | "update-pin-list"
export const ALL_PERMISSIONS: ReadonlyArray<Permission> = [
  "put-user",
  "remove-user",
  "edit-metadata",
  "delete-event",
  "delete-group",
  "create-invite",
  "update-pin-list"
]

export interface Role {
  readonly name: string
  readonly description: string
  readonly permissions: ReadonlyArray<Permission>
}

/**
 * The roles with privileges (39003). Other role names are accepted on `put-user` and kept, but
 * grant nothing (29.md: the relay "may also accept other role names ... and just not do anything").
 */
export const ROLES: ReadonlyArray<Role> = [
  { name: "admin", description: "every permission: put and remove users and their roles, edit the metadata, delete events, delete the group, create invites, pin events", permissions: ALL_PERMISSIONS },
  { name: "moderator", description: "put and remove users, delete events, create invites, pin events", permissions: ["put-user", "remove-user", "delete-event", "create-invite", "update-pin-list"] }
]
/** What the group's creator (and `addgroupadmin` without roles) is given. */
export const CREATOR_ROLES: ReadonlyArray<string> = ["admin"]

const ROLE_BY_NAME = new Map(ROLES.map((r) => [r.name, r]))

export const permissionsOf = (roles: ReadonlyArray<string> | undefined): ReadonlySet<Permission> => {
  const out = new Set<Permission>()
  for (const name of roles ?? []) for (const p of ROLE_BY_NAME.get(name)?.permissions ?? []) out.add(p)
  return out
}

/** A member with a privileged role: listed in 39001 (29.md: "admins in a broad sense"). */
export const isAdmin = (roles: ReadonlyArray<string> | undefined) => permissionsOf(roles).size > 0

export const PERMISSION_OF_KIND: Readonly<Record<number, Permission>> = {
  [PUT_USER]: "put-user",
  [REMOVE_USER]: "remove-user",
  [EDIT_METADATA]: "edit-metadata",
  [DELETE_EVENT]: "delete-event",
  [DELETE_GROUP]: "delete-group",
  [CREATE_INVITE]: "create-invite",
  [UPDATE_PINS]: "update-pin-list"
}

/** Whether `actor` (with these permissions) may change a member who holds `target`'s: never someone holding more. */
export const outranks = (actor: ReadonlySet<Permission>, target: ReadonlySet<Permission>) => {
  for (const p of target) if (!actor.has(p)) return false
  return true
}

// ---------------------------------------------------------------- reading events

export type Parsed<A> = A | { readonly error: string }
export const failed = <A>(p: Parsed<A>): p is { readonly error: string } =>
  typeof p === "object" && p !== null && "error" in p && typeof (p as { error: unknown }).error === "string"

/**
 * The group an event is sent to: its `h` tag. undefined without one; an error for an empty
 * value or `h` tags naming different groups.
 */
export const groupIdOf = (e: NostrEvent): Parsed<string> | undefined => {
  let id: string | undefined
  for (const t of e.tags) {
    if (t[0] !== "h" || t.length < 2) continue
    if (id !== undefined && t[1] !== id) return { error: "an event belongs to one group: its h tags name different groups" }
    id = t[1]!
  }
  if (id === "") return { error: "the h tag names no group" }
  return id
}

/** The `previous` references (29.md: the first 8 hex characters of recent event ids), of every `previous` tag. */
export const previousOf = (e: NostrEvent): Parsed<ReadonlyArray<string>> => {
  const out: Array<string> = []
  for (const t of e.tags) {
    if (t[0] !== "previous") continue
    for (const v of t.slice(1)) {
      if (!/^[0-9a-f]{8}$/.test(v)) return { error: `a previous reference is the first 8 hex characters of an event id, not ${JSON.stringify(v.slice(0, 70))}` }
      out.push(v)
    }
  }
  return out
}

export const isGroupId = (id: string) => GROUP_ID.test(id)

/** A new group: open and public until edited, no metadata yet. */
export const newGroup = (id: string, createdAt: number): GroupRecord => ({
  id,
  name: "",
  picture: "",
  about: "",
  banner: "",
  private: false,
  restricted: false,
  hidden: false,
  closed: false,
  supportedKinds: null,
  parent: null,
  children: [],
  pins: [],
  createdAt
})

const MAX_TEXT = 2000

/**
 * A 9002 edit-metadata: the group's whole metadata as the event gives it (29.md: "all the fields
 * of group-metadata"; a flag or field left out is off or empty), its parent (at most one `parent`
 * tag; none: a root) and its children in the order listed. The `livekit` flag is ignored (no AV here).
 */
export const metadataOf = (e: NostrEvent, current: GroupRecord): Parsed<{ readonly group: GroupRecord; readonly children: ReadonlyArray<string> | undefined }> => {
  const first = (name: string) => {
    for (const t of e.tags) if (t[0] === name && t.length > 1) return t[1]!
    return ""
  }
  const has = (name: string) => e.tags.some((t) => t[0] === name)
  for (const f of ["name", "picture", "about", "banner"]) if (first(f).length > MAX_TEXT) return { error: `the ${f} is longer than ${MAX_TEXT} characters` }
  const parents = e.tags.filter((t) => t[0] === "parent")
  if (parents.length > 1) return { error: "an edit-metadata event carries at most one parent tag" }
  const parent = parents[0]?.[1] ?? ""
  if (parents.length === 1 && parent === "") return { error: "the parent tag names no group" }
  const kindTags = e.tags.filter((t) => t[0] === "supported_kinds")
  const kinds = kindTags.flatMap((t) => t.slice(1))
  if (kinds.some((k) => !/^\d{1,5}$/.test(k) || Number(k) > 65535)) return { error: "supported_kinds lists kind numbers (0-65535)" }
  const childTags = e.tags.filter((t) => t[0] === "child")
  const children = childTags.map((t) => t[1] ?? "")
  if (children.some((c) => c === "")) return { error: "a child tag names no group" }
  if (new Set(children).size !== children.length) return { error: "a child is listed twice" }
  return {
    group: {
      ...current,
      name: first("name"),
      picture: first("picture"),
      about: first("about"),
      banner: first("banner"),
      private: has("private"),
      restricted: has("restricted"),
      hidden: has("hidden"),
      closed: has("closed"),
      supportedKinds: kindTags.length === 0 ? null : [...new Set(kinds)],
      parent: parents.length === 0 ? null : parent
    },
    children: childTags.length === 0 ? undefined : children
  }
}

/**
 * The subgroup rules of 29.md for `id` taking `parent` (null: a root): the parent exists and
 * setting it makes no cycle (self-reference included). An error message, or undefined.
 */
export const hierarchyError = (group: (id: string) => GroupRecord | undefined, id: string, parent: string | null): string | undefined => {
  if (parent === null) return undefined
  if (parent === id) return "a group cannot be its own parent"
  if (group(parent) === undefined) return `there is no group ${parent} on this relay to be the parent`
  const seen = new Set<string>([id])
  for (let at: string | null = parent; at !== null; ) {
    if (seen.has(at)) return `a group cannot be a subgroup of its own subgroup (${parent} is under ${id})`
    seen.add(at)
    at = group(at)?.parent ?? null
  }
  return undefined
}

/**
 * The children of a group after a 9002: all of the current ones, in the order the event lists them
 * ("edits that do not include all the children ... MUST be rejected"); none listed keeps the order.
 */
export const childOrder = (current: ReadonlyArray<string>, listed: ReadonlyArray<string> | undefined): Parsed<ReadonlyArray<string>> => {
  if (listed === undefined) return current.length === 0 ? current : { error: `an edit of this group must list all its children as child tags: ${current.join(", ")}` }
  const missing = current.filter((c) => !listed.includes(c))
  if (missing.length > 0) return { error: `an edit of this group must list all its children as child tags; missing: ${missing.join(", ")}` }
  const extra = listed.filter((c) => !current.includes(c))
  if (extra.length > 0) return { error: `${extra.join(", ")} ${extra.length === 1 ? "is not a subgroup" : "are not subgroups"} of this group (a child joins through its own edit-metadata with a parent tag)` }
  return listed
}

/** Pins of a 9010: `e` ids and `a` addresses, in order. */
export const pinsOf = (e: NostrEvent): Parsed<ReadonlyArray<readonly [string, string]>> => {
  const out: Array<readonly [string, string]> = []
  for (const t of e.tags) {
    if (t[0] === "e") {
      if (!/^[0-9a-f]{64}$/.test(t[1] ?? "")) return { error: "a pinned e tag holds a 64-hex event id" }
      out.push(["e", t[1]!])
    } else if (t[0] === "a") {
      if (!/^\d{1,5}:[0-9a-f]{64}:/.test(t[1] ?? "")) return { error: "a pinned a tag holds an address kind:pubkey:d" }
      out.push(["a", t[1]!])
    }
  }
  if (out.length > MAX_PINS) return { error: `a group keeps at most ${MAX_PINS} pins` }
  return out
}

/** The `p` tags of a put-user or remove-user: pubkey and the roles after it. */
export const usersOf = (e: NostrEvent): Parsed<ReadonlyArray<{ readonly pubkey: string; readonly roles: ReadonlyArray<string> }>> => {
  const out: Array<{ pubkey: string; roles: ReadonlyArray<string> }> = []
  for (const t of e.tags) {
    if (t[0] !== "p") continue
    if (!/^[0-9a-f]{64}$/.test(t[1] ?? "")) return { error: "a p tag holds a 64-hex pubkey" }
    const roles = [...new Set(t.slice(2).filter((r) => r !== ""))]
    if (roles.some((r) => r.length > 64)) return { error: "a role name is at most 64 characters" }
    out.push({ pubkey: t[1]!, roles })
  }
  if (out.length === 0) return { error: "name the user in a p tag" }
  return out
}

// ---------------------------------------------------------------- relay-generated events

export interface Template {
  readonly kind: number
  readonly tags: ReadonlyArray<ReadonlyArray<string>>
  readonly content: string
}

/** 39000: the group's metadata, flags, supported kinds, parent and ordered children. */
export const metadataEvent = (g: GroupRecord): Template => ({
  kind: GROUP_METADATA,
  content: "",
  tags: [
    ["d", g.id],
    ...(g.name !== "" ? [["name", g.name]] : []),
    ...(g.picture !== "" ? [["picture", g.picture]] : []),
    ...(g.about !== "" ? [["about", g.about]] : []),
    ...(g.banner !== "" ? [["banner", g.banner]] : []),
    ...(g.private ? [["private"]] : []),
    ...(g.restricted ? [["restricted"]] : []),
    ...(g.hidden ? [["hidden"]] : []),
    ...(g.closed ? [["closed"]] : []),
    ...(g.supportedKinds !== null ? [["supported_kinds", ...g.supportedKinds]] : []),
    ...(g.parent !== null ? [["parent", g.parent]] : []),
    ...g.children.map((c) => ["child", c])
  ]
})

/** 39001: the members with a privileged role, each with all its roles. */
export const adminsEvent = (g: GroupRecord, members: ReadonlyArray<MemberRecord>): Template => ({
  kind: GROUP_ADMINS,
  content: `admins of ${g.id}`,
  tags: [["d", g.id], ...members.filter((m) => isAdmin(m.roles)).map((m) => ["p", m.pubkey, ...m.roles])]
})

/** 39002: every member. */
export const membersEvent = (g: GroupRecord, members: ReadonlyArray<MemberRecord>): Template => ({
  kind: GROUP_MEMBERS,
  content: `members of ${g.id}`,
  tags: [["d", g.id], ...members.map((m) => ["p", m.pubkey])]
})

/** 39003: the roles this relay gives privileges to. */
export const rolesEvent = (g: GroupRecord): Template => ({
  kind: GROUP_ROLES,
  content: "roles supported by this relay",
  tags: [["d", g.id], ...ROLES.map((r) => ["role", r.name, r.description])]
})

/** 39005: the pinned events in order. */
export const pinsEvent = (g: GroupRecord): Template => ({
  kind: GROUP_PINS,
  content: "",
  tags: [["d", g.id], ...g.pins.map(([t, v]) => [t, v])]
})

/** Every relay-generated event of a group. */
export const relayEventsOf = (g: GroupRecord, members: ReadonlyArray<MemberRecord>): ReadonlyArray<Template> => [
  metadataEvent(g),
  adminsEvent(g, members),
  membersEvent(g, members),
  rolesEvent(g),
  pinsEvent(g)
]
