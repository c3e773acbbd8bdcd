import { startRelay } from "../support/relay.ts"
import { groupsSuite } from "./groups.suite.ts"

groupsSuite("memory", (overrides) => startRelay(overrides))
