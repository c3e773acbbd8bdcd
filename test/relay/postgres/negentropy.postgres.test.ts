import { storeFromConfig } from "../../../src/storage/layer.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { negentropySuite } from "../negentropy.suite.ts"

const db = usePostgresDatabase()

negentropySuite("postgres", (overrides) => startRelay({ ...overrides, store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig }))
