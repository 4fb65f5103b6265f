package dev.runnel.broker.impl;

import dev.runnel.durability.TopicPartition;
import io.vertx.core.eventbus.MessageConsumer;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.internal.ContextInternal;

/**
 * The group as its delivery state machines see it ({@link PartitionDelivery.Host}): the engine's clock, randomness,
 * window bounds and token key, the group's hash, lease epoch and dead-letter topics, its members' lease lengths, and
 * the wake-up of its long polls when something may have become deliverable (served only while the group is still
 * owned here). Called on the group's context.
 */
final class GroupHost implements PartitionDelivery.Host {

  private final DeliveryEngine engine;
  private final ContextInternal context;
  private final int groupHash;
  private final GroupSettings settings;
  private final GroupMembership membership;
  private final GroupOwnership ownership;
  private final LongPolls<GroupMembership.Member> polls;

  GroupHost(String group, DeliveryEngine engine, ContextInternal context, GroupSettings settings,
            GroupMembership membership, GroupOwnership ownership, LongPolls<GroupMembership.Member> polls) {
    this.engine = engine;
    this.context = context;
    this.groupHash = DeliveryToken.groupHash(group);
    this.settings = settings;
    this.membership = membership;
    this.ownership = ownership;
    this.polls = polls;
  }

  @Override
  public long now() {
    return engine.options().getClock().millis();
  }

  @Override
  public double random() {
    return engine.random();
  }

  @Override
  public int windowRecords() {
    return engine.options().getWindowRecords();
  }

  @Override
  public int maxParked() {
    return engine.options().getWindowRecords() * engine.options().getMaxParkedFactor();
  }

  @Override
  public byte[] tokenKey() {
    return engine.tokenKey();
  }

  @Override
  public int groupHash() {
    return groupHash;
  }

  @Override
  public Future<PartitionLeader> deadLetterLeader(TopicMetadata topic, int partition) {
    return engine.broker().deadLetterLeader(settings.deadLetterTopicName(topic), topic, partition);
  }

  @Override
  public MessageConsumer<Long> commitNotices(TopicPartition partition, java.util.function.LongConsumer onHighWatermark) {
    // Callers run on the group's thread but may be inside another context's callback there (a future of another
    // context on the same event loop completes inline): bind the subscription to the group's own context, so its
    // notices run there and nothing else's life (a verticle's undeployment) ends it.
    if (!context.inThread()) {
      throw new IllegalStateException("commit notices of " + partition + " subscribed off the group's thread");
    }
    java.util.List<MessageConsumer<Long>> subscribed = new java.util.ArrayList<>(1);
    context.dispatch(() -> subscribed.add(engine.commitNotices().subscribe(partition, onHighWatermark)));
    return subscribed.get(0);
  }

  /** Wakes the long polls ({@link LongPolls#wake}); they are served only while this node still owns the group. */
  @Override
  public void deliverable() {
    polls.wake(ownership::stillOwned);
  }

  @Override
  public long leaseMs(String member) {
    return membership.leaseMs(member);
  }

  @Override
  public long groupEpoch() {
    return ownership.epoch();
  }
}
