import { startRelay } from "../support/relay.ts"
import { membershipSuite } from "./membership.suite.ts"

membershipSuite("memory", (overrides) => startRelay(overrides))
