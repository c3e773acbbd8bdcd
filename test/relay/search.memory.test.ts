import { startRelay } from "../support/relay.ts"
import { searchSuite } from "./search.suite.ts"

searchSuite("memory", (overrides) => startRelay(overrides))
