import { startRelay } from "../support/relay.ts"
import { giftWrapSuite } from "./giftwrap.suite.ts"

giftWrapSuite("memory", (overrides) => startRelay(overrides))
