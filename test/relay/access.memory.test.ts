import { startRelay } from "../support/relay.ts"
import { accessSuite } from "./access.suite.ts"

accessSuite("memory", (overrides) => startRelay(overrides))
