import { postgresStoreLayer, usePostgresDatabase } from "../support/postgres.ts"
import { eventStoreContract } from "./eventStore.contract.ts"

const db = usePostgresDatabase()

eventStoreContract("postgres", () => postgresStoreLayer(db))
