package dev.runnel.transport.http.impl;

import dev.runnel.broker.Broker;
import dev.runnel.broker.BrokerException;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.JoinRequest;
import dev.runnel.broker.Membership;
import dev.runnel.broker.Outcomes;
import dev.runnel.broker.SeekPosition;
import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.Right;
import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpHeaders;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.RoutingContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The consumer-group routes of the HTTP API (DESIGN.md section 7): join, leave, heartbeat, fetch (long poll),
 * outcomes, seek, group config, group descriptions and dead letters. Like {@link HttpApi}, handlers validate the
 * request, call the {@link Broker} and answer when its future completes; every failure goes to {@link Problems}.
 */
final class GroupApi {

  private static final Logger LOG = LoggerFactory.getLogger(GroupApi.class);

  private final Broker broker;
  /** Long polls waiting for the broker, answered by {@link #drain()}; this API's event loop only. */
  private final java.util.Set<RoutingContext> polling = new java.util.HashSet<>();
  private boolean draining;

  GroupApi(Broker broker) {
    this.broker = broker;
  }

  // ---- membership

  void join(RoutingContext ctx) {
    String group = ctx.pathParam("group");
    JoinRequest request = GroupCodec.joinRequest(body(ctx, true,
        "{\"topics\":[...],\"mode\":\"partitioned\"|\"shared\",...}"));
    Access.requireAll(ctx, Right.CONSUME, request.topics(), "each topic it joins " + request.topics());
    broker.join(group, request).onComplete(ar -> {
      try {
        if (ar.failed()) {
          ctx.fail(BrokerException.from(ar.cause()));
          return;
        }
        Membership m = ar.result();
        ctx.response().putHeader(HttpHeaders.LOCATION, "/groups/" + group + "/members/" + m.memberId());
        Answers.json(ctx, 201, GroupCodec.membership(m));
      } catch (RuntimeException e) {
        ctx.fail(e);
      }
    });
  }

  void leave(RoutingContext ctx) {
    Answers.noContent(ctx, broker.leave(ctx.pathParam("group"), ctx.pathParam("member")));
  }

  void heartbeat(RoutingContext ctx) {
    Answers.noContent(ctx, broker.heartbeat(ctx.pathParam("group"), ctx.pathParam("member")));
  }

  // ---- fetch

  /**
   * Long poll. When the client is gone by the time deliveries arrive (it disconnected, or writing the answer failed),
   * nobody will settle them: they are released, so they come back at once and without an attempt counted.
   */
  void fetch(RoutingContext ctx) {
    if (draining) {
      answerEmpty(ctx);
      return;
    }
    String group = ctx.pathParam("group");
    GroupCodec.FetchRequest fetch = GroupCodec.fetchRequest(body(ctx, false,
        "{\"maxRecords\",\"maxBytes\",\"maxWaitMs\"}"));
    polling.add(ctx);
    broker.fetch(group, ctx.pathParam("member"), fetch.maxRecords(), fetch.maxBytes(), fetch.maxWaitMs())
        .onComplete(ar -> {
      polling.remove(ctx);
      if (ctx.response().ended()) {  // answered empty by the drain
        if (ar.succeeded()) {
          giveBack(group, ar.result(), "the long poll was answered when the node began shutting down");
        }
        return;
      }
      if (ar.failed()) {
        ctx.fail(BrokerException.from(ar.cause()));
        return;
      }
      List<Delivery> deliveries = ar.result();
      if (ctx.response().closed()) {
        giveBack(group, deliveries, "the HTTP client disconnected before the deliveries were sent");
        return;
      }
      Buffer answer;
      try {
        answer = GroupCodec.deliveries(deliveries);
      } catch (RuntimeException e) {  // a bug: no record's bytes make rendering fail (JSON values are copied as stored)
        giveBack(group, deliveries, "the deliveries could not be rendered");
        ctx.fail(e);
        return;
      }
      long held = Answers.hold(ctx, answer.length(), Answers.UNCOUNTED_ANSWER_BYTES);
      if (held < 0) {
        giveBack(group, deliveries, "the node holds too many answers not yet written out");
        Answers.refuse(ctx, answer.length());
        return;
      }
      ctx.response()
          .setStatusCode(200)
          .putHeader(HttpHeaders.CONTENT_TYPE, "application/json")
          .end(answer)
          .onComplete(written -> {
            Answers.release(ctx, held);
            if (written.failed()) {
              giveBack(group, deliveries, "the deliveries could not be sent to the HTTP client");
            }
          });
    });
  }

  /** The node is stopping: long polls in flight are answered now, with no deliveries; new ones at once. */
  void drain() {
    draining = true;
    for (RoutingContext ctx : List.copyOf(polling)) {
      answerEmpty(ctx);
    }
  }

  private static void answerEmpty(RoutingContext ctx) {
    if (!ctx.response().ended() && !ctx.response().closed()) {
      ctx.response().setStatusCode(200).putHeader(HttpHeaders.CONTENT_TYPE, "application/json").end(GroupCodec.deliveries(List.of()));
    }
  }

  void giveBack(String group, List<Delivery> deliveries, String why) {
    if (deliveries.isEmpty()) {
      return;
    }
    List<String> tokens = deliveries.stream().map(Delivery::token).toList();
    LOG.debug("group {}: giving back {} deliveries: {}", group, tokens.size(), why);
    broker.settle(group, new Outcomes(List.of(), List.of(), List.of(), List.of(), tokens)).onFailure(err ->
        LOG.warn("group {}: could not give back {} undelivered deliveries; their leases will expire: {}", group,
            tokens.size(), err.getMessage()));
  }





  // ---- outcomes

  void settle(RoutingContext ctx) {
    Outcomes outcomes = GroupCodec.outcomes(body(ctx, true,
        "{\"ack\":[...],\"nack\":[...],\"reject\":[...],\"extend\":[...]}"));
    Answers.answer(ctx, broker.settle(ctx.pathParam("group"), outcomes), 200, GroupCodec::outcomeResults);
  }

  // ---- seek

  /**
   * {@code POST /groups/{group}/topics/{topic}/seek[?dryRun=true]}: {@code {"partitions":[{"partition":n,"to":...}]}}
   * for some partitions, or {@code {"to":...}} for all of them. Answers each partition's position before and after
   * ({@code dryRun}: where it would move, changing nothing). All or nothing: one bad partition moves none.
   */
  void seek(RoutingContext ctx) {
    boolean dryRun = Answers.bool(ctx, "dryRun", false);
    String group = ctx.pathParam("group");
    String topic = ctx.pathParam("topic");
    GroupCodec.SeekRequest seek = GroupCodec.seekRequest(body(ctx, true,
        "{\"partitions\":[{\"partition\":n,\"to\":...}]} or {\"to\":...}"));
    Future<List<SeekPosition>> positions = seek.every() == null ? Future.succeededFuture(seek.partitions())
        : broker.describeTopic(topic).map(t -> {
          List<SeekPosition> every = new ArrayList<>();
          for (int i = 0; i < t.partitions().size(); i++) {
            every.add(new SeekPosition(i, seek.every().kind(), seek.every().value()));
          }
          return every;
        });
    Answers.answer(ctx, positions.compose(p -> broker.seek(group, topic, p, dryRun)), 200,
        results -> GroupCodec.seekAnswer(dryRun, results));
  }

  // ---- group config

  void configure(RoutingContext ctx) {
    GroupConfig config = GroupCodec.groupConfig(body(ctx, true, "{\"retryPolicy\":{...},\"deadLetterTopic\":\"...\"}"));
    Answers.answer(ctx, broker.configureGroup(ctx.pathParam("group"), config), 200, v -> config.toJson());
  }

  // ---- descriptions

  void list(RoutingContext ctx) {
    Answers.answer(ctx, broker.listGroups(), 200, groups -> {
      JsonArray list = new JsonArray(new ArrayList<>(groups.size()));
      ApiKey key = Access.key(ctx);
      groups.stream().filter(g -> key.seesAll(GroupCodec.topicsOf(g))).forEach(g -> list.add(GroupCodec.description(g)));
      return new JsonObject().put("groups", list);
    });
  }

  void describe(RoutingContext ctx) {
    Answers.answer(ctx, broker.describeGroup(ctx.pathParam("group")), 200, GroupCodec::description);
  }

  /** {@code DELETE /groups/{group}[?force=true]}: 409 GROUP_NOT_EMPTY while it has members, unless forced. */
  void delete(RoutingContext ctx) {
    Answers.noContent(ctx, broker.deleteGroup(ctx.pathParam("group"), Answers.bool(ctx, "force", false)));
  }





  // ---- dead letters

  void deadLetters(RoutingContext ctx) {
    String topic = GroupCodec.topicParam(Answers.query(ctx, "topic"));
    Access.require(ctx, Right.CONSUME, topic);
    int limit = Answers.bounded(ctx, "limit", GroupCodec.DEFAULT_DEAD_LETTERS, GroupCodec.MAX_DEAD_LETTERS);
    Answers.answerRendered(ctx, broker.deadLetters(ctx.pathParam("group"), topic, limit), 200,
        GroupCodec::deadLetters);
  }


  /**
   * {@code DELETE /groups/{group}/dead-letters?topic=t[&partition=p[&offset=o...]]}: the group's dead letters of the
   * topic (of one partition, at some offsets) are no longer listed nor redriven; the dead-letter records stay in the
   * dead-letter topic. Answers how many went.
   */
  void deleteDeadLetters(RoutingContext ctx) {
    String topic = GroupCodec.topicParam(Answers.query(ctx, "topic"));
    Access.require(ctx, Right.ADMIN, topic);
    String p = Answers.query(ctx, "partition");
    Integer partition = p == null ? null : Answers.intParam("partition", p);
    List<Long> offsets = GroupCodec.offsets(ctx.queryParam("offset"));
    if (offsets != null && partition == null) {
      throw GroupCodec.invalid("dead letters chosen by 'offset' need their 'partition'");
    }
    Answers.answer(ctx, broker.deleteDeadLetters(ctx.pathParam("group"), topic, partition, offsets), 200,
        n -> new JsonObject().put("deleted", n));
  }

  void redrive(RoutingContext ctx) {
    GroupCodec.RedriveRequest redrive = GroupCodec.redriveRequest(body(ctx, true,
        "{\"topic\":\"...\",\"to\":\"group\"|\"topic\",\"offsets\":[...]}"));
    Access.require(ctx, Right.ADMIN, redrive.topic());
    Answers.answer(ctx, broker.redrive(ctx.pathParam("group"), redrive.topic(), redrive.toGroup(),
        redrive.partition(), redrive.offsets()),
        200, n -> new JsonObject().put("redriven", n));
  }

  // ---- request parsing

  private static JsonObject body(RoutingContext ctx, boolean required, String shape) {
    return GroupCodec.object(ctx.body().buffer(), required, shape);
  }
}
