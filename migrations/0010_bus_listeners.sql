-- Notifications only when somebody else listens.
--
-- A relay process alone on its database (the default: one process on its own
-- embedded server) has nobody to tell about its commits: its own listener
-- skips its own notifications. Sending them anyway cost PostgreSQL ~14 us of
-- CPU per stored event, plus the relay's own listener reading each back.
--
-- Every process's cluster-bus listener connects with application_name
-- 'parrhesia-bus <origin>'; a writer asks parrhesia_bus_others whether any
-- other such connection exists, in the statement that stores the batch, and
-- leaves the notifications out while none does (the quiet statement raises
-- instead of storing if one has appeared: the writer then sends the batch
-- again with its notifications).
--
-- The race with a process that starts listening is closed by a lock:
-- parrhesia_bus_others reads parrhesia_bus_barrier, so each writer statement
-- holds ACCESS SHARE on it until it commits. A new listener, once LISTEN runs,
-- takes ACCESS EXCLUSIVE on it in a transaction of its own: that waits for
-- every statement that may have decided "alone" before the listener's
-- connection existed, and later statements see the connection. Only then does
-- the listener count itself as listening and fill what it missed (the hot
-- window refills from the store), so nothing committed in between is missed.
CREATE TABLE parrhesia_bus_barrier ();

CREATE FUNCTION parrhesia_bus_others(p_me text) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM FROM parrhesia_bus_barrier LIMIT 0;
  RETURN EXISTS (
    SELECT 1 FROM pg_stat_activity
    WHERE datname = current_database()
      AND application_name LIKE 'parrhesia-bus %' AND application_name <> 'parrhesia-bus ' || p_me
  );
END
$fn$;

-- The quiet statement's guard: true when alone, else an error (nothing of the statement is kept).
CREATE FUNCTION parrhesia_bus_alone(p_me text) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  IF parrhesia_bus_others(p_me) THEN
    RAISE EXCEPTION 'parrhesia_bus_others_listen: another process listens to the cluster bus' USING ERRCODE = 'P0B01';
  END IF;
  RETURN true;
END
$fn$;
