/**
 * Retention: how long events are kept, by kind. The `retention` setting is a
 * comma-separated list of `KINDS=AGE` rules, KINDS a kind (`1`), a range
 * (`30000-39999`) or `default`, AGE a number with a unit (`s`, `m`, `h`, `d`,
 * `w`) or `never`. The first rule naming a kind decides; `default` applies to
 * kinds no rule names; without one, such kinds are kept.
 */

export interface RetentionRule {
  readonly from: number
  readonly to: number
  /** Seconds; undefined: never removed. */
  readonly maxAge: number | undefined
}

export interface RetentionPolicy {
  readonly rules: ReadonlyArray<RetentionRule>
  /** For kinds no rule names; undefined: never removed. */
  readonly fallback: number | undefined
}

const UNITS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }

const parseAge = (text: string): number | undefined | { readonly error: string } => {
  if (text === "never") return undefined
  const m = /^(\d{1,9})([smhdw])$/.exec(text)
  if (m === null) return { error: `age ${JSON.stringify(text)} must be a number with a unit (s, m, h, d, w) or "never"` }
  const seconds = Number(m[1]) * UNITS[m[2]!]!
  if (seconds <= 0) return { error: `age ${JSON.stringify(text)} must be more than 0` }
  return seconds
}

export const parseRetention = (text: string): RetentionPolicy | { readonly error: string } => {
  const rules: Array<RetentionRule> = []
  let fallback: number | undefined
  let sawDefault = false
  for (const raw of text.split(",")) {
    const part = raw.trim()
    if (part === "") continue
    const eq = part.indexOf("=")
    if (eq === -1) return { error: `rule ${JSON.stringify(part)} must be KINDS=AGE` }
    const kinds = part.slice(0, eq).trim()
    const age = parseAge(part.slice(eq + 1).trim())
    if (typeof age === "object") return age
    if (kinds === "default") {
      if (sawDefault) return { error: "more than one default rule" }
      sawDefault = true
      fallback = age
      continue
    }
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(kinds)
    if (m === null) return { error: `kinds ${JSON.stringify(kinds)} must be a kind, a range A-B, or "default"` }
    const from = Number(m[1])
    const to = m[2] === undefined ? from : Number(m[2])
    if (from > 65535 || to > 65535 || from > to) return { error: `kind range ${JSON.stringify(kinds)} must be within 0-65535, low to high` }
    rules.push({ from, to, maxAge: age })
  }
  return { rules, fallback }
}

/** Seconds events of `kind` are kept, or undefined for ever. */
export const maxAgeOf = (p: RetentionPolicy, kind: number): number | undefined => {
  for (const r of p.rules) if (kind >= r.from && kind <= r.to) return r.maxAge
  return p.fallback
}

/** Whether the policy can remove anything at all. */
export const removesAnything = (p: RetentionPolicy): boolean =>
  p.fallback !== undefined || p.rules.some((r) => r.maxAge !== undefined)

/** The longest finite age of the policy (0 when none). */
export const longestFiniteAge = (p: RetentionPolicy): number =>
  Math.max(0, ...(p.fallback !== undefined ? [p.fallback] : []), ...p.rules.flatMap((r) => (r.maxAge !== undefined ? [r.maxAge] : [])))

/** The shortest finite age of the policy (undefined when none). */
export const shortestFiniteAge = (p: RetentionPolicy): number | undefined => {
  const ages = [...(p.fallback !== undefined ? [p.fallback] : []), ...p.rules.flatMap((r) => (r.maxAge !== undefined ? [r.maxAge] : []))]
  return ages.length === 0 ? undefined : Math.min(...ages)
}

export const MLS_GROUP_MESSAGE_KIND = 445

/**
 * The policy the relay applies: the `retention` setting, then (with NIP-EE on) MLS group
 * messages for `mlsMessageRetentionSeconds` unless a rule of the setting already names kind 445.
 */
export const retentionPolicyOf = (s: {
  readonly retention: string
  readonly nipEE: boolean
  readonly mlsMessageRetentionSeconds: number
}): RetentionPolicy | { readonly error: string } => {
  const p = parseRetention(s.retention)
  if ("error" in p || !s.nipEE) return p
  const named = p.rules.some((r) => MLS_GROUP_MESSAGE_KIND >= r.from && MLS_GROUP_MESSAGE_KIND <= r.to)
  return named
    ? p
    : { ...p, rules: [...p.rules, { from: MLS_GROUP_MESSAGE_KIND, to: MLS_GROUP_MESSAGE_KIND, maxAge: s.mlsMessageRetentionSeconds }] }
}
