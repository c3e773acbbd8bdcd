import { storeFromConfig } from "../../../src/storage/layer.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { accessSuite } from "../access.suite.ts"

const db = usePostgresDatabase()

accessSuite("postgres", (overrides) => startRelay({ ...overrides, store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig }))
