/**
 * NIP-01 filters: parsing with validation, and matching.
 * A parsed filter keeps its lists as arrays (for storage adapters) and, for
 * matching, a compiled form made once per filter (compileFilter): every matcher
 * reads its conditions from there.
 */
import { isHex64, MAX_TIMESTAMP, type NostrEvent } from "./event.ts"
import { matchesWords, parseSearch } from "./search.ts"

export interface Filter {
  readonly ids?: ReadonlyArray<string>
  readonly authors?: ReadonlyArray<string>
  readonly kinds?: ReadonlyArray<number>
  /** Single-letter tag conditions, keyed by the letter (without `#`). */
  readonly tags?: Readonly<Record<string, ReadonlyArray<string>>>
  readonly since?: number
  readonly until?: number
  readonly limit?: number
  /** NIP-50 full-text query; only accepted when search is enabled. */
  readonly search?: string
  /**
   * Kinds the filter must NOT match. Never parsed from a client: the read
   * policy adds it to keep private kinds out of what a connection may see.
   */
  readonly excludeKinds?: ReadonlyArray<number>
  /**
   * A tag the event must ALSO carry (first value), on top of `tags`: a second condition on a
   * letter `tags` may already constrain (`#p` X and also `p` R). Never parsed from a client: the
   * read policy adds it so a private kind is served only to a recipient it names.
   */
  readonly alsoTagged?: { readonly name: string; readonly value: string }
  /**
   * Events the filter must NOT match: those with a tag `name` whose first value is one of
   * `values` (of the given `kinds` only, when set). Never parsed from a client: the read policy
   * adds it so private NIP-29 groups' events, and hidden groups' metadata, reach members only.
   */
  readonly excludeTagged?: ReadonlyArray<TagExclusion>
}

export interface TagExclusion {
  readonly name: string
  readonly values: ReadonlyArray<string>
  readonly kinds?: ReadonlyArray<number>
}

export interface FilterLimits {
  /** Most values in any one list (ids, authors, kinds, each #tag). */
  readonly maxFilterValues: number
  /** Whether `search` (NIP-50) is accepted. */
  readonly allowSearch: boolean
}

export type FilterParse = { readonly filter: Filter } | { readonly prefix: "invalid" | "unsupported"; readonly error: string }

const TAG_KEY = /^#[a-zA-Z]$/
/** Tags whose values NIP-01 requires to be 64-char lowercase hex. */
const HEX_TAGS = new Set(["e", "p"])

const isTimestamp = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v) && v >= 0

const stringList = (
  key: string,
  v: unknown,
  max: number,
  hex: boolean
): { readonly values: ReadonlyArray<string> } | { readonly error: string } => {
  if (!Array.isArray(v)) return { error: `"${key}" must be an array` }
  if (v.length > max) return { error: `"${key}" has more than ${max} values` }
  for (const s of v) {
    if (typeof s !== "string") return { error: `"${key}" must contain only strings` }
    if (hex && !isHex64(s)) return { error: `"${key}" values must be 64 lowercase hex characters` }
  }
  return { values: v as ReadonlyArray<string> }
}

export const parseFilter = (u: unknown, limits: FilterLimits): FilterParse => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return { prefix: "invalid", error: "filter must be a JSON object" }
  const out: {
    ids?: ReadonlyArray<string>
    authors?: ReadonlyArray<string>
    kinds?: ReadonlyArray<number>
    tags?: Record<string, ReadonlyArray<string>>
    since?: number
    until?: number
    limit?: number
    search?: string
  } = {}
  for (const [key, value] of Object.entries(u)) {
    switch (key) {
      case "ids":
      case "authors": {
        const r = stringList(key, value, limits.maxFilterValues, true)
        if ("error" in r) return { prefix: "invalid", error: r.error }
        out[key] = r.values
        break
      }
      case "kinds": {
        if (!Array.isArray(value)) return { prefix: "invalid", error: `"kinds" must be an array` }
        if (value.length > limits.maxFilterValues) {
          return { prefix: "invalid", error: `"kinds" has more than ${limits.maxFilterValues} values` }
        }
        for (const k of value) {
          if (typeof k !== "number" || !Number.isInteger(k) || k < 0 || k > 65535) {
            return { prefix: "invalid", error: `"kinds" must contain integers between 0 and 65535` }
          }
        }
        out.kinds = value as ReadonlyArray<number>
        break
      }
      case "since":
      case "until":
      case "limit":
        if (!isTimestamp(value)) return { prefix: "invalid", error: `"${key}" must be a non-negative integer` }
        // No event is dated past MAX_TIMESTAMP: a larger bound means the same, and stays a safe integer.
        out[key] = key === "limit" ? value : Math.min(value, MAX_TIMESTAMP)
        break
      case "search":
        if (!limits.allowSearch) return { prefix: "unsupported", error: `"search" (NIP-50) is not supported by this relay` }
        if (typeof value !== "string") return { prefix: "invalid", error: `"search" must be a string` }
        {
          const parsed = parseSearch(value)
          if ("error" in parsed) return { prefix: "invalid", error: parsed.error }
        }
        out.search = value
        break
      default: {
        if (!TAG_KEY.test(key)) return { prefix: "unsupported", error: `filter contains unknown element "${key}"` }
        const letter = key.slice(1)
        const r = stringList(key, value, limits.maxFilterValues, HEX_TAGS.has(letter))
        if ("error" in r) return { prefix: "invalid", error: r.error }
        ;(out.tags ??= {})[letter] = r.values
      }
    }
  }
  return { filter: out }
}

// ---------------------------------------------------------------- matching

/**
 * What every condition but the tag ones and `search` reads of an event: a parsed event, or a
 * store's own record of one (the hot window's entries keep no tags, and answer tag conditions
 * from an index of them).
 */
export interface EventHead {
  readonly id: string
  readonly pubkey: string
  readonly kind: number
  readonly created_at: number
}

/** A tag condition: a tag `name` whose first value (the one NIP-01 indexes) is one of the values. */
export interface TagCondition {
  readonly name: string
  /** The filter's own list (not a copy: it may repeat a value). */
  readonly values: ReadonlyArray<string>
  /** The same values as a set. */
  readonly set: ReadonlySet<string>
}

/** One of `excludeTagged`: the event must not meet it when its kind is one of `kinds` (undefined: whatever its kind). */
export interface TagExclusionCondition extends TagCondition {
  readonly kinds: ReadonlySet<number> | undefined
}

/**
 * A filter compiled for matching (compileFilter): the one statement of its conditions, which every
 * matcher reads (matchesFilter on a parsed event, matchesFilterWith on whatever a store holds).
 */
export interface CompiledFilter {
  readonly ids: ReadonlySet<string> | undefined
  readonly authors: ReadonlySet<string> | undefined
  readonly kinds: ReadonlySet<number> | undefined
  readonly excludeKinds: ReadonlySet<number> | undefined
  /** One per tag letter, in the filter's order. */
  readonly tags: ReadonlyArray<TagCondition>
  readonly alsoTagged: TagCondition | undefined
  readonly excludeTagged: ReadonlyArray<TagExclusionCondition> | undefined
  /** The words of `search` (its `domain:` part is the store's to check). */
  readonly words: ReadonlyArray<string> | undefined
  /**
   * How many conditions the filter sets besides its time range: one per field set (ids, authors,
   * kinds, excludeKinds, alsoTagged, excludeTagged, search) and one per tag letter. An index that
   * answers one of them knows, when this is 1, that nothing else is left to check.
   */
  readonly conditions: number
}

const compiled = new WeakMap<Filter, CompiledFilter>()

const tagCondition = (name: string, values: ReadonlyArray<string>): TagCondition => ({ name, values, set: new Set(values) })

/** The filter compiled for matching; made once per filter object (kept while the filter lives). */
export const compileFilter = (f: Filter): CompiledFilter => {
  let c = compiled.get(f)
  if (c === undefined) {
    const tags = f.tags === undefined ? [] : Object.entries(f.tags).map(([name, values]) => tagCondition(name, values))
    c = {
      ids: f.ids && new Set(f.ids),
      authors: f.authors && new Set(f.authors),
      kinds: f.kinds && new Set(f.kinds),
      excludeKinds: f.excludeKinds && new Set(f.excludeKinds),
      tags,
      alsoTagged: f.alsoTagged && tagCondition(f.alsoTagged.name, [f.alsoTagged.value]),
      excludeTagged: f.excludeTagged?.map((x) => ({ ...tagCondition(x.name, x.values), kinds: x.kinds && new Set(x.kinds) })),
      words: searchWords(f.search),
      conditions:
        tags.length +
        [f.ids, f.authors, f.kinds, f.excludeKinds, f.alsoTagged, f.excludeTagged, f.search].filter((v) => v !== undefined).length
    }
    compiled.set(f, c)
  }
  return c
}

const searchWords = (search: string | undefined): ReadonlyArray<string> | undefined => {
  if (search === undefined) return undefined
  const p = parseSearch(search)
  return "error" in p ? [] : p.words
}

/**
 * How a matcher tells whether an event meets a tag condition: on the event's tags (hasTagIn), or
 * in an index of them. `exclusion`: the condition is one of `excludeTagged` (the event must not
 * meet it).
 */
export type TagProbe<E> = (e: E, t: TagCondition, exclusion: boolean) => boolean

/**
 * Whether the event satisfies every condition of the filter but the words of `search` (which need
 * its content), AND within a filter; its tag conditions are asked of `hasTag`. `limit` plays no
 * part in matching.
 */
export const matchesFilterWith = <E extends EventHead>(f: Filter, e: E, hasTag: TagProbe<E>): boolean => {
  if (f.since !== undefined && e.created_at < f.since) return false
  if (f.until !== undefined && e.created_at > f.until) return false
  const c = compileFilter(f)
  if (c.ids !== undefined && !c.ids.has(e.id)) return false
  if (c.authors !== undefined && !c.authors.has(e.pubkey)) return false
  if (c.kinds !== undefined && !c.kinds.has(e.kind)) return false
  if (c.excludeKinds !== undefined && c.excludeKinds.has(e.kind)) return false
  if (c.alsoTagged !== undefined && !hasTag(e, c.alsoTagged, false)) return false
  if (c.excludeTagged !== undefined) {
    for (const x of c.excludeTagged) {
      if (x.kinds !== undefined && !x.kinds.has(e.kind)) continue
      if (hasTag(e, x, true)) return false
    }
  }
  for (const t of c.tags) if (!hasTag(e, t, false)) return false
  return true
}

/** Whether the event has a tag meeting the condition (only the first value of a tag is indexed, NIP-01). */
export const hasTagIn = (e: NostrEvent, t: TagCondition): boolean => {
  for (const tag of e.tags) if (tag[0] === t.name && tag.length > 1 && t.set.has(tag[1]!)) return true
  return false
}

/**
 * Whether the event satisfies every condition of the filter (AND within a
 * filter). `limit` plays no part in matching; of `search`, the words do
 * (whole words, case folded), and its `domain:` part is the store's to check.
 */
export const matchesFilter = (f: Filter, e: NostrEvent): boolean => {
  if (!matchesFilterWith(f, e, hasTagIn)) return false
  if (f.search === undefined) return true
  const words = compileFilter(f).words
  return words === undefined || matchesWords(words, e.content)
}

/** OR across filters. */
export const matchesAny = (filters: ReadonlyArray<Filter>, e: NostrEvent): boolean => {
  for (const f of filters) if (matchesFilter(f, e)) return true
  return false
}

/** True when the filter can match no event at all (an empty list, or since > until); `limit` does not count, it only shapes the initial query. */
export const isEmptyFilter = (f: Filter): boolean =>
  f.ids?.length === 0 ||
  f.authors?.length === 0 ||
  f.kinds?.length === 0 ||
  (f.tags !== undefined && Object.values(f.tags).some((v) => v.length === 0)) ||
  (f.since !== undefined && f.until !== undefined && f.since > f.until)
