import { startRelay } from "../support/relay.ts"
import { nip01Suite } from "./nip01.suite.ts"

nip01Suite("memory", () => startRelay())
