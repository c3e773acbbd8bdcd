import { storeFromConfig } from "../../../src/storage/layer.ts"
import { usePostgresDatabase } from "../../support/postgres.ts"
import { startRelay } from "../../support/relay.ts"
import { nip01Suite } from "../nip01.suite.ts"

const db = usePostgresDatabase()

nip01Suite("postgres", () => startRelay({ store: "postgres", databaseUrl: db.url() }, { stores: storeFromConfig }))
