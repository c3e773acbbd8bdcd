import { startRelay } from "../support/relay.ts"
import { nostrToolsGroupSuite } from "./nostrtools.groups.suite.ts"

nostrToolsGroupSuite("memory", (overrides) => startRelay(overrides))
