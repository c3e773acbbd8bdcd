import { storeFromConfig } from "../../../src/storage/layer.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { searchSuite } from "../search.suite.ts"

const db = usePostgresDatabase()

searchSuite("postgres", (overrides) => startRelay({ ...overrides, store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig }))
