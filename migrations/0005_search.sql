-- NIP-50 full-text search: a GIN index over the 'simple' text-search
-- configuration (no stemming, no stop words: any language matches word for
-- word). Queries use the same expression, to_tsvector('simple', content).
CREATE INDEX events_content_search_idx ON events USING gin (to_tsvector('simple', content));
