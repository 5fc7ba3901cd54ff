-- SPEC §2.9: a new child of a parent that has ended is refused. Every
-- create path inserts through this trigger, which locks the parent row
-- FOR SHARE (it conflicts with the FOR NO KEY UPDATE that finish, cancel
-- and reap take) and reads its state: a finish that committed first is
-- seen (READ COMMITTED re-reads the locked row), and a finish that comes
-- second waits for the child's commit, so no child is ever created after
-- its parent's terminal event. A run that exists already (a repeat, or a
-- racing creator of the same child) is let through to ON CONFLICT.
-- The error is SQLSTATE check_violation with constraint
-- runs_parent_active; its DETAIL is "<child id>\n<parent id>\n<state>".
-- An import records history rather than deciding it: its transaction sets
-- runledger.importing to 'on' (SET LOCAL) and is let through.
CREATE FUNCTION runs_parent_active() RETURNS trigger LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    parent_state text;
BEGIN
    IF current_setting('runledger.importing', true) = 'on' THEN
        RETURN NEW;
    END IF;
    IF EXISTS (SELECT 1 FROM runs WHERE tenant = NEW.tenant AND id = NEW.id) THEN
        RETURN NEW;
    END IF;
    IF NEW.key IS NOT NULL AND EXISTS (SELECT 1 FROM runs WHERE tenant = NEW.tenant
            AND parent_id = NEW.parent_id AND key = NEW.key) THEN
        RETURN NEW;
    END IF;
    SELECT state INTO parent_state FROM runs
        WHERE tenant = NEW.tenant AND id = NEW.parent_id FOR SHARE;
    IF parent_state IN ('succeeded', 'failed', 'cancelled', 'timed_out') THEN
        RAISE EXCEPTION 'parent run % is %', NEW.parent_id, parent_state
            USING ERRCODE = 'check_violation', CONSTRAINT = 'runs_parent_active',
                DETAIL = NEW.id || E'\n' || NEW.parent_id || E'\n' || parent_state;
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER runs_parent_active BEFORE INSERT ON runs
FOR EACH ROW WHEN (NEW.parent_id IS NOT NULL)
EXECUTE FUNCTION runs_parent_active();
