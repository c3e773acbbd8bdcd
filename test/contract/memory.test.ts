import { layerMemory } from "../../src/storage/memory/MemoryEventStore.ts"
import { eventStoreContract } from "./eventStore.contract.ts"

eventStoreContract("memory", () => layerMemory)
