import { storeFromConfig } from "../../../src/storage/layer.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { giftWrapSuite } from "../giftwrap.suite.ts"

const db = usePostgresDatabase()

giftWrapSuite("postgres", (overrides) => startRelay({ ...overrides, store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig }))
