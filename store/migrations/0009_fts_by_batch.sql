-- The full-text index was filled by a trigger on every message insert: a third of the
-- single writer's time per chat message, because a trigger-firing insert is a
-- sub-program with its own statement journal, one per row. The store now indexes the
-- messages it inserts itself, in the same transaction, with one statement per batch
-- (Tx.indexMessages): the index stays exactly as consistent as before (committed or
-- rolled back with its messages) at a quarter of the cost. The delete and update
-- triggers stay: those paths are rare.
DROP TRIGGER messages_fts_insert;
