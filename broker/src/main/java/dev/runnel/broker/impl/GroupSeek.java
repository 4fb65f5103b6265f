package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * A group's seek on a topic (DESIGN.md section 4): every partition's target is resolved first, and they all move only
 * when every one resolved and every state machine loaded, in one turn of the group's context, so one bad partition
 * moves none; a dry run reads the positions and changes nothing. Runs on the group's context.
 */
final class GroupSeek {

  private final String group;
  private final DeliveryEngine engine;
  private final GroupPartitions partitions;
  /** Completes once the group's own config is loaded (a state machine's retry policy). */
  private final Supplier<Future<Void>> config;

  GroupSeek(String group, DeliveryEngine engine, GroupPartitions partitions, Supplier<Future<Void>> config) {
    this.group = group;
    this.engine = engine;
    this.partitions = partitions;
    this.config = config;
  }

  /** Moves the partitions to their positions (a dry run: answers where they would go, and creates nothing). */
  Future<List<SeekResult>> seek(String topicName, List<SeekPosition> positions, boolean dryRun) {
    return engine.broker().topicMetadata(topicName).compose(topic -> {
      for (SeekPosition pos : positions) {
        if (pos.partition() < 0 || pos.partition() >= topic.partitions()) {
          return Future.failedFuture(new BrokerException(BrokerError.PARTITION_OUT_OF_RANGE, "partition "
              + pos.partition() + " does not exist; topic " + topicName + " has " + topic.partitions() + " partitions"));
        }
      }
      List<Future<Long>> targets = new ArrayList<>();
      for (SeekPosition pos : positions) {
        targets.add(PartitionDelivery.target(engine.broker().leader(topic, pos.partition()), topic.name(), pos));
      }
      return Future.all(targets).compose(resolved -> dryRun ? wouldMove(topic, positions, resolved.list())
          : move(topic, positions, resolved.list()));
    });
  }

  /** The positions now (the state machine's if loaded, else storage's; null: none yet) and the targets. */
  private Future<List<SeekResult>> wouldMove(TopicMetadata topic, List<SeekPosition> positions, List<Long> targets) {
    List<Future<Long>> current = new ArrayList<>();
    for (SeekPosition pos : positions) {
      PartitionDelivery pd = partitions.get(topic.id(), pos.partition());
      current.add(pd != null && pd.isLoaded() ? Future.succeededFuture(pd.committed())
          : engine.store().groupState().load(group, topic.id(), pos.partition())
              .map(state -> state.committedOffset() >= 0 ? state.committedOffset() : null));
    }
    return Future.all(current).map(all -> {
      List<SeekResult> results = new ArrayList<>();
      for (int i = 0; i < positions.size(); i++) {
        results.add(new SeekResult(positions.get(i).partition(), all.resultAt(i), targets.get(i)));
      }
      return results;
    });
  }

  private Future<List<SeekResult>> move(TopicMetadata looked, List<SeekPosition> positions, List<Long> targets) {
    TopicMetadata topic = engine.broker().latest(looked);
    partitions.uses(topic);
    List<PartitionDelivery> pds = new ArrayList<>();
    List<Future<Void>> loads = new ArrayList<>();
    for (SeekPosition pos : positions) {
      PartitionDelivery pd = partitions.delivery(topic, pos.partition());
      pds.add(pd);
      loads.add(config.get().compose(v -> pd.load(false)));
    }
    return Future.all(loads).map(v -> {
      List<SeekResult> results = new ArrayList<>();
      for (int i = 0; i < pds.size(); i++) {
        PartitionDelivery pd = pds.get(i);
        long before = pd.committed();
        pd.moveTo(targets.get(i));
        results.add(new SeekResult(pd.partition, before, targets.get(i)));
      }
      return results;
    });
  }
}
