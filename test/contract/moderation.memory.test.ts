import { layerMemoryModeration } from "../../src/storage/memory/MemoryModerationStore.ts"
import { moderationStoreContract } from "./moderationStore.contract.ts"

moderationStoreContract("memory", () => layerMemoryModeration)
