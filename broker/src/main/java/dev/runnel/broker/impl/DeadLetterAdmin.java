package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import dev.runnel.durability.DeadLetterOrigin;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A group's dead letters, as an operator sees them: listed with their records, redriven (to the group, or
 * re-published to the original topic), deleted. Runs on its group's context, through the group's runtime, and writes
 * the group's state under the group's epoch.
 */
final class DeadLetterAdmin {

  /** What this needs of its group. */
  interface Group {
    String name();

    long groupEpoch();

    long now();

    /** Completes once the group's own config is loaded (its dead-letter topic pattern). */
    Future<Void> loadConfig();

    String deadLetterTopicName(TopicMetadata topic);

    /** The group's state machines take the records back; answers how many. */
    Future<Integer> redriveToGroup(TopicMetadata topic, List<DeadLetterOrigin> origins);
  }

  /** Redrive reads at most this many dead letters of a topic. */
  private static final int REDRIVE_LIMIT = 100_000;

  private final Group group;
  private final DeliveryEngine engine;

  DeadLetterAdmin(Group group, DeliveryEngine engine) {
    this.group = group;
    this.engine = engine;
  }

  Future<List<DeadLetter>> list(String topicName, int limit) {
    return engine.broker().topicMetadata(topicName).compose(topic -> group.loadConfig()
        .compose(v -> engine.store().groupState().deadLetterOrigins(group.name(), topic.id(), limit))
        .compose(origins -> {
          List<Future<DeadLetter>> letters = new ArrayList<>();
          for (DeadLetterOrigin o : origins) {
            // The topic the dead letter went to, by its id: the name pattern may have changed since.
            letters.add(engine.broker().topicName(o.dlqTopicId()).compose(dlq -> {
              String dlqName = dlq != null ? dlq : group.deadLetterTopicName(topic);
              return (dlq == null ? Future.<StoredRecord>succeededFuture(null)
                  : engine.broker().read(dlq, o.dlqPartition(), o.dlqOffset(), 1, 16 << 20)
                      .map(r -> r.records().isEmpty() ? null : r.records().get(0))
                      .otherwise((StoredRecord) null))
                  .map(record -> new DeadLetter(topic.name(), o.partition(), o.offset(), dlqName, o.dlqPartition(),
                      o.dlqOffset(), o.reason(), o.deadLetteredAt(), record));
            }));
          }
          return Future.all(letters).map(all -> all.<DeadLetter>list());
        }));
  }

  /**
   * Sends dead letters back: to this group only (its state machine delivers the original records again), or to the
   * original topic for every group. Either way their origin rows go, so they can be dead-lettered again.
   */
  Future<Integer> redrive(String topicName, boolean toGroup, Integer partition, List<Long> offsets) {
    return engine.broker().topicMetadata(topicName).compose(topic -> checkPartition(topic, partition)
        .compose(v -> group.loadConfig())
        .compose(v -> engine.store().groupState().deadLetterOrigins(group.name(), topic.id(), REDRIVE_LIMIT))
        .compose(all -> {
          List<DeadLetterOrigin> chosen = all.stream()
              .filter(o -> partition == null || o.partition() == partition)
              .filter(o -> offsets == null || offsets.contains(o.offset())).toList();
          if (chosen.isEmpty()) {
            return Future.succeededFuture(0);
          }
          if (toGroup) {
            // The state machines take the records back; each deletes their origins in the same save as the records'
            // parked rows (so they can be dead-lettered again, and a crash cannot lose the redrive).
            return group.redriveToGroup(topic, chosen);
          }
          // Re-published as new records: the originals stay done for this group, so their origins are dismissed,
          // not deleted (one ahead of the committed offset is what keeps its record from coming back after a stop).
          return republish(topic, chosen).compose(n -> dismiss(topic, chosen).map(n));
        }));
  }

  /**
   * Deletes dead letters of a topic (of one partition, at some offsets): no longer listed nor redriven; their records
   * stay done (DESIGN.md section 4), and the dead-letter records stay in the dead-letter topic's log.
   */
  Future<Integer> delete(String topicName, Integer partition, List<Long> offsets) {
    return engine.broker().topicMetadata(topicName).compose(topic -> checkPartition(topic, partition)
        .compose(v -> engine.store().groupState().dismissDeadLetterOrigins(group.name(), group.groupEpoch(),
            topic.id(), partition, offsets, group.now())));
  }

  private Future<Void> dismiss(TopicMetadata topic, List<DeadLetterOrigin> origins) {
    Map<Integer, List<Long>> byPartition = new TreeMap<>();
    origins.forEach(o -> byPartition.computeIfAbsent(o.partition(), p -> new ArrayList<>()).add(o.offset()));
    List<Future<Integer>> all = new ArrayList<>();
    byPartition.forEach((p, offsets) -> all.add(engine.store().groupState()
        .dismissDeadLetterOrigins(group.name(), group.groupEpoch(), topic.id(), p, offsets, group.now())));
    return Future.all(all).mapEmpty();
  }

  private Future<Integer> republish(TopicMetadata topic, List<DeadLetterOrigin> origins) {
    List<Future<StoredRecord>> reads = new ArrayList<>();
    for (DeadLetterOrigin o : origins) {
      reads.add(engine.broker().topicName(o.dlqTopicId())
          .compose(dlq -> engine.broker().read(dlq != null ? dlq : group.deadLetterTopicName(topic), o.dlqPartition(),
              o.dlqOffset(), 1, 16 << 20))
          .map(r -> r.records().get(0)));
    }
    return Future.all(reads).compose(all -> {
      List<ProduceRecord> records = new ArrayList<>();
      for (int i = 0; i < origins.size(); i++) {
        StoredRecord r = all.resultAt(i);
        records.add(new ProduceRecord(r.key(), r.value(), r.contentType(),
            r.headers().stream().filter(h -> !h.name().startsWith("runnel.dlq.")).toList(), origins.get(i).partition(),
            null));
      }
      return engine.broker().produce(topic.name(), records).map(List::size);
    });
  }

  /** Fails PARTITION_OUT_OF_RANGE unless {@code partition} is null (every partition) or one of the topic's. */
  private static Future<Void> checkPartition(TopicMetadata topic, Integer partition) {
    if (partition != null && (partition < 0 || partition >= topic.partitions())) {
      return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "partition " + partition
          + " does not exist; topic " + topic.name() + " has " + topic.partitions() + " partitions"));
    }
    return Future.succeededFuture();
  }
}
