import { Layer } from "effect"
import { defaults } from "../../src/config/RelayConfig.ts"
import { RelayConfig } from "../../src/config/RelayConfig.ts"
import { layerPostgresStores } from "../../src/storage/layer.ts"
import { layerPostgresModeration } from "../../src/storage/postgres/PostgresModerationStore.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../support/postgres.ts"
import { moderationStoreContract } from "./moderationStore.contract.ts"

const db = usePostgresDatabase()

moderationStoreContract(
  "postgres",
  // A fresh store with empty tables (postgresStoreLayer truncates them).
  () => layerPostgresModeration.pipe(Layer.provide(postgresStoreLayer(db))),
  // The same database opened again, without truncation: what a restarted relay sees.
  () => layerPostgresStores.pipe(Layer.provide(Layer.succeed(RelayConfig, RelayConfig.of({ ...defaults(), databaseUrl: db.url() }))))
)
