import { startRelay } from "../support/relay.ts"
import { mlsSuite } from "./mls.suite.ts"

mlsSuite("memory", (overrides) => startRelay(overrides))
