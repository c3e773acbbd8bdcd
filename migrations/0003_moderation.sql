-- The operator's moderation lists (NIP-86 and friends) and relay-information
-- overrides. Small tables: the relay loads them whole at start and writes
-- through on every change. Static entries from the configuration are not
-- stored here.

CREATE TABLE moderation_entries (
  list       text   NOT NULL,
  value      text   NOT NULL,
  reason     text   NOT NULL DEFAULT '',
  created_at bigint NOT NULL DEFAULT (extract(epoch FROM now())::bigint),
  PRIMARY KEY (list, value)
);

CREATE TABLE relay_info_overrides (
  field text PRIMARY KEY,
  value text NOT NULL
);
