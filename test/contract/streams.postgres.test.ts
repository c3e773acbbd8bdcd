import { Layer } from "effect"
import { defaults, RelayConfig } from "../../src/config/RelayConfig.ts"
import { layerPostgresStores } from "../../src/storage/layer.ts"
import { layerPostgresStreams } from "../../src/storage/postgres/PostgresStreamStore.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../support/postgres.ts"
import { streamStoreContract } from "./streamStore.contract.ts"

const db = usePostgresDatabase()

streamStoreContract(
  "postgres",
  // A fresh store with empty tables (postgresStoreLayer truncates them).
  () => layerPostgresStreams.pipe(Layer.provide(postgresStoreLayer(db))),
  // The same database opened again, without truncation: what a restarted relay sees.
  () => layerPostgresStores.pipe(Layer.provide(Layer.succeed(RelayConfig, RelayConfig.of({ ...defaults(), databaseUrl: db.url() }))))
)
