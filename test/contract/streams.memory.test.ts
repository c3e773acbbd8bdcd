import { layerMemoryStreams } from "../../src/storage/memory/MemoryStreamStore.ts"
import { streamStoreContract } from "./streamStore.contract.ts"

streamStoreContract("memory", () => layerMemoryStreams)
