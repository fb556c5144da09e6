-- SPDX-License-Identifier: Apache-2.0
-- packetbroker DLQ schema, migration 2 (PRAGMA user_version = 2).
-- server/dlq_store.c embeds this exact text (a unit test compares them).
-- Three indexes instead of four, for faster spills and deletes: the
-- uniqueness key now leads with origin_node, so it also serves the node
-- filter that dlq_origin served. SQLite cannot change a constraint in
-- place: the rows move to a new table, with their ids and the
-- AUTOINCREMENT counter (ids are never reused).
CREATE TABLE dlq_v2 (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	peer TEXT NOT NULL,
	origin_node INTEGER NOT NULL,
	origin_source INTEGER NOT NULL,
	origin_epoch INTEGER NOT NULL,
	origin_seq INTEGER NOT NULL,
	capture_ns INTEGER NOT NULL,
	enqueue_ns INTEGER NOT NULL,
	reason TEXT NOT NULL CHECK (reason IN ('timeout', 'overflow', 'shutdown', 'peer_removed')),
	attempts INTEGER NOT NULL DEFAULT 0,
	bytes INTEGER NOT NULL,
	record BLOB NOT NULL,
	UNIQUE (origin_node, origin_epoch, origin_seq, origin_source, peer)
);
INSERT INTO dlq_v2 SELECT id, peer, origin_node, origin_source, origin_epoch, origin_seq,
	capture_ns, enqueue_ns, reason, attempts, bytes, record FROM dlq ORDER BY id;
DELETE FROM sqlite_sequence WHERE name = 'dlq_v2';
INSERT INTO sqlite_sequence (name, seq) SELECT 'dlq_v2', seq FROM sqlite_sequence WHERE name = 'dlq';
DROP TABLE dlq;
ALTER TABLE dlq_v2 RENAME TO dlq;
CREATE INDEX dlq_peer_id ON dlq (peer, id);
CREATE INDEX dlq_capture ON dlq (capture_ns);
