/**
 * Who may read what of NIP-29 groups: a private group's events (its `h` tag)
 * go to its members only, a hidden group's state events (39000-39005, `d` tag)
 * too, each after AUTH (NIP-42) as a member. The same scoping as private
 * kinds: a REQ, COUNT or NEG-OPEN filter is narrowed so the store returns
 * only what the connection may see (`scopeGroups`), every event served,
 * stored or live, passes `mayReadGroupEvent`, and a filter asking only for
 * groups the connection cannot read is refused (`auth-required:` before
 * AUTH, `restricted:` after).
 */
import { Effect } from "effect"
import { AuthRequired, Restricted, type Filter, type NostrEvent } from "../nostr/index.ts"
import type { TagExclusion } from "../nostr/filter.ts"
import type { ReadCheck, RequestContext } from "./types.ts"

/** What the read rules need of the groups (GroupView). */
export interface GroupReads {
  readonly privateGroups: () => ReadonlySet<string>
  readonly hiddenGroups: () => ReadonlySet<string>
  readonly anyMember: (group: string, pubkeys: ReadonlySet<string>) => boolean
}

/** The relay-signed state kinds of a group, keyed by its `d` tag. */
export const GROUP_STATE_KINDS: ReadonlyArray<number> = [39000, 39001, 39002, 39003, 39004, 39005]
const STATE = new Set(GROUP_STATE_KINDS)

const pass = Effect.void

export const hasGroupRestrictions = (g: GroupReads) => g.privateGroups().size > 0 || g.hiddenGroups().size > 0

/** Whether this event may go to this connection as far as groups go. */
export const mayReadGroupEvent = (g: GroupReads, ctx: RequestContext, e: NostrEvent): boolean => {
  const priv = g.privateGroups()
  const hidden = g.hiddenGroups()
  if (priv.size === 0 && hidden.size === 0) return true
  for (const t of e.tags) {
    if (t.length < 2) continue
    if (t[0] === "h" && priv.has(t[1]!) && !g.anyMember(t[1]!, ctx.authenticated)) return false
    if (t[0] === "d" && STATE.has(e.kind) && hidden.has(t[1]!) && !g.anyMember(t[1]!, ctx.authenticated)) return false
  }
  return true
}

const unreadable = (g: GroupReads, ctx: RequestContext, ids: ReadonlySet<string>) => {
  const out: Array<string> = []
  for (const id of ids) if (!g.anyMember(id, ctx.authenticated)) out.push(id)
  return out
}

const reachesState = (f: Filter) => f.kinds === undefined || f.kinds.some((k) => STATE.has(k))

/**
 * One filter narrowed to what the connection may read of the groups: `#h` values of private groups
 * it cannot read dropped (nothing left: no query at all), and the events of every such group, and
 * the state events of hidden ones, excluded.
 */
export const scopeGroups = (g: GroupReads, ctx: RequestContext, f: Filter): ReadonlyArray<Filter> => {
  const priv = g.privateGroups()
  const hidden = g.hiddenGroups()
  if (priv.size === 0 && hidden.size === 0) return [f]
  let out = f
  const excluded: Array<TagExclusion> = []
  if (priv.size > 0) {
    const h = f.tags?.["h"]
    if (h !== undefined) {
      const keep = h.filter((v) => !priv.has(v) || g.anyMember(v, ctx.authenticated))
      if (keep.length === 0) return []
      if (keep.length < h.length) out = { ...out, tags: { ...out.tags, h: keep } }
    }
    const no = unreadable(g, ctx, priv)
    if (no.length > 0) excluded.push({ name: "h", values: no })
  }
  if (hidden.size > 0 && reachesState(f)) {
    const no = unreadable(g, ctx, hidden)
    if (no.length > 0) excluded.push({ name: "d", values: no, kinds: GROUP_STATE_KINDS })
  }
  return excluded.length === 0 ? [out] : [{ ...out, excludeTagged: [...(out.excludeTagged ?? []), ...excluded] }]
}

/**
 * A filter that asks only for private groups (its `#h`), or only for hidden groups' state (its `#d`
 * with state kinds only), none of which the connection may read: refused, so a client knows to AUTH.
 */
export const groupsNeedMembership = (g: GroupReads): ReadCheck => (ctx, filters) => {
  const priv = g.privateGroups()
  const hidden = g.hiddenGroups()
  if (priv.size === 0 && hidden.size === 0) return pass
  for (const f of filters) {
    const h = f.tags?.["h"]
    const d = f.kinds !== undefined && f.kinds.length > 0 && f.kinds.every((k) => STATE.has(k)) ? f.tags?.["d"] : undefined
    for (const [values, set, what] of [
      [h, priv, "private"],
      [d, hidden, "hidden"]
    ] as const) {
      if (values === undefined || values.length === 0) continue
      if (!values.every((v) => set.has(v) && !g.anyMember(v, ctx.authenticated))) continue
      const named = values[0]!
      return Effect.fail(
        ctx.authenticated.size === 0
          ? new AuthRequired({ message: `group ${named} is ${what}: AUTH (NIP-42) as one of its members first` })
          : new Restricted({ message: `group ${named} is ${what}: only its members may read it` })
      )
    }
  }
  return pass
}
