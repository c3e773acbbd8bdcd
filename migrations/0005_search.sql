-- NIP-50 full-text search over the 'simple' text-search configuration (no
-- stemming, no stop words: any language matches word for word). The vector
-- is stored, so ranking reads it instead of re-parsing every matching
-- content; a GIN index over it finds the matches.
ALTER TABLE events ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (to_tsvector('simple', content)) STORED;

CREATE INDEX events_search_idx ON events USING gin (search_vector);

-- Partitions made over rows already in the DEFAULT partition copy the generated
-- column's definition and move the other columns only (a generated column
-- cannot be written).
CREATE OR REPLACE FUNCTION parrhesia_create_partition(p_parent text, p_name text, p_lo bigint, p_hi bigint)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  def text := p_parent || '_default';
  has_rows boolean;
  cols text;
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
      EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING GENERATED)', p_name, p_parent);
      SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
        FROM pg_attribute a
        WHERE a.attrelid = p_parent::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
      EXECUTE format(
        'WITH moved AS (DELETE FROM %I WHERE created_at >= $1 AND created_at < $2 RETURNING %s) INSERT INTO %I (%s) SELECT %s FROM moved',
        def, cols, p_name, cols, cols) USING p_lo, p_hi;
      EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%s) TO (%s)', p_parent, p_name, p_lo, p_hi);
    END IF;
  EXCEPTION WHEN invalid_object_definition THEN
    -- "partition would overlap partition ...": another layout already covers (part of) this range.
    RETURN 0;
  END;
  RETURN 1;
END
$fn$;
