-- Which relay process runs each stream (several hosts on one database): a
-- lease the running process renews every second; another may take it over
-- once `lease_until` (unix seconds) has passed.
ALTER TABLE streams ADD COLUMN owner text;
ALTER TABLE streams ADD COLUMN lease_until bigint;
