/** The NIP-11 relay information document, from configuration and enabled features only. */
import type { Settings } from "../config/settings.ts"

export const VERSION = "0.1.0"

/** NIPs this build implements and has enabled; advertise nothing else. */
export const supportedNips = (s: Settings): ReadonlyArray<number> =>
  [1, 11, ...(s.minPowDifficulty > 0 ? [13] : []), 40, 42, 45, 70].sort((a, b) => a - b)

/** Writes are restricted when anything beyond the NIP-01 limits decides who may publish what. */
const restrictedWrites = (s: Settings) =>
  s.authRequired === "writes" ||
  s.authRequired === "all" ||
  s.minPowDifficulty > 0 ||
  s.allowedPubkeys.length > 0 ||
  s.allowedKinds.length > 0 ||
  s.disallowedKinds.length > 0

export const relayInformation = (s: Settings) => ({
  name: s.name,
  description: s.description,
  ...(s.pubkey ? { pubkey: s.pubkey } : {}),
  ...(s.contact ? { contact: s.contact } : {}),
  ...(s.icon ? { icon: s.icon } : {}),
  supported_nips: supportedNips(s),
  version: VERSION,
  limitation: {
    max_message_length: s.maxMessageBytes,
    max_subscriptions: s.maxSubscriptions,
    max_filters: s.maxFilters,
    max_limit: s.maxLimit,
    default_limit: s.defaultLimit,
    max_subid_length: s.maxSubidLength,
    max_event_tags: s.maxEventTags,
    max_content_length: s.maxContentLength,
    min_pow_difficulty: s.minPowDifficulty,
    auth_required: s.authRequired === "reads" || s.authRequired === "all",
    payment_required: false,
    restricted_writes: restrictedWrites(s),
    created_at_lower_limit: s.createdAtLowerLimit,
    created_at_upper_limit: s.createdAtUpperLimit
  }
})
