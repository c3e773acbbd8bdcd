/** Command-line arguments as the CLI's commands read them. */

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

/** `text` as a whole number from `min` to `max`, else `invalid(message)`; `what` names the unit in the message. */
export const wholeNumber = (name: string, text: string, min: number, max: number, invalid: (message: string) => Error, what = "a whole number"): number => {
  const n = Number(text)
  if (!Number.isInteger(n) || n < min || n > max) throw invalid(`${name} is ${what} from ${min} to ${max}`)
  return n
}
