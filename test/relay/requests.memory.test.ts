import { startRelay } from "../support/relay.ts"
import { requestsSuite } from "./requests.suite.ts"

requestsSuite("memory", (overrides) => startRelay(overrides))
