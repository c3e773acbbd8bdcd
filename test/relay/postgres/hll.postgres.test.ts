import { storeFromConfig } from "../../../src/storage/layer.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { hllSuite } from "../hll.suite.ts"

// Each relay of the suite gets its own database: the merge test needs two relays with different data.
const dbs = [usePostgresDatabase(), usePostgresDatabase(), usePostgresDatabase()]
let next = 0

hllSuite("postgres", (overrides) =>
  startRelay({ ...overrides, store: "postgres", databaseUrl: dbs[next++ % dbs.length]!.url() }, { stores: storeFromConfig })
)
