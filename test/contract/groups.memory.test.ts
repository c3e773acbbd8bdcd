import { layerMemoryGroups } from "../../src/storage/memory/MemoryGroupStore.ts"
import { groupStoreContract } from "./groupStore.contract.ts"

groupStoreContract("memory", () => layerMemoryGroups)
