package dev.runnel.durability;

import dev.runnel.durability.impl.PgLogStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.util.List;

/** Topics and their partitioned logs, kept in PostgreSQL. */
public interface LogStore {

  /**
   * Applies the schema migrations, checks that the server is durable (unless told not to require it), and opens the
   * store. Runs the blocking parts on a worker thread.
   */
  static Future<LogStore> open(Vertx vertx, StoreOptions options) {
    return PgLogStore.open(vertx, options);
  }

  /** Creates a topic, or answers the existing one of that name with {@code created == false}. */
  Future<TopicCreation> createTopic(String name, int partitions, TopicConfig config);

  /** The topic of that name, or {@code null}. */
  Future<TopicMetadata> topic(String name);

  Future<List<TopicMetadata>> topics();

  /** Deletes the topic and all its records; false if it did not exist. */
  Future<Boolean> deleteTopic(String name);

  /** The partition's log; its writer acquires the partition's lease on first use. */
  PartitionLog partition(TopicMetadata topic, int partition);

  /** Consumer-group state kept beside the log. */
  GroupStateStore groupState();

  /** Retention calls this before each segment it drops (at most one guard). */
  void setRetentionGuard(RetentionGuard guard);

  /** Drops every segment that the retention settings of its topic no longer keep. */
  Future<Void> enforceRetention();

  /** Succeeds when Postgres answers a query and appends are not refused ({@link StoreOptions#setUnwritable}). */
  Future<Void> ping();

  /**
   * Fails when the store cannot recover by itself (see {@link StoreOptions#setUnrecoverable}), so a supervisor should
   * restart the process; a Postgres that is down but may come back is not a liveness failure.
   */
  Future<Void> checkLive();

  /** Stops accepting appends, lets queued ones finish, releases the leases, and closes the connections. */
  Future<Void> close();
}
