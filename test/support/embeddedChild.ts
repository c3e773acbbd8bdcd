/** Starts the embedded PostgreSQL on argv[2] and prints READY <url>; used by tests that SIGKILL it. */
import { startEmbedded } from "../../src/storage/postgres/EmbeddedPostgres.ts"

const server = await startEmbedded({ dataDir: process.argv[2]!, port: 0, warn: () => {} })
console.log(`READY ${server.url}`)
setInterval(() => {}, 1 << 30)
