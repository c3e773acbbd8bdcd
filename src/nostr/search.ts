/**
 * NIP-50 search strings: words (matched as whole words, all of them, case
 * folded, in any language: a word is a run of Unicode letters and digits) and
 * `key:value` extensions, of which `domain:` (authors whose NIP-05 is at that
 * domain) is honoured and the rest ignored (`include:spam` asks for what this
 * relay does anyway: it filters no spam out of search results).
 */

export const MAX_SEARCH_WORDS = 32
export const MAX_SEARCH_LENGTH = 1000

export interface ParsedSearch {
  /** Lower-case words, all of which must occur. */
  readonly words: ReadonlyArray<string>
  /** `domain:` when given, lower case. */
  readonly domain?: string
}

const WORD = /[\p{L}\p{N}]+/gu
const EXTENSION = /^([a-z][a-z0-9_-]*):(\S+)$/i

/** The words of a text, lower-cased: the same split for contents and queries. */
export const wordsOf = (text: string): Array<string> => text.toLowerCase().match(WORD) ?? []

export const parseSearch = (q: string): ParsedSearch | { readonly error: string } => {
  if (q.length > MAX_SEARCH_LENGTH) return { error: `"search" is longer than ${MAX_SEARCH_LENGTH} characters` }
  const words: Array<string> = []
  let domain: string | undefined
  for (const token of q.split(/\s+/)) {
    if (token === "") continue
    const ext = EXTENSION.exec(token)
    if (ext !== null && !/^https?$/i.test(ext[1]!)) {
      if (ext[1]!.toLowerCase() === "domain") domain = ext[2]!.toLowerCase()
      continue
    }
    for (const w of wordsOf(token)) if (!words.includes(w)) words.push(w)
  }
  if (words.length > MAX_SEARCH_WORDS) return { error: `"search" has more than ${MAX_SEARCH_WORDS} words` }
  return domain === undefined ? { words } : { words, domain }
}

/** Whether `content` holds every word of the search (the `domain:` part is checked against profiles by the store). */
export const matchesWords = (words: ReadonlyArray<string>, content: string): boolean => {
  if (words.length === 0) return true
  const have = new Set(wordsOf(content))
  for (const w of words) if (!have.has(w)) return false
  return true
}

/** How often the search's words occur in `content`: the memory store's relevance. */
export const searchScore = (words: ReadonlyArray<string>, content: string): number => {
  if (words.length === 0) return 0
  const want = new Set(words)
  let n = 0
  for (const w of wordsOf(content)) if (want.has(w)) n++
  return n
}

/** Whether a NIP-05 identifier (from a kind-0 profile) is at `domain`. */
export const nip05AtDomain = (nip05: unknown, domain: string): boolean =>
  typeof nip05 === "string" && nip05.toLowerCase().endsWith(`@${domain}`)
