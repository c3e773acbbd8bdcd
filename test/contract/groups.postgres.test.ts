import { Layer } from "effect"
import { defaults, RelayConfig } from "../../src/config/RelayConfig.ts"
import { layerPostgresStores } from "../../src/storage/layer.ts"
import { layerPostgresGroups } from "../../src/storage/postgres/PostgresGroupStore.ts"
import { postgresStoreLayer, usePostgresDatabase } from "../support/postgres.ts"
import { groupStoreContract } from "./groupStore.contract.ts"

const db = usePostgresDatabase()

groupStoreContract(
  "postgres",
  // A fresh store with empty tables (postgresStoreLayer truncates them).
  () => layerPostgresGroups.pipe(Layer.provide(postgresStoreLayer(db))),
  // The same database opened again, without truncation: what a restarted relay sees.
  () => layerPostgresStores.pipe(Layer.provide(Layer.succeed(RelayConfig, RelayConfig.of({ ...defaults(), databaseUrl: db.url() }))))
)
