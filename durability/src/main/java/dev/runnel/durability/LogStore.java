package dev.runnel.durability;

import dev.runnel.durability.impl.PgLogStore;
import io.vertx.core.Future;
import io.vertx.core.Vertx;

import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.function.UnaryOperator;

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

  /**
   * Changes a topic's config and answers the topic as stored after. {@code change} gets the stored config and answers
   * the new one; it may throw {@link IllegalArgumentException} to refuse (the future fails with it), and may run more
   * than once: the update is one statement that lands only if the stored config is still the one {@code change} saw,
   * and is tried again when another update came first. A changed {@code dedupWindowMs} applies at once to every stored
   * idempotency key (a key is a duplicate while its record is younger than the window in force), except that keys
   * already forgotten do not come back. Once the future completes, the topic's partition writers use the new config.
   * Fails {@code TOPIC_NOT_FOUND} when there is no such topic.
   */
  Future<TopicMetadata> updateTopicConfig(String name, UnaryOperator<TopicConfig> change);

  /**
   * Grows a topic to {@code partitions} partitions in one statement: the new partitions, and position 0 in each new
   * partition for every group that has a position in the topic (so a group that comes back later reads the new
   * partitions from their start, whatever its members ask for). Never shrinks: a topic that already has that many
   * is answered unchanged. Answers the topic as stored after; fails {@code TOPIC_NOT_FOUND} when it is gone.
   */
  Future<TopicMetadata> growPartitions(UUID topicId, int partitions);

  /** The sizes of a topic's retained log, per partition, from the batch rows: cheap, whatever the topic's size. */
  Future<TopicStats> stats(TopicMetadata topic);

  /** Deletes the topic and all its records; false if it did not exist. */
  Future<Boolean> deleteTopic(String name);

  /** The partition's log; its writer acquires the partition's lease on first use. */
  PartitionLog partition(TopicMetadata topic, int partition);

  /**
   * The partitions this store has a writer for (it holds their leases, or takes them at their next use): a clustered
   * node walks them when its view changes, to give back what another node should lead.
   */
  Set<TopicPartition> writing();

  /**
   * Gives a partition back (a cluster hand-off): its writer takes no more appends, lets the queued ones commit,
   * releases the lease (another node need not wait for it to expire) and is forgotten; the next {@link #partition}
   * call makes a new writer, which acquires again. Completes once the lease is released; at once when there is none.
   */
  Future<Void> release(TopicPartition partition);

  /** Consumer-group state kept beside the log. */
  GroupStateStore groupState();

  /** Retention calls this before each segment it drops (at most one guard). */
  void setRetentionGuard(RetentionGuard guard);

  /** Drops every segment that the retention settings of its topic no longer keep. */
  Future<Void> enforceRetention();

  /**
   * Reads the topic {@code held} describes again, after another node changed or deleted it: if it is still there
   * (same id), this store's writers of it take the new metadata; if not, they fail TOPIC_NOT_FOUND. Answers what its
   * name holds now (null for nothing, or another topic of that name).
   */
  Future<TopicMetadata> refresh(TopicMetadata held);

  /** Whose leases this store holds. */
  Incarnation incarnation();

  /** Every partition's and group's lease row, read from Postgres now (topics by name, then partition; groups by name). */
  Future<LeaseTable> leases();

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
