-- Each event's JSON text, exactly as the relay serialized it at ingest
-- (eventJson: {"id","pubkey","created_at","kind","tags","content","sig"} in
-- that order, no whitespace). REQ answers send it as stored instead of
-- rebuilding the event from its columns. Rows written before this migration
-- have NULL here and are served from their columns, so no rewrite of existing
-- tables is needed: adding a nullable column without a default only changes
-- the catalog.
ALTER TABLE events ADD COLUMN event_json text;

-- parrhesia_put_events writes it: from an optional 13th array of texts
-- (same positions as p_ids) when the writer passes one, else built here from
-- the parameters it already has. The 12-argument version is dropped first: with a
-- defaulted 13th parameter a 12-argument call would match both.
DROP FUNCTION parrhesia_put_events(bytea[], bytea[], bigint[], integer[], text[], text[], bytea[], text[], bigint[], integer[], text[], text[]);

CREATE OR REPLACE FUNCTION parrhesia_put_events(
  p_ids bytea[], p_pubkeys bytea[], p_created bigint[], p_kinds integer[], p_tags text[],
  p_contents text[], p_sigs bytea[], p_dtags text[], p_expires bigint[],
  p_tag_pos integer[], p_tag_names text[], p_tag_values text[],
  p_jsons text[] DEFAULT NULL
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
  INSERT INTO events (id, pubkey, created_at, kind, tags, content, sig, d_tag, expires_at, event_json)
  SELECT t.id, t.pubkey, t.created_at, t.kind, t.tags::jsonb, t.content, t.sig, t.d_tag, t.expires_at,
         -- The writer's text when it passes one, else the same bytes as the relay's eventJson: p_tags holds
         -- JSON.stringify(tags) as sent, and to_json escapes a string exactly as JSON.stringify does
         -- (\" \\ \b \f \n \r \t, other control characters as lowercase \u00xx, everything else verbatim).
         coalesce(p_jsons[t.i],
           '{"id":"' || encode(t.id, 'hex') || '","pubkey":"' || encode(t.pubkey, 'hex') || '","created_at":' || t.created_at
           || ',"kind":' || t.kind || ',"tags":' || t.tags || ',"content":' || to_json(t.content)::text
           || ',"sig":"' || encode(t.sig, 'hex') || '"}')
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
