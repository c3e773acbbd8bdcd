/** The NIP-11 relay information document, from configuration and enabled features only. */
import type { Settings } from "../config/settings.ts"

export const VERSION = "0.1.0"

/** NIPs this build implements and has enabled; advertise nothing else. */
export const supportedNips = (_s: Settings): ReadonlyArray<number> => [1, 11, 40, 45]

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
    min_pow_difficulty: 0,
    auth_required: false,
    payment_required: false,
    restricted_writes: false,
    created_at_lower_limit: s.createdAtLowerLimit,
    created_at_upper_limit: s.createdAtUpperLimit
  }
})
