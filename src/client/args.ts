/** Command-line arguments as the CLI's commands read them. */
import { parseFilter, type Filter, type FilterLimits } from "../nostr/index.ts"

/**
 * Walks `argv`, calling `visit(name, value)` for each argument: `value()`
 * takes the option's value, from `--name=value` or the next argument, and
 * fails with `missing(name)` when there is none. Positionals come as `name`.
 * A visit that returns "stop" ends the walk (e.g. at `--help`).
 */
export const scanArgs = (
  argv: ReadonlyArray<string>,
  visit: (name: string, value: () => string) => void | "stop",
  missing: (name: string) => Error
): void => {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const eq = arg.startsWith("--") ? arg.indexOf("=") : -1
    const [name, inline] = eq > 0 ? [arg.slice(0, eq), arg.slice(eq + 1)] : [arg, undefined]
    const next = visit(name, () => {
      const v = inline ?? argv[++i]
      if (v === undefined) throw missing(name)
      return v
    })
    if (next === "stop") return
  }
}

/** `text` as a whole number from `min` to `max`, else (or when missing) `invalid(message)`; `what` names the unit in the message. */
export const wholeNumber = (
  name: string,
  text: string | undefined,
  min: number,
  max: number,
  invalid: (message: string) => Error,
  what = "a whole number"
): number => {
  const n = Number(text)
  if (text === undefined || !Number.isInteger(n) || n < min || n > max) throw invalid(`${name} is ${what} from ${min} to ${max}`)
  return n
}

/**
 * `text` as a NIP-01 filter: JSON, checked by parseFilter within `limits`; else `invalid(message)`
 * (`example` ends the message's hint). The checked filter, and the JSON as it was given.
 */
export const filterArg = (
  name: string,
  text: string,
  limits: FilterLimits,
  invalid: (message: string) => Error,
  example = ""
): { readonly filter: Filter; readonly raw: unknown } => {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw invalid(`${name} must be a JSON object (a NIP-01 filter${example})`)
  }
  const parsed = parseFilter(raw, limits)
  if ("error" in parsed) throw invalid(`${name}: ${parsed.error}`)
  return { filter: parsed.filter, raw }
}
