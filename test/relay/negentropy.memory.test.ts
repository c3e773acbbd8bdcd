import { startRelay } from "../support/relay.ts"
import { negentropySuite } from "./negentropy.suite.ts"

negentropySuite("memory", (overrides) => startRelay(overrides))
