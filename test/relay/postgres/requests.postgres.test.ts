import { storeFromConfig } from "../../../src/storage/layer.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { requestsSuite } from "../requests.suite.ts"

const db = usePostgresDatabase()

requestsSuite("postgres", (overrides) => startRelay({ ...overrides, store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig }))
