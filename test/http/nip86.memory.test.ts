import { startRelay } from "../support/relay.ts"
import { nip86Suite } from "./nip86.suite.ts"

nip86Suite("memory", (overrides) => startRelay(overrides))
