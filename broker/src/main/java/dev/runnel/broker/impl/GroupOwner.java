package dev.runnel.broker.impl;

import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.SeekResult;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;

import java.util.List;

/**
 * What one consumer group's owner answers (DESIGN.md section 6: the node that runs the group's coordinator and all
 * of its delivery state machines). Every argument and answer is a value of the broker's API, so a route to an owner
 * on another node can carry them as messages; the local owner is the group's {@link GroupRuntime}. Inputs are
 * checked before a call gets here. Any context may call it; futures complete on the caller's context.
 */
interface GroupOwner {

  /** Takes the group's lease if it is not held yet (readiness), loading nothing else. */
  Future<Void> own();

  Future<Membership> join(JoinRequest request);

  Future<Void> leave(String memberId);

  Future<Void> heartbeat(String memberId);

  Future<List<Delivery>> fetch(String memberId, int maxRecords, int maxBytes, long maxWaitMs);

  Future<List<Delivery>> leased(String memberId);

  Future<Integer> inFlight(String memberId);

  Future<List<OutcomeResult>> settle(Outcomes outcomes);

  Future<List<SeekResult>> seek(String topic, List<SeekPosition> positions, boolean dryRun);

  Future<Void> configure(GroupConfig config);

  Future<List<String>> topics();

  /** NOT_FOUND when the group has neither members here nor stored state. */
  Future<GroupDescription> describe();

  Future<Void> delete(boolean force);

  Future<List<DeadLetter>> deadLetters(String topic, int limit);

  Future<Integer> deleteDeadLetters(String topic, Integer partition, List<Long> offsets);

  Future<Integer> redrive(String topic, boolean toGroup, Integer partition, List<Long> offsets);

  /** Retention drops these parked offsets of the partition next: they are dead-lettered ({@code expired}) first. */
  Future<Void> expireParked(TopicMetadata topic, int partition, List<Long> offsets);
}
