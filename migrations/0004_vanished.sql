-- NIP-62: pubkeys that asked to vanish, with the latest request's created_at.
-- Their events dated up to `until` are refused even when the relay never had them.
CREATE TABLE vanished_pubkeys (
  pubkey bytea  PRIMARY KEY,
  until  bigint NOT NULL
);
