/** Prints the README's configuration reference (a Markdown table) from src/config/settings.ts. */
import { envName, SETTINGS } from "../src/config/settings.ts"

const rows = Object.entries(SETTINGS).map(([key, s]) => {
  const def = s.type === "string" && s.default === "" ? "(empty)" : `\`${String(s.default)}\``
  const values = s.type === "enum" ? ` One of: ${s.values.join(", ")}.` : s.type === "int" ? ` Range ${s.min}–${s.max}.` : ""
  const alias = s.alias ? ` Also read from \`${s.alias}\`.` : ""
  return `| \`${key}\` | \`${envName(key)}\` | ${def} | ${s.doc}${values}${alias} |`
})
console.log(["| config file key | environment variable | default | meaning |", "|---|---|---|---|", ...rows].join("\n"))
