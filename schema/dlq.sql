-- SPDX-License-Identifier: Apache-2.0
-- packetbroker DLQ schema, migration 1 (PRAGMA user_version = 1).
-- server/dlq_store.c embeds this exact text (a unit test compares them).
-- auto_vacuum=INCREMENTAL and journal_mode=WAL are set by the code first.
CREATE TABLE dlq (
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
	UNIQUE (peer, origin_node, origin_source, origin_epoch, origin_seq)
);
CREATE INDEX dlq_peer_id ON dlq (peer, id);
CREATE INDEX dlq_origin ON dlq (origin_node, origin_epoch, origin_seq);
CREATE INDEX dlq_capture ON dlq (capture_ns);
CREATE TABLE meta (
	key TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
