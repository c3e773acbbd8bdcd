import { startRelay } from "../support/relay.ts"
import { discoverySuite } from "./discovery.suite.ts"

discoverySuite("memory", (overrides) => startRelay(overrides))
