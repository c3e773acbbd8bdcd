-- Partition maintenance and the batched write used by the group-commit writer.

-- Creates partition p_name of p_parent for [p_lo, p_hi) unless it exists.
-- Rows already sitting in the DEFAULT partition for that range are moved into
-- the new partition (a plain CREATE ... PARTITION OF would fail on them).
-- A range overlapping an existing partition (partitionMonths changed) is skipped.
-- Returns 1 when a partition was created.
CREATE OR REPLACE FUNCTION parrhesia_create_partition(p_parent text, p_name text, p_lo bigint, p_hi bigint)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  def text := p_parent || '_default';
  has_rows boolean;
BEGIN
  IF to_regclass(p_name) IS NOT NULL THEN
    RETURN 0;
  END IF;
  BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE created_at >= $1 AND created_at < $2)', def)
      INTO has_rows USING p_lo, p_hi;
    IF NOT has_rows THEN
      EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%s) TO (%s)', p_name, p_parent, p_lo, p_hi);
    ELSE
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', p_name, p_parent);
      EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING *) INSERT INTO %I SELECT * FROM moved',
        def, p_name) USING p_lo, p_hi;
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', p_parent, p_name, p_lo, p_hi);
    END IF;
  EXCEPTION WHEN invalid_object_definition THEN
    -- "partition would overlap partition ...": another layout already covers (part of) this range.
    RETURN 0;
  END;
  RETURN 1;
END
$fn$;

-- Makes sure events and event_tags have partitions from p_back periods before
-- the current one to p_ahead periods after it; a period is p_months calendar
-- months (UTC), aligned to 1970-01. Idempotent; returns how many were created.
CREATE OR REPLACE FUNCTION parrhesia_ensure_partitions(p_months integer, p_ahead integer DEFAULT 3, p_back integer DEFAULT 1)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  now_utc timestamp := now() AT TIME ZONE 'UTC';
  cur_month integer := (extract(year FROM now_utc)::integer - 1970) * 12 + extract(month FROM now_utc)::integer - 1;
  k integer;
  lo bigint;
  hi bigint;
  suffix text;
  created integer := 0;
BEGIN
  IF p_months < 1 OR p_months > 12 THEN
    RAISE EXCEPTION 'partition size must be 1..12 months, got %', p_months;
  END IF;
  FOR k IN (cur_month / p_months - p_back)..(cur_month / p_months + p_ahead) LOOP
    lo := extract(epoch FROM timestamp '1970-01-01' + make_interval(months => k * p_months))::bigint;
    hi := extract(epoch FROM timestamp '1970-01-01' + make_interval(months => (k + 1) * p_months))::bigint;
    suffix := to_char(timestamp '1970-01-01' + make_interval(months => k * p_months), 'YYYYMM');
    created := created + parrhesia_create_partition('events', 'events_p' || suffix, lo, hi);
    PERFORM parrhesia_create_partition('event_tags', 'event_tags_p' || suffix, lo, hi);
  END LOOP;
  RETURN created;
END
$fn$;

-- Writes a batch of events in the caller's transaction (one statement: with
-- autocommit, one commit for the whole batch) and returns one outcome per
-- input position: 0 stored, 1 duplicate, 2 superseded, 3 deleted.
--
-- The caller passes distinct ids, sorted ascending, so concurrent batches take
-- their row locks in the same order. Tag rows refer to events by 1-based position.
CREATE OR REPLACE FUNCTION parrhesia_put_events(
  p_ids bytea[], p_pubkeys bytea[], p_created bigint[], p_kinds integer[], p_tags text[],
  p_contents text[], p_sigs bytea[], p_dtags text[], p_expires bigint[],
  p_tag_pos integer[], p_tag_names text[], p_tag_values text[]
) RETURNS TABLE (pos integer, outcome smallint) LANGUAGE plpgsql AS $fn$
DECLARE
  n integer := cardinality(p_ids);
  outcomes smallint[] := array_fill(NULL::smallint, ARRAY[n]);
  fresh bytea[];
  winners bytea[];
  r record;
BEGIN
  IF n = 0 THEN
    RETURN;
  END IF;

  -- 1. Claim the ids; those already present are duplicates.
  WITH ins AS (
    INSERT INTO event_ids (id) SELECT u.id FROM unnest(p_ids) AS u(id)
    ON CONFLICT (id) DO NOTHING
    RETURNING event_ids.id
  )
  SELECT coalesce(array_agg(ins.id), '{}') INTO fresh FROM ins;

  IF cardinality(fresh) < n THEN
    FOR r IN
      SELECT t.i FROM unnest(p_ids) WITH ORDINALITY AS t(id, i) WHERE t.id NOT IN (SELECT unnest(fresh))
    LOOP
      outcomes[r.i] := 1;
    END LOOP;
  END IF;

  -- 2. Deleted earlier: by id for this author (kinds 5 and 62 cannot be
  -- deleted), or a version of a deleted address (NIP-09 `a`).
  FOR r IN
    SELECT t.i
    FROM unnest(p_ids, p_pubkeys, p_kinds) WITH ORDINALITY AS t(id, pubkey, kind, i)
    JOIN deleted_events de ON de.id = t.id AND de.pubkey = t.pubkey
    WHERE outcomes[t.i] IS NULL AND t.kind NOT IN (5, 62)
  LOOP
    outcomes[r.i] := 3;
  END LOOP;
  FOR r IN
    SELECT t.i
    FROM unnest(p_pubkeys, p_kinds, p_dtags, p_created) WITH ORDINALITY AS t(pubkey, kind, d_tag, created_at, i)
    JOIN deleted_addresses da ON da.pubkey = t.pubkey AND da.kind = t.kind AND da.d_tag = t.d_tag
    WHERE t.d_tag IS NOT NULL AND outcomes[t.i] IS NULL AND t.created_at <= da.until
  LOOP
    outcomes[r.i] := 3;
  END LOOP;

  -- 3. Replaceable / addressable: the newest candidate of this batch per address
  -- is upserted into the heads; it wins only if it beats the stored head.
  WITH cand AS (
    SELECT DISTINCT ON (t.pubkey, t.kind, t.d_tag) t.id, t.pubkey, t.kind, t.d_tag, t.created_at
    FROM unnest(p_ids, p_pubkeys, p_kinds, p_dtags, p_created) WITH ORDINALITY AS t(id, pubkey, kind, d_tag, created_at, i)
    WHERE t.d_tag IS NOT NULL AND outcomes[t.i] IS NULL
    ORDER BY t.pubkey, t.kind, t.d_tag, t.created_at DESC, t.id ASC
  ), up AS (
    INSERT INTO replaceable_heads AS h (pubkey, kind, d_tag, id, created_at)
    SELECT c.pubkey, c.kind, c.d_tag, c.id, c.created_at FROM cand c
    ON CONFLICT (pubkey, kind, d_tag) DO UPDATE
      SET id = excluded.id, created_at = excluded.created_at
      WHERE excluded.created_at > h.created_at OR (excluded.created_at = h.created_at AND excluded.id < h.id)
    RETURNING h.id
  )
  SELECT coalesce(array_agg(up.id), '{}') INTO winners FROM up;

  FOR r IN
    SELECT t.i
    FROM unnest(p_ids, p_dtags) WITH ORDINALITY AS t(id, d_tag, i)
    WHERE t.d_tag IS NOT NULL AND outcomes[t.i] IS NULL AND t.id NOT IN (SELECT unnest(winners))
  LOOP
    outcomes[r.i] := 2;
  END LOOP;

  -- Deleted and superseded events give their claimed id back.
  DELETE FROM event_ids WHERE id IN (SELECT p_ids[i] FROM generate_series(1, n) AS i WHERE outcomes[i] IN (2, 3));

  -- Remove every other version stored at a won address (older heads, including
  -- ones committed by concurrent writers before our upsert got the row lock).
  IF cardinality(winners) > 0 THEN
    WITH w AS (
      SELECT t.id, t.pubkey, t.kind, t.d_tag
      FROM unnest(p_ids, p_pubkeys, p_kinds, p_dtags) AS t(id, pubkey, kind, d_tag)
      WHERE t.id IN (SELECT unnest(winners))
    ), gone AS (
      DELETE FROM events e USING w
      WHERE e.pubkey = w.pubkey AND e.kind = w.kind AND e.d_tag = w.d_tag AND e.id <> w.id
      RETURNING e.id, e.created_at
    ), gone_tags AS (
      DELETE FROM event_tags et USING gone WHERE et.event_id = gone.id AND et.created_at = gone.created_at
    )
    DELETE FROM event_ids ei USING gone WHERE ei.id = gone.id;
  END IF;

  -- 4. Store the rest.
  INSERT INTO events (id, pubkey, created_at, kind, tags, content, sig, d_tag, expires_at)
  SELECT t.id, t.pubkey, t.created_at, t.kind, t.tags::jsonb, t.content, t.sig, t.d_tag, t.expires_at
  FROM unnest(p_ids, p_pubkeys, p_created, p_kinds, p_tags, p_contents, p_sigs, p_dtags, p_expires)
       WITH ORDINALITY AS t(id, pubkey, created_at, kind, tags, content, sig, d_tag, expires_at, i)
  WHERE outcomes[t.i] IS NULL;

  INSERT INTO event_tags (event_id, name, value, created_at)
  SELECT p_ids[x.i], x.name, x.value, p_created[x.i]
  FROM unnest(p_tag_pos, p_tag_names, p_tag_values) AS x(i, name, value)
  WHERE outcomes[x.i] IS NULL;

  RETURN QUERY SELECT i, coalesce(outcomes[i], 0::smallint) FROM generate_series(1, n) AS i;
END
$fn$;
