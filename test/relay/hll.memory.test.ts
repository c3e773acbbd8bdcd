import { startRelay } from "../support/relay.ts"
import { hllSuite } from "./hll.suite.ts"

hllSuite("memory", (overrides) => startRelay(overrides))
