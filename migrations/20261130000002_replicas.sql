-- Several Yagura servers (replicas) on one PostgreSQL database: the
-- replica that runs an execution as a local process claims it, and holds
-- it under a lease its heartbeats renew. When the lease runs out (that
-- replica died), another replica fails or requeues the execution by its
-- agent's policy. Also set on SQLite, where the one server is the replica.
ALTER TABLE executions ADD COLUMN replica_id TEXT;
ALTER TABLE executions ADD COLUMN replica_lease_until BIGINT;
CREATE INDEX executions_replica ON executions (replica_id);
