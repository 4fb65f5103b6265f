package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.Partitioner;
import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.ProduceResult;
import dev.runnel.durability.AppendResult;
import dev.runnel.durability.LogRecord;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.micrometer.core.instrument.MeterRegistry;
import io.vertx.core.Future;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A produce request's way to the log: checks every record, picks each one's partition (DESIGN.md section 2), and
 * sends each partition's share as one batch to that partition's leader, keeping the request's order within a
 * partition; counts what was stored. Thread-safe: any context may call it.
 */
final class ProduceRouter {

  private final Topics topics;
  private final Routes routes;
  private final MeterRegistry registry;
  private final AtomicInteger spread = new AtomicInteger();
  /** Topic name → its produce meters, looked up once per topic (a topic that exists). */
  private final Map<String, ProduceMeters> meters = new ConcurrentHashMap<>();

  ProduceRouter(Topics topics, Routes routes, MeterRegistry registry) {
    this.topics = topics;
    this.routes = routes;
    this.registry = registry;
  }

  Future<List<ProduceResult>> produce(String topicName, List<ProduceRecord> records, boolean deduplicate) {
    if (records.isEmpty()) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_RECORD, "no records to produce"));
    }
    if (deduplicate && records.stream().anyMatch(r -> r.idempotencyKey() == null)) {
      return Future.failedFuture(new BrokerException(BrokerError.INVALID_RECORD,
          "a deduplicated produce needs an idempotency key on every record"));
    }
    long started = System.nanoTime();
    return topics.get(topicName).compose(topic -> {
      int[] sizes = new int[records.size()];
      Map<Integer, List<Integer>> byPartition = partitions(topic, records, sizes);  // validates everything first
      ProduceResult[] results = new ProduceResult[records.size()];
      List<Future<AppendResult>> appends = new ArrayList<>();
      ProduceMeters counted = meters(topicName);
      for (Map.Entry<Integer, List<Integer>> e : byPartition.entrySet()) {
        int partition = e.getKey();
        List<Integer> indexes = e.getValue();
        List<LogRecord> batch = new ArrayList<>(indexes.size());
        for (int i : indexes) {
          batch.add(Values.toLog(records.get(i)));
        }
        appends.add(routes.leader(topic, partition).append(batch, deduplicate).andThen(ar -> {
          if (ar.succeeded()) {
            answer(ar.result(), partition, indexes, sizes, results, counted);
          }
        }));
      }
      return Future.all(appends).map(cf -> {
        counted.committed(started);
        return List.of(results);
      });
    }).recover(err -> {
      if (err instanceof StorageException s && s.failure() == StorageFailure.TOPIC_NOT_FOUND) {
        topics.forget(topicName);
      }
      return Future.failedFuture(err);
    });
  }

  /** The records' indexes by partition (in request order); throws a BrokerException for the first bad record. */
  private Map<Integer, List<Integer>> partitions(TopicMetadata topic, List<ProduceRecord> records, int[] sizes) {
    int n = topic.partitions();
    int unkeyedPartition = Math.floorMod(spread.getAndIncrement(), n);
    Map<Integer, List<Integer>> byPartition = new TreeMap<>();
    for (int i = 0; i < records.size(); i++) {
      ProduceRecord r = records.get(i);
      if (r.partition() != null && (r.partition() < 0 || r.partition() >= n)) {
        throw new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "record " + i + ": partition " + r.partition()
            + " does not exist; topic " + topic.name() + " has " + n + " partitions");
      }
      int size = Values.toLog(r).encodedSize();
      sizes[i] = size;
      if (size > topic.config().maxRecordBytes()) {
        throw new BrokerException(BrokerError.RECORD_TOO_LARGE, "record " + i + " takes " + size + " bytes; topic "
            + topic.name() + " accepts at most " + topic.config().maxRecordBytes());
      }
      int partition = r.partition() != null ? r.partition()
          : r.key() != null ? Partitioner.partitionForKey(r.key(), n)
          : r.idempotencyKey() != null ? Partitioner.partitionForKey(r.idempotencyKey(), n)
          : unkeyedPartition;  // one partition per request: one write instead of many
      byPartition.computeIfAbsent(partition, k -> new ArrayList<>()).add(i);
    }
    return byPartition;
  }

  private static void answer(AppendResult res, int partition, List<Integer> indexes, int[] sizes,
                             ProduceResult[] results, ProduceMeters counted) {
    long next = res.baseOffset();
    long stored = 0;
    long bytes = 0;
    for (int j = 0; j < indexes.size(); j++) {
      AppendResult.Duplicate dup = res.duplicates() == null ? null : res.duplicates()[j];
      results[indexes.get(j)] = dup != null
          ? new ProduceResult(partition, dup.offset(), dup.timestamp(), true)
          : new ProduceResult(partition, next++, res.timestamp(), false);
      if (dup == null) {
        stored++;
        bytes += sizes[indexes.get(j)];
      }
    }
    counted.records.increment(stored);
    counted.bytes.increment(bytes);
  }

  private ProduceMeters meters(String topic) {
    ProduceMeters m = meters.get(topic);
    return m != null ? m : meters.computeIfAbsent(topic, t -> new ProduceMeters(registry, t));
  }

  /** A deleted topic's meters leave the registry. */
  void topicDeleted(String topic) {
    if (meters.remove(topic) != null) {
      ProduceMeters.remove(registry, topic);
    }
  }

  void close() {
    meters.keySet().forEach(t -> ProduceMeters.remove(registry, t));
    meters.clear();
  }
}
