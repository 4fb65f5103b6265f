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
 * A group another node owns: each call goes to that node's {@link ForwardedCalls}, encoded by {@link Wire}. A long
 * poll's timeout is its wait plus the forwarding timeout. Any context may call it; futures complete on the caller's
 * context.
 */
final class RemoteGroupOwner implements GroupOwner {

  /** The calls, by their first byte on the wire. */
  enum Call {
    OWN, JOIN, LEAVE, HEARTBEAT, FETCH, LEASED, IN_FLIGHT, SETTLE, SEEK, CONFIGURE, TOPICS, DESCRIBE, DELETE,
    DEAD_LETTERS, DELETE_DEAD_LETTERS, REDRIVE, EXPIRE_PARKED
  }

  static final String UNIT = "owner";

  private final Forwarder forwarder;
  private final String node;
  private final String group;

  RemoteGroupOwner(Forwarder forwarder, String node, String group) {
    this.forwarder = forwarder;
    this.node = node;
    this.group = group;
  }

  private Wire.Writer call(Call call) {
    return Wire.writer().u8(call.ordinal()).str(group);
  }

  private Future<Wire.Reader> send(Wire.Writer request) {
    return forwarder.send(node, UNIT, request, 0, false);
  }

  private Future<Void> sendVoid(Wire.Writer request) {
    return send(request).mapEmpty();
  }

  @Override
  public Future<Void> own() {
    return sendVoid(call(Call.OWN));
  }

  @Override
  public Future<Membership> join(JoinRequest request) {
    return send(call(Call.JOIN).joinRequest(request)).map(Wire.Reader::membership);
  }

  @Override
  public Future<Void> leave(String memberId) {
    return sendVoid(call(Call.LEAVE).str(memberId));
  }

  @Override
  public Future<Void> heartbeat(String memberId) {
    return sendVoid(call(Call.HEARTBEAT).str(memberId));
  }

  @Override
  public Future<List<Delivery>> fetch(String memberId, int maxRecords, int maxBytes, long maxWaitMs) {
    Wire.Writer request = call(Call.FETCH).str(memberId).i32(maxRecords).i32(maxBytes).i64(maxWaitMs);
    return forwarder.send(node, UNIT, request, Math.max(0, maxWaitMs), false).map(Wire.Reader::deliveries);
  }

  @Override
  public Future<List<Delivery>> leased(String memberId) {
    return send(call(Call.LEASED).str(memberId)).map(Wire.Reader::deliveries);
  }

  @Override
  public Future<Integer> inFlight(String memberId) {
    return send(call(Call.IN_FLIGHT).str(memberId)).map(Wire.Reader::i32);
  }

  @Override
  public Future<List<OutcomeResult>> settle(Outcomes outcomes) {
    return send(call(Call.SETTLE).outcomes(outcomes)).map(Wire.Reader::outcomeResults);
  }

  @Override
  public Future<List<SeekResult>> seek(String topic, List<SeekPosition> positions, boolean dryRun) {
    return send(call(Call.SEEK).str(topic).seekPositions(positions).bool(dryRun)).map(Wire.Reader::seekResults);
  }

  @Override
  public Future<Void> configure(GroupConfig config) {
    return sendVoid(call(Call.CONFIGURE).str(config.toJson().encode()));
  }

  @Override
  public Future<List<String>> topics() {
    return send(call(Call.TOPICS)).map(Wire.Reader::strings);
  }

  @Override
  public Future<GroupDescription> describe() {
    return send(call(Call.DESCRIBE)).map(Wire.Reader::groupDescription);
  }

  @Override
  public Future<Void> delete(boolean force) {
    return sendVoid(call(Call.DELETE).bool(force));
  }

  @Override
  public Future<List<DeadLetter>> deadLetters(String topic, int limit) {
    return send(call(Call.DEAD_LETTERS).str(topic).i32(limit)).map(Wire.Reader::deadLetters);
  }

  @Override
  public Future<Integer> deleteDeadLetters(String topic, Integer partition, List<Long> offsets) {
    return send(call(Call.DELETE_DEAD_LETTERS).str(topic).optInt(partition).longs(offsets)).map(Wire.Reader::i32);
  }

  @Override
  public Future<Integer> redrive(String topic, boolean toGroup, Integer partition, List<Long> offsets) {
    return send(call(Call.REDRIVE).str(topic).bool(toGroup).optInt(partition).longs(offsets)).map(Wire.Reader::i32);
  }

  @Override
  public Future<Void> expireParked(TopicMetadata topic, int partition, List<Long> offsets) {
    return sendVoid(call(Call.EXPIRE_PARKED).topic(topic).i32(partition).longs(offsets));
  }
}
