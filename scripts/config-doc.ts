/** Prints the README's configuration reference (a Markdown table) from src/config/settings.ts. */
import { envName, SETTINGS } from "../src/config/settings.ts"

const rows = Object.entries(SETTINGS).map(([key, s]) => {
  const shown = Array.isArray(s.default) ? s.default.join(",") : String(s.default)
  const def = shown === "" ? "(empty)" : `\`${shown}\``
  const values = s.type === "enum" ? ` One of: ${s.values.join(", ")}.` : s.type === "int" ? ` Range ${s.min}–${s.max}.` : s.type === "list" || s.type === "intList" ? " A list: comma-separated (environment) or a JSON array (config file)." : ""
  const alias = s.alias ? ` Also read from \`${s.alias}\`.` : ""
  return `| \`${key}\` | \`${envName(key)}\` | ${def} | ${s.doc}${values}${alias} |`
})
console.log(["| config file key | environment variable | default | meaning |", "|---|---|---|---|", ...rows].join("\n"))
