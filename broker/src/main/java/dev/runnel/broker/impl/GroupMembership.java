package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.JoinRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.Predicate;
import java.util.function.Supplier;

/**
 * The coordinator of one consumer group (DESIGN.md section 4, Membership): its members and their sessions, the
 * group's mode and generation, and in partitioned mode who should own which partition. It decides; its runtime tells
 * the state machines what changed for them (a member's leases released, a partition's new owner), so they learn
 * assignments by message and never read this. Confined to the group's context; pure (its clock and member ids are
 * given).
 */
final class GroupMembership {

  /** A member of the group, as long as its session lasts. */
  static final class Member {
    final String id;
    /** The topics it reads, each once. */
    final List<String> topics;
    final long sessionTimeoutMs;
    /** Its deliveries' lease length. */
    final long leaseMs;
    /** How often a record it held may go back for free when it leaves (a link's disconnect); MAX_VALUE: always. */
    final int maxFreeReleases;
    private long lastSeen;
    private int rotation;

    private Member(String id, List<String> topics, long sessionTimeoutMs, long leaseMs, int maxFreeReleases,
                   long now) {
      this.id = id;
      this.topics = topics;
      this.sessionTimeoutMs = sessionTimeoutMs;
      this.leaseMs = leaseMs;
      this.maxFreeReleases = maxFreeReleases;
      this.lastSeen = now;
    }

    /** Where its next fetch starts among the partitions it may take from (a count that only grows). */
    int rotate() {
      return rotation++;
    }
  }

  private final String group;
  private final LongSupplier clock;
  private final Supplier<String> memberIds;
  private final Map<String, Member> members = new LinkedHashMap<>();
  /** Null until the first join. */
  private GroupMode mode;
  private int generation;

  /**
   * @param clock     the injected clock's milliseconds
   * @param memberIds a new member's id
   */
  GroupMembership(String group, LongSupplier clock, Supplier<String> memberIds) {
    this.group = group;
    this.clock = clock;
    this.memberIds = memberIds;
  }

  /**
   * The mode a join asks for: its own, else the group's while it has members, else shared. Fails INVALID_REQUEST
   * when the request names no topic or another mode than that of the group's members.
   */
  GroupMode modeOf(JoinRequest request) {
    if (request.topics().isEmpty()) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "a member must name at least one topic");
    }
    boolean set = mode != null && !members.isEmpty();
    GroupMode asked = request.mode() != null ? request.mode() : set ? mode : GroupMode.SHARED;
    if (set && mode != asked) {
      throw new BrokerException(BrokerError.INVALID_REQUEST, "group " + group + " is "
          + mode.name().toLowerCase() + "; a member cannot join it as " + asked.name().toLowerCase());
    }
    return asked;
  }

  /**
   * Adds a member (its session starts now), the group now in mode {@code asked} ({@link #modeOf}); the caller starts
   * a {@linkplain #newGeneration new generation}. A member bound to a link keeps the lease it asks for; others' are
   * capped at {@link JoinRequest#MAX_LEASE_MS}.
   */
  Member join(JoinRequest request, GroupMode asked) {
    mode = asked;
    JoinRequest.LinkBound link = request.linkBound();
    Member member = new Member(memberIds.get(), request.topics().stream().distinct().toList(),
        request.sessionTimeoutMs(), link != null ? request.leaseMs() : Math.min(request.leaseMs(), JoinRequest.MAX_LEASE_MS),
        link != null ? link.maxFreeReleases() : Integer.MAX_VALUE, clock.getAsLong());
    members.put(member.id, member);
    return member;
  }

  /** The member, or null when it is not in the group. */
  Member member(String memberId) {
    return members.get(memberId);
  }

  /** The member, seen now (a fetch, a heartbeat: its session starts again); null when it is not in the group. */
  Member seen(String memberId) {
    Member member = members.get(memberId);
    if (member != null) {
      member.lastSeen = clock.getAsLong();
    }
    return member;
  }

  /** Removes the member (it left); null when it was not in the group. The caller starts a new generation. */
  Member leave(String memberId) {
    return members.remove(memberId);
  }

  /**
   * The sessions to pass to the group's next owner at a graceful hand-over (DESIGN.md section 6): the mode, the
   * generation and each member as it joined; null when the group has no member.
   */
  JsonObject sessions() {
    if (members.isEmpty()) {
      return null;
    }
    JsonArray list = new JsonArray();
    for (Member m : members.values()) {
      list.add(new JsonObject().put("id", m.id).put("topics", new JsonArray(m.topics))
          .put("sessionTimeoutMs", m.sessionTimeoutMs).put("leaseMs", m.leaseMs)
          .put("maxFreeReleases", m.maxFreeReleases));
    }
    return new JsonObject().put("mode", mode.name()).put("generation", generation).put("members", list);
  }

  /** The topics the members of passed-on {@code sessions} read, each once. */
  static List<String> topicsOf(JsonObject sessions) {
    return sessions.getJsonArray("members").stream().flatMap(m -> ((JsonObject) m).getJsonArray("topics").stream())
        .map(String::valueOf).distinct().toList();
  }

  /**
   * Takes over the sessions a previous owner passed on (into a group with no member yet): each member keeps its id
   * and its session starts now; the generation goes on from theirs. The caller starts a new generation.
   */
  void adopt(JsonObject sessions) {
    mode = GroupMode.valueOf(sessions.getString("mode"));
    generation = Math.max(generation, sessions.getInteger("generation"));
    long now = clock.getAsLong();
    for (Object o : sessions.getJsonArray("members")) {
      JsonObject m = (JsonObject) o;
      List<String> topics = m.getJsonArray("topics").stream().map(String::valueOf).toList();
      Member member = new Member(m.getString("id"), topics, m.getLong("sessionTimeoutMs"), m.getLong("leaseMs"),
          m.getInteger("maxFreeReleases"), now);
      members.putIfAbsent(member.id, member);
    }
  }

  /** Removes every member (the group stops serving); returns them. */
  List<Member> removeAll() {
    List<Member> removed = new ArrayList<>(members.values());
    members.clear();
    return removed;
  }

  /**
   * Ends the sessions that ran out at {@code now}: a member for which {@code alive} holds (it waits in a long poll) is
   * seen now; one not seen for longer than its session timeout is removed, and then given to {@code expired}, one
   * after another in the order they joined. Answers whether any expired (the caller then starts a new generation).
   */
  boolean expire(long now, Predicate<Member> alive, Consumer<Member> expired) {
    List<Member> out = new ArrayList<>();
    for (Member m : members.values()) {
      if (alive.test(m)) {
        m.lastSeen = now;
      } else if (now - m.lastSeen > m.sessionTimeoutMs) {
        out.add(m);
      }
    }
    for (Member m : out) {
      members.remove(m.id);
      expired.accept(m);
    }
    return !out.isEmpty();
  }

  /**
   * Starts a new generation (a member came or went, or a topic grew). In partitioned mode answers the owner of each
   * of the {@code slots} (absent: none, as no member reads its topic), round robin over the sorted members of each
   * topic ({@link PartitionAssignor}); in shared mode null (nothing is assigned, and the slots are not asked for).
   */
  Map<PartitionAssignor.Slot, String> newGeneration(Supplier<List<PartitionAssignor.Slot>> slots) {
    generation++;
    if (mode != GroupMode.PARTITIONED) {
      return null;
    }
    List<PartitionAssignor.Subscription> subscriptions = members.values().stream()
        .map(m -> new PartitionAssignor.Subscription(m.id, m.topics)).toList();
    return PartitionAssignor.assign(subscriptions, slots.get());
  }

  int generation() {
    return generation;
  }

  /** The group's mode; null before the first join. */
  GroupMode mode() {
    return mode;
  }

  boolean partitioned() {
    return mode == GroupMode.PARTITIONED;
  }

  /** The lease length of the member's deliveries; the default when it is not in the group (any more). */
  long leaseMs(String memberId) {
    Member m = memberId == null ? null : members.get(memberId);
    return m != null ? m.leaseMs : JoinRequest.DEFAULT_LEASE_MS;
  }

  /** The members as described, in the order they joined, each with its assignment. */
  List<GroupDescription.Member> describe(Function<String, Map<String, List<Integer>>> assignmentOf) {
    List<GroupDescription.Member> list = new ArrayList<>();
    for (Member m : members.values()) {
      list.add(new GroupDescription.Member(m.id, m.topics, assignmentOf.apply(m.id)));
    }
    return list;
  }

  boolean isEmpty() {
    return members.isEmpty();
  }

  int size() {
    return members.size();
  }

  /** The members' ids, in the order they joined. */
  Set<String> ids() {
    return members.keySet();
  }

  /** The error of a call by a member not in the group. */
  BrokerException unknownMember(String memberId) {
    return new BrokerException(BrokerError.UNKNOWN_MEMBER, "member " + memberId + " is not in group " + group
        + " (it left, or its session expired): join again");
  }
}
