/**
 * The group storage port: who belongs where. NIP-29 groups (metadata, the
 * flags of 29.md, parent and ordered children, pins), the members of each
 * group with their roles, invite codes; and NIP-43 relay membership, which is
 * the same kind of data in one more scope (`RELAY_SCOPE`): the relay's
 * members (with their NIP-43 role ids), its invite codes and its role
 * definitions (kind 33534). One port, so "who belongs" lives in one place.
 *
 * Adapters persist; the in-memory view the hot path reads lives in
 * src/groups/GroupView.ts, which loads everything once at start, writes
 * through this port on every change and reloads a scope when another process
 * changed it.
 *
 * Values are normalised by the caller: pubkeys are 64 lowercase hex, group ids
 * match GROUP_ID (so no group id is the relay scope "").
 */
import { Context, type Effect } from "effect"
import type { StoreError } from "./EventStore.ts"

/** The scope of NIP-43 relay membership (no group id is empty). */
export const RELAY_SCOPE = ""

/** What a managed group id may look like (29.md: "a random string"; these characters survive URLs and naddr suffixes). */
export const GROUP_ID = /^[a-zA-Z0-9_-]{1,128}$/

export interface GroupRecord {
  readonly id: string
  /** "" when not set. */
  readonly name: string
  readonly picture: string
  readonly about: string
  readonly banner: string
  /** 29.md flags: only members read / only members write / metadata only for members / join requests need an invite code. */
  readonly private: boolean
  readonly restricted: boolean
  readonly hidden: boolean
  readonly closed: boolean
  /** The kinds the group takes (as 39000 lists them); null: every kind. */
  readonly supportedKinds: ReadonlyArray<string> | null
  readonly parent: string | null
  /** The subgroups, in display order. */
  readonly children: ReadonlyArray<string>
  /** Pinned events in display order: ["e", id] or ["a", "kind:pubkey:d"]. */
  readonly pins: ReadonlyArray<readonly [string, string]>
  /** Unix seconds. */
  readonly createdAt: number
}

export interface MemberRecord {
  /** A group id, or RELAY_SCOPE. */
  readonly scope: string
  readonly pubkey: string
  /** Role names (groups) or NIP-43 role ids (the relay); [] for a plain member. */
  readonly roles: ReadonlyArray<string>
}

export interface InviteRecord {
  readonly scope: string
  readonly code: string
  /** Unix seconds; 0: never expires. */
  readonly expiresAt: number
  /** Claimed once (NIP-43 invites) or usable until the group goes (NIP-29 create-invite). */
  readonly singleUse: boolean
}

/** A NIP-43 role definition (kind 33534), in RELAY_SCOPE. */
export interface RoleRecord {
  readonly scope: string
  readonly id: string
  readonly label: string
  readonly description: string
  /** A hue 0-360 as text, or "". */
  readonly color: string
  /** An integer as text, or "". */
  readonly order: string
}

/** Everything stored, for the view's first load. Invites are not in it: they are claimed through the store. */
export interface GroupData {
  readonly groups: ReadonlyArray<GroupRecord>
  readonly members: ReadonlyArray<MemberRecord>
  readonly roles: ReadonlyArray<RoleRecord>
}

/** One scope: the group (undefined for RELAY_SCOPE or a group that is gone), its members and roles. */
export interface ScopeData {
  readonly group: GroupRecord | undefined
  readonly members: ReadonlyArray<MemberRecord>
  readonly roles: ReadonlyArray<RoleRecord>
}

export interface GroupStoreShape {
  readonly load: Effect.Effect<GroupData, StoreError>
  readonly loadScope: (scope: string) => Effect.Effect<ScopeData, StoreError>
  /** Creates the group with its creator as a member, unless the id is taken (false): one creator wins across processes. */
  readonly createGroup: (group: GroupRecord, creator: MemberRecord) => Effect.Effect<boolean, StoreError>
  /** Replaces the stored state of these groups (metadata, flags, parent, children, pins), together. */
  readonly saveGroups: (groups: ReadonlyArray<GroupRecord>) => Effect.Effect<void, StoreError>
  /**
   * Removes a group with its members and invites and saves `updated` (its parent and children, detached)
   * in the same transaction; false when there was no such group.
   */
  readonly deleteGroup: (id: string, updated: ReadonlyArray<GroupRecord>) => Effect.Effect<boolean, StoreError>
  /** Adds a member or replaces its roles; true when it was not a member. */
  readonly putMember: (member: MemberRecord) => Effect.Effect<boolean, StoreError>
  /** Removes a member; whether it was one (the store's answer: another process may have been first). */
  readonly removeMember: (scope: string, pubkey: string) => Effect.Effect<boolean, StoreError>
  /** Adds (or replaces) an invite code. */
  readonly addInvite: (invite: InviteRecord) => Effect.Effect<void, StoreError>
  /** The invite, if there is one; a single-use one is taken out, so it is claimed once across processes. */
  readonly claimInvite: (scope: string, code: string) => Effect.Effect<InviteRecord | undefined, StoreError>
  readonly putRole: (role: RoleRecord) => Effect.Effect<void, StoreError>
  /** Removes a role definition and the role from every member of the scope; whether it was there. */
  readonly removeRole: (scope: string, id: string) => Effect.Effect<boolean, StoreError>
  /**
   * Registers what to do when another relay process changed what is stored: `reload(scope)` for
   * one scope, `reload(undefined)` for everything (after listening (re)started). Absent when this
   * process is the only one writing (the memory store).
   */
  readonly onRemoteChange?: (reload: (scope: string | undefined) => void) => void
}

export class GroupStore extends Context.Service<GroupStore, GroupStoreShape>()("parrhesia/storage/GroupStore") {}
