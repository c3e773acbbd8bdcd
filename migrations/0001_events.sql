-- Parrhesia event storage (PostgreSQL 15+).
--
-- events / event_tags are partitioned by RANGE (created_at) in unix seconds,
-- one partition per `partitionMonths` months, plus a DEFAULT partition for
-- timestamps outside the created ranges. parrhesia_ensure_partitions() (see
-- 0002) creates partitions ahead of time; the relay calls it at start-up and
-- from a periodic job.
--
-- Global uniqueness of `id`: a unique index on a partitioned table must
-- contain the partition key, so the primary key (id, created_at) of `events`
-- is only unique per (id, created_at). Uniqueness of the id alone lives in the
-- small UNPARTITIONED table `event_ids`: every stored event has a row there,
-- claimed with INSERT ... ON CONFLICT DO NOTHING in the same transaction that
-- writes the event row, so two writers can never both store one id. A row
-- leaves with its event (replaced, deleted, expired).
--
-- Deleted events (NIP-09 / NIP-62) leave a tombstone in `deleted_events`,
-- keyed by (id, pubkey): a deletion request naming an id the store has not
-- seen only blocks that id for the requester's own pubkey. Tombstoned events
-- are answered "deleted" and never stored again (kinds 5 and 62 excepted).

CREATE TABLE event_ids (
  id bytea PRIMARY KEY
);

CREATE TABLE deleted_events (
  id         bytea  NOT NULL,
  pubkey     bytea  NOT NULL,
  deleted_at bigint NOT NULL,
  PRIMARY KEY (id, pubkey)
);

CREATE TABLE events (
  id         bytea   NOT NULL,
  pubkey     bytea   NOT NULL,
  created_at bigint  NOT NULL,
  kind       integer NOT NULL,
  tags       jsonb   NOT NULL,
  content    text    NOT NULL,
  sig        bytea   NOT NULL,
  -- '' for replaceable kinds, the d tag for addressable kinds, NULL otherwise.
  d_tag      text,
  -- NIP-40 expiration (unix seconds), NULL when none.
  expires_at bigint,
  PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);

CREATE TABLE events_default PARTITION OF events DEFAULT;

CREATE INDEX events_kind_created_idx ON events (kind, created_at DESC);
CREATE INDEX events_pubkey_created_idx ON events (pubkey, created_at DESC);
CREATE INDEX events_created_idx ON events (created_at DESC);
-- Finds the older versions of a replaceable/addressable address.
CREATE INDEX events_address_idx ON events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL;
CREATE INDEX events_expires_idx ON events (expires_at) WHERE expires_at IS NOT NULL;

-- Single-letter tags, first value only (NIP-01), one row per distinct (name, value) of an event.
CREATE TABLE event_tags (
  event_id   bytea  NOT NULL,
  name       text   NOT NULL,
  value      text   NOT NULL,
  created_at bigint NOT NULL
) PARTITION BY RANGE (created_at);

CREATE TABLE event_tags_default PARTITION OF event_tags DEFAULT;

CREATE INDEX event_tags_name_value_created_idx ON event_tags (name, value, created_at DESC);
-- Removing an event's tags (replacement, deletion, expiry).
CREATE INDEX event_tags_event_idx ON event_tags (event_id);

-- The current version of every replaceable (pubkey, kind, '') and addressable
-- (pubkey, kind, d) address. Writers upsert it with
--   ON CONFLICT DO UPDATE ... WHERE (new.created_at, old.id) beats (old.created_at, new.id)
-- so the newest created_at wins and ties go to the lowest id, decided by the
-- row lock inside the database however many writers race.
CREATE TABLE replaceable_heads (
  pubkey     bytea   NOT NULL,
  kind       integer NOT NULL,
  d_tag      text    NOT NULL,
  id         bytea   NOT NULL,
  created_at bigint  NOT NULL,
  PRIMARY KEY (pubkey, kind, d_tag)
);

-- NIP-09 `a`-tag deletions: versions of the address with created_at <= until are deleted.
CREATE TABLE deleted_addresses (
  pubkey bytea   NOT NULL,
  kind   integer NOT NULL,
  d_tag  text    NOT NULL,
  until  bigint  NOT NULL,
  PRIMARY KEY (pubkey, kind, d_tag)
);
