/** The NIP-11 relay information document, from configuration and enabled features only. */
import type { Settings } from "../config/settings.ts"
import type { ModerationShape } from "../moderation/Moderation.ts"
import { VERSION } from "../version.ts"

/** NIPs this build implements and has enabled; advertise nothing else. */
export const supportedNips = (s: Settings): ReadonlyArray<number> =>
  [1, 9, 11, ...(s.minPowDifficulty > 0 ? [13] : []), ...(s.restrictedReadKinds.includes(1059) ? [17, 59] : []), ...(s.groups ? [29] : []), 40, 42, 45,
    ...(s.nip43 ? [43] : []), ...(s.search ? [50] : []), 62, ...(s.publishSelfDescription ? [66] : []), 70, ...(s.negentropy ? [77] : []), ...(s.adminPubkeys.length > 0 ? [86, 98] : [])].sort((a, b) => a - b)

/** Writes are restricted when anything beyond the NIP-01 limits decides who may publish what. */
const restrictedWrites = (s: Settings, m: ModerationShape | undefined) =>
  m?.allowListActive() === true ||
  (s.nip43 && s.membersOnly !== "off") ||
  s.authRequired === "writes" ||
  s.authRequired === "all" ||
  s.minPowDifficulty > 0 ||
  s.allowedPubkeys.length > 0 ||
  s.allowedKinds.length > 0 ||
  s.disallowedKinds.length > 0

/** The document; `m` supplies name, description and icon as changed through NIP-86, and the live allow-list. */
export const relayInformation = (s: Settings, m?: ModerationShape) => {
  const info = m?.relayInfo() ?? { name: s.name, description: s.description, icon: s.icon }
  return {
    name: info.name,
    description: info.description,
    ...(s.pubkey ? { pubkey: s.pubkey } : {}),
    ...(s.contact ? { contact: s.contact } : {}),
    ...(info.icon ? { icon: info.icon } : {}),
    supported_nips: supportedNips(s),
    // NIP-29 subgroups (parent and child tags) are supported; live audio/video (LiveKit, 39004) is not.
    ...(s.groups ? { nip29: { subgroups: true } } : {}),
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
      auth_required: s.authRequired === "reads" || s.authRequired === "all" || (s.nip43 && s.membersOnly === "all"),
      payment_required: false,
      restricted_writes: restrictedWrites(s, m),
      created_at_lower_limit: s.createdAtLowerLimit,
      created_at_upper_limit: s.createdAtUpperLimit
    }
  }
}
