-- NIP-29 groups and NIP-43 relay membership in one place (GroupStore,
-- src/storage/GroupStore.ts). A scope is a group id, or '' for the relay
-- itself (NIP-43). Small tables: the relay loads them whole at start, writes
-- through on every change and reloads a scope another process changed.

CREATE TABLE nip29_groups (
  id              text    PRIMARY KEY,
  name            text    NOT NULL DEFAULT '',
  picture         text    NOT NULL DEFAULT '',
  about           text    NOT NULL DEFAULT '',
  banner          text    NOT NULL DEFAULT '',
  private         boolean NOT NULL DEFAULT false,
  restricted      boolean NOT NULL DEFAULT false,
  hidden          boolean NOT NULL DEFAULT false,
  closed          boolean NOT NULL DEFAULT false,
  -- NULL: every kind
  supported_kinds text[],
  parent          text,
  children        text[]  NOT NULL DEFAULT '{}',
  -- ordered [["e", id] | ["a", address], ...]
  pins            text    NOT NULL DEFAULT '[]',
  created_at      bigint  NOT NULL
);

CREATE TABLE group_members (
  scope    text   NOT NULL,
  pubkey   text   NOT NULL,
  roles    text[] NOT NULL DEFAULT '{}',
  added_at bigint NOT NULL DEFAULT (extract(epoch FROM now())::bigint),
  PRIMARY KEY (scope, pubkey)
);

CREATE TABLE group_invites (
  scope      text    NOT NULL,
  code       text    NOT NULL,
  -- unix seconds; 0: never
  expires_at bigint  NOT NULL DEFAULT 0,
  single_use boolean NOT NULL,
  PRIMARY KEY (scope, code)
);

CREATE TABLE group_roles (
  scope       text NOT NULL,
  id          text NOT NULL,
  label       text NOT NULL DEFAULT '',
  description text NOT NULL DEFAULT '',
  color       text NOT NULL DEFAULT '',
  ord         text NOT NULL DEFAULT '',
  PRIMARY KEY (scope, id)
);

-- NIP-43 members and unclaimed invites move over from the moderation lists.
INSERT INTO group_members (scope, pubkey, added_at)
  SELECT '', value, created_at FROM moderation_entries WHERE list = 'members'
  ON CONFLICT DO NOTHING;

INSERT INTO group_invites (scope, code, expires_at, single_use)
  SELECT '', value, CASE WHEN reason ~ '^[0-9]{1,18}$' THEN reason::bigint ELSE 0 END, true
  FROM moderation_entries WHERE list = 'invites'
  ON CONFLICT DO NOTHING;

DELETE FROM moderation_entries WHERE list IN ('members', 'invites');
