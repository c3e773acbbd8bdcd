/**
 * Nostr filters -> SQL: one parameterized SELECT per filter (its own
 * ORDER BY created_at DESC, id ASC LIMIT n), joined by UNION ALL for a REQ,
 * and the COUNT, HLL (NIP-45) and negentropy (NIP-77) forms over the same
 * per-filter bodies. Pure text building with no state: the reads run what
 * these return, the plan tests EXPLAIN it.
 */
import { isEmptyFilter, parseSearch, type Filter } from "../../nostr/index.ts"
import {
  badText,
  byteaArray,
  EVENT_COLUMNS,
  hexBytes,
  INNER_COLUMNS,
  int4Array,
  int8,
  RANKED_COLUMNS,
  SERVED_COLUMNS,
  SERVED_RANKED_COLUMNS,
  textArray
} from "./sql.ts"

class Params {
  readonly values: Array<unknown> = []
  add(v: unknown): string {
    this.values.push(v)
    return `$${this.values.length}`
  }
}

interface FilterSql {
  /** FROM ... WHERE ... of the filter. */
  readonly body: string
  /** ORDER BY expression list (newest first, lowest id first). */
  readonly order: string
  /** The created_at and id expressions that order is made of (a scan walks them upwards). */
  readonly keys: readonly [string, string]
  /** The tsquery of a search filter (NIP-50), for ranking. */
  readonly tsq?: string
}

/**
 * A search is ranked among its newest matches, at most this many (or its limit when larger):
 * a word in a fifth of all events would otherwise make every query rank tens of thousands of rows.
 */
export const SEARCH_CANDIDATES = 1000

/**
 * FROM/WHERE of one filter (the caller checked it is not empty); `nowParam` is "now".
 *
 * A tag condition with a single value (and no ids) drives the query from
 * event_tags: its (name, value, created_at DESC) index yields the matches
 * newest first, and each is looked up in events by primary key through a
 * LATERAL subquery (kept as a parameterized nested loop, so only the one
 * partition holding that created_at is probed), so a `#p`/`#e` REQ with a
 * limit stops after `limit` hits. A plain join would let the planner pick a
 * hash join over every events partition. Other tag conditions are semi-joins.
 */
const filterSql = (f: Filter, p: Params, nowParam: string): FilterSql => {
  const c: Array<string> = []
  // One value: plain equality, so the planner can walk a (column, created_at DESC) index in order and
  // stop at the limit; `= ANY(array)` makes it fetch and sort every match.
  if (f.ids !== undefined)
    c.push(f.ids.length === 1 ? `e.id = ${p.add(hexBytes(f.ids[0]!))}::bytea` : `e.id = ANY(${p.add(byteaArray(f.ids))}::bytea[])`)
  if (f.authors !== undefined)
    c.push(
      f.authors.length === 1
        ? `e.pubkey = ${p.add(hexBytes(f.authors[0]!))}::bytea`
        : `e.pubkey = ANY(${p.add(byteaArray(f.authors))}::bytea[])`
    )
  if (f.kinds !== undefined)
    c.push(f.kinds.length === 1 ? `e.kind = ${p.add(f.kinds[0]!)}::integer` : `e.kind = ANY(${p.add(int4Array(f.kinds))}::integer[])`)
  if (f.excludeKinds !== undefined && f.excludeKinds.length > 0)
    c.push(`e.kind <> ALL(${p.add(int4Array(f.excludeKinds))}::integer[])`)
  const since = f.since !== undefined ? p.add(int8(f.since)) : undefined
  const until = f.until !== undefined ? p.add(int8(f.until)) : undefined
  if (since !== undefined) c.push(`e.created_at >= ${since}`)
  if (until !== undefined) c.push(`e.created_at <= ${until}`)
  if (f.alsoTagged !== undefined) {
    c.push(
      badText(f.alsoTagged.value) !== undefined
        ? "FALSE"
        : `(e.id, e.created_at) IN (SELECT ta.event_id, ta.created_at FROM event_tags ta WHERE ta.name = ${p.add(f.alsoTagged.name)}::text` +
            ` AND ta.value = ${p.add(f.alsoTagged.value)}::text)`
    )
  }
  if (f.excludeTagged !== undefined) {
    for (const x of f.excludeTagged) {
      // A value PostgreSQL text cannot hold is in no stored tag: nothing to leave out for it.
      const values = x.values.filter((v) => badText(v) === undefined)
      if (values.length === 0) continue
      const tagged =
        `NOT EXISTS (SELECT 1 FROM event_tags tx WHERE tx.event_id = e.id AND tx.created_at = e.created_at` +
        ` AND tx.name = ${p.add(x.name)}::text AND tx.value = ANY(${p.add(textArray(values))}::text[]))`
      c.push(x.kinds === undefined ? tagged : `(e.kind <> ALL(${p.add(int4Array(x.kinds))}::integer[]) OR ${tagged})`)
    }
  }
  const driving: Array<string> = []
  if (f.tags !== undefined) {
    // A value PostgreSQL text cannot hold (NUL, a lone surrogate) is in no stored tag: it matches nothing.
    const entries = Object.entries(f.tags).map(([name, values]) => [name, values.filter((v) => badText(v) === undefined)] as const)
    if (entries.some(([, values]) => values.length === 0)) c.push("FALSE")
    // A search ranks on e.search_vector, which the LATERAL form does not carry: it is driven from events.
    const drive = f.ids === undefined && f.search === undefined ? entries.findIndex(([, values]) => values.length === 1) : -1
    entries.forEach(([name, values], k) => {
      const t = `t${k}`
      const range =
        (since !== undefined ? ` AND ${t}.created_at >= ${since}` : "") + (until !== undefined ? ` AND ${t}.created_at <= ${until}` : "")
      if (k === drive) {
        driving.push(`${t}.name = ${p.add(name)}::text AND ${t}.value = ${p.add(values[0]!)}::text${range}`)
      } else {
        c.push(
          `(e.id, e.created_at) IN (SELECT ${t}.event_id, ${t}.created_at FROM event_tags ${t} WHERE ${t}.name = ${p.add(name)}::text` +
            (values.length === 1
              ? ` AND ${t}.value = ${p.add(values[0]!)}::text${range})`
              : ` AND ${t}.value = ANY(${p.add(textArray(values))}::text[])${range})`)
        )
      }
    })
  }
  // NIP-50: all words, through the GIN index on search_vector (to_tsvector('simple', content)). The words are ours
  // (letters and digits only, see src/nostr/search.ts), so plainto_tsquery sees no operators.
  let tsq: string | undefined
  if (f.search !== undefined) {
    const parsed = parseSearch(f.search)
    const words = "error" in parsed ? [] : parsed.words
    if (words.length > 0) {
      tsq = `plainto_tsquery('simple', ${p.add(words.join(" "))}::text)`
      c.push(`e.search_vector @@ ${tsq}`)
    }
  }
  c.push(`(e.expires_at IS NULL OR e.expires_at > ${nowParam})`)
  if (driving.length === 0) {
    return {
      body: `FROM events e WHERE ${c.join(" AND ")}`,
      order: "e.created_at DESC, e.id ASC",
      keys: ["e.created_at", "e.id"],
      ...(tsq !== undefined ? { tsq } : {})
    }
  }
  const t = driving[0]!.slice(0, driving[0]!.indexOf("."))
  return {
    body:
      `FROM event_tags ${t} CROSS JOIN LATERAL (SELECT ${INNER_COLUMNS} FROM events e` +
      ` WHERE e.id = ${t}.event_id AND e.created_at = ${t}.created_at AND ${c.join(" AND ")} LIMIT 1) e` +
      ` WHERE ${driving[0]}`,
    order: `${t}.created_at DESC, ${t}.event_id ASC`,
    keys: [`${t}.created_at`, `${t}.event_id`]
  }
}

export interface CompiledQuery {
  readonly text: string
  readonly params: ReadonlyArray<unknown>
  /** How many filters made it into the statement (0: nothing can match). */
  readonly parts: number
  /** True when the rows come back already newest first without duplicates. */
  readonly sorted?: boolean
}

/**
 * REQ: one SELECT per non-empty filter, each with its own order and limit, joined by UNION ALL.
 * `served`: the columns of queryServed (the stored text) instead of the event's columns.
 */
export const compileQuery = (filters: ReadonlyArray<Filter>, now: number, served = false): CompiledQuery => {
  const columns = served ? SERVED_COLUMNS : EVENT_COLUMNS
  const p = new Params()
  const nowParam = p.add(int8(now))
  const selects: Array<string> = []
  let unordered = false
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    const { body, order, tsq } = filterSql(f, p, nowParam)
    if (f.ids !== undefined && (f.limit === undefined || f.ids.length <= f.limit)) {
      // At most ids.length rows can match: no ORDER BY/LIMIT, so the planner probes the
      // primary key per id instead of walking a created_at index until the limit is met
      // (which scans everything when fewer than `limit` ids exist). Sorted by the caller.
      unordered = true
      selects.push(`SELECT ${columns} ${body}`)
      continue
    }
    const limit = f.limit !== undefined ? ` LIMIT ${p.add(f.limit)}` : ""
    if (tsq !== undefined) {
      // NIP-50: relevance first, the limit after ranking, among the newest candidates.
      const candidates = p.add(Math.max(SEARCH_CANDIDATES, f.limit ?? 0))
      selects.push(
        `SELECT ${served ? SERVED_RANKED_COLUMNS : RANKED_COLUMNS} FROM (SELECT ${INNER_COLUMNS}, e.search_vector ${body} ORDER BY ${order} LIMIT ${candidates}) r` +
          ` ORDER BY ts_rank(r.search_vector, ${tsq}) DESC, r.created_at DESC, r.id ASC${limit}`
      )
      continue
    }
    selects.push(`SELECT ${columns} ${body} ORDER BY ${order}${limit}`)
  }
  const text = selects.length === 1 ? selects[0]! : selects.map((s) => `(${s})`).join(" UNION ALL ")
  return { text, params: p.values, parts: selects.length, sorted: selects.length === 1 && !unordered }
}

/**
 * Export: one keyset page of the filter's matches, oldest first (created_at, then id, ascending),
 * strictly after (afterCreatedAt, afterId) when given. The cursor's second is folded into `since`
 * (so the created_at index, or the tag index of a tag-driven filter, starts there) and the rest
 * of that second is skipped by id: never OFFSET. The filter's limit is not applied; `parts` is 0
 * when it matches nothing.
 */
export const compileScan = (
  filter: Filter,
  now: number,
  after: { readonly created_at: number; readonly id: string } | undefined,
  max: number
): CompiledQuery => {
  const { limit: _limit, search: _search, ...rest } = filter
  const f: Filter = after === undefined ? rest : { ...rest, since: Math.max(rest.since ?? after.created_at, after.created_at) }
  if (isEmptyFilter(f)) return { text: "", params: [], parts: 0 }
  const p = new Params()
  const nowParam = p.add(int8(now))
  const { body, keys } = filterSql(f, p, nowParam)
  const [createdAt, id] = keys
  const keyset =
    after === undefined ? "" : ` AND (${createdAt} > ${p.add(int8(after.created_at))} OR ${id} > ${p.add(hexBytes(after.id))}::bytea)`
  return {
    text: `SELECT ${SERVED_COLUMNS} ${body}${keyset} ORDER BY ${createdAt} ASC, ${id} ASC LIMIT ${p.add(max)}`,
    params: p.values,
    parts: 1,
    sorted: true
  }
}

/** NIP-77: (created_at, id, pubkey) of the union of the filters, each with its own limit when set, at most `max` rows. */
export const compileRecords = (filters: ReadonlyArray<Filter>, now: number, max: number): CompiledQuery => {
  const p = new Params()
  const nowParam = p.add(int8(now))
  const selects: Array<string> = []
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    const { body, order } = filterSql(f, p, nowParam)
    const limit = f.limit !== undefined ? ` ORDER BY ${order} LIMIT ${p.add(f.limit)}` : ""
    selects.push(`SELECT e.created_at, e.id, e.pubkey ${body}${limit}`)
  }
  const text = `SELECT DISTINCT ON (r.id) r.created_at, r.id, r.pubkey FROM (${selects.map((s) => `(${s})`).join(" UNION ALL ")}) r LIMIT ${p.add(max)}`
  return { text, params: p.values, parts: selects.length }
}

/** COUNT: distinct matches of all filters, limits ignored. */
export const compileCount = (filters: ReadonlyArray<Filter>, now: number): CompiledQuery => {
  const p = new Params()
  const nowParam = p.add(int8(now))
  const selects: Array<string> = []
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    selects.push(filterSql(f, p, nowParam).body)
  }
  const text =
    selects.length === 1
      ? `SELECT count(*) AS n ${selects[0]}`
      : `SELECT count(*) AS n FROM (${selects.map((w) => `SELECT e.id ${w}`).join(" UNION ")}) s`
  return { text, params: p.values, parts: selects.length }
}

/**
 * NIP-45 HLL: the count and the registers in one statement, aggregated in the
 * database (at most 256 register rows come back, never the events). The
 * register of a pubkey is its byte at `offset`; its value, the leading zero
 * bits of the bytes after it, plus one: `position('1' in bits)` of those bytes.
 */
export const compileHll = (filters: ReadonlyArray<Filter>, now: number, offset: number): CompiledQuery => {
  if (!Number.isInteger(offset) || offset < 8 || offset > 23) throw new Error(`HLL offset out of range: ${offset}`)
  const p = new Params()
  const nowParam = p.add(int8(now))
  const bodies: Array<string> = []
  for (const f of filters) {
    if (isEmptyFilter(f)) continue
    bodies.push(filterSql(f, p, nowParam).body)
  }
  const matched = bodies.length === 1 ? `SELECT e.pubkey ${bodies[0]}` : bodies.map((b) => `SELECT e.id, e.pubkey ${b}`).join(" UNION ")
  const bits = (31 - offset) * 8
  const rest = `position('1' IN (('x' || encode(substring(m.pubkey FROM ${offset + 2}), 'hex'))::bit(${bits}))::text)`
  const text =
    `WITH m AS (${matched}), r AS (` +
    `SELECT get_byte(m.pubkey, ${offset}) AS ri, max(CASE WHEN ${rest} = 0 THEN ${bits + 1} ELSE ${rest} END) AS v FROM m GROUP BY 1)` +
    ` SELECT (SELECT count(*) FROM m)::bigint AS n, (SELECT coalesce(json_agg(json_build_array(r.ri, r.v)), '[]'::json) FROM r)::text AS regs`
  return { text, params: p.values, parts: bodies.length }
}
