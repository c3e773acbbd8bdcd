-- Streams (`streams`, NIP-86 addstream & co.): one row per remote URL. A
-- stream added at run time (`runtime`) keeps its spec here; a configured one
-- gets a row once it is paused or has a position. Positions: the newest
-- event (created_at, id) seen from the remote (down) or sent to it (up);
-- after a restart each direction catches up from there.
CREATE TABLE streams (
  url        text    PRIMARY KEY,
  runtime    boolean NOT NULL DEFAULT false,
  direction  text    NOT NULL DEFAULT 'down',
  filter     text    NOT NULL DEFAULT '',
  auth_key   text    NOT NULL DEFAULT '',
  paused     boolean NOT NULL DEFAULT false,
  down_at    bigint,
  down_id    text,
  up_at      bigint,
  up_id      text,
  created_at bigint  NOT NULL DEFAULT (extract(epoch FROM now())::bigint)
);
