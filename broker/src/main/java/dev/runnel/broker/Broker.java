package dev.runnel.broker;

import dev.runnel.broker.impl.LocalBroker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.ReadResult;
import dev.runnel.durability.TopicConfig;
import io.vertx.core.Future;

import java.util.List;

/**
 * The broker's public API, what every transport talks to. Failures are {@link BrokerException}s carrying a
 * {@link BrokerError}; futures complete on the caller's context.
 */
public interface Broker {

  static Broker create(LogStore store) {
    return new LocalBroker(store);
  }

  /** Creates a topic; an identical existing topic answers {@code created == false}, a different one TOPIC_EXISTS. */
  Future<TopicCreated> createTopic(String name, int partitions, TopicConfig config);

  Future<List<TopicDescription>> listTopics();

  Future<TopicDescription> describeTopic(String name);

  Future<Void> deleteTopic(String name);

  /**
   * Stores records and answers, in request order, where each went, once all are committed. Validation is
   * all-or-nothing: a bad record fails the call and stores nothing.
   */
  Future<List<ProduceResult>> produce(String topic, List<ProduceRecord> records);

  /** Reads committed records of one partition from an offset (see {@link dev.runnel.durability.PartitionLog#read}). */
  Future<ReadResult> read(String topic, int partition, long offset, int maxRecords, int maxBytes);

  /** Succeeds when storage answers. */
  Future<Void> checkReady();
}
