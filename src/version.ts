/** The relay's version, at the bottom of the import graph: NIP-11, tracing and the CLI all name it. Kept in step with package.json (a test checks). */
export const VERSION = "0.1.0"
