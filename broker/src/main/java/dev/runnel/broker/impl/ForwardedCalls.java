package dev.runnel.broker.impl;

import dev.runnel.broker.BrokerException;
import dev.runnel.broker.GroupConfig;
import dev.runnel.broker.Outcomes;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import io.vertx.core.Handler;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.eventbus.Message;
import io.vertx.core.eventbus.MessageConsumer;
import io.vertx.core.internal.ContextInternal;
import io.vertx.core.internal.VertxInternal;
import io.vertx.core.json.JsonObject;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * The receiving side of forwarding (DESIGN.md section 6): this node's leaders and owners answer calls other nodes send
 * to {@code runnel.node.<name>.leader} and {@code .owner}. A call for a unit this node does not lead or own (its view
 * says another node) answers {@link Forwarder#NOT_HERE}, which the sender routes again; a failure answers its broker
 * error. Each address has one consumer per event loop, so forwarded calls spread over the loops (the event bus hands a
 * point-to-point message to one of a node's consumers in turn).
 */
final class ForwardedCalls {

  private final Vertx vertx;
  private final String self;
  private final ClusteredRoutes routes;
  private final List<MessageConsumer<Buffer>> consumers = new ArrayList<>();
  private final ForwardedDeliveries handed;

  ForwardedCalls(Vertx vertx, String self, ClusteredRoutes routes, ForwardedDeliveries handed) {
    this.vertx = vertx;
    this.self = self;
    this.routes = routes;
    this.handed = handed;
  }

  /** Registers the consumers; completes once the cluster knows them. */
  Future<Void> start() {
    List<Future<Void>> registered = new ArrayList<>();
    int loops = Math.max(2, Runtime.getRuntime().availableProcessors());
    for (int i = 0; i < loops; i++) {
      ContextInternal loop = ((VertxInternal) vertx).createEventLoopContext();
      registered.add(register(loop, RemotePartitionLeader.UNIT, this::leader));
      registered.add(register(loop, RemoteGroupOwner.UNIT, this::owner));
    }
    return Future.all(registered).mapEmpty();
  }

  private Future<Void> register(ContextInternal loop, String unit, Handler<Message<Buffer>> handler) {
    Promise<Void> registered = Promise.promise();
    loop.runOnContext(v -> {  // the consumer's handler runs on the context it is registered from
      MessageConsumer<Buffer> consumer = vertx.eventBus().consumer(Forwarder.address(self, unit), handler);
      synchronized (consumers) {
        consumers.add(consumer);
      }
      consumer.completion().onComplete(registered);
    });
    return registered.future();
  }

  /** No more forwarded calls are taken (the node stops). */
  Future<Void> stop() {
    List<Future<Void>> all = new ArrayList<>();
    synchronized (consumers) {
      consumers.forEach(c -> all.add(c.unregister()));
      consumers.clear();
    }
    return Future.join(all).mapEmpty();
  }

  private void leader(Message<Buffer> message) {
    answer(message, r -> {
      RemotePartitionLeader.Call call = RemotePartitionLeader.Call.values()[r.u8()];
      TopicMetadata topic = r.topic();
      int partition = r.i32();
      if (!routes.leadsHere(topic.id(), partition)) {
        throw new NotHere("node " + self + " does not lead " + topic.name() + "/" + partition);
      }
      PartitionLeader leader = routes.local().leader(topic, partition);
      Wire.Writer out = Wire.writer();
      return switch (call) {
        case APPEND -> {
          boolean deduplicate = r.bool();
          yield leader.append(r.logRecords(), deduplicate).map(out::appendResult);
        }
        case APPEND_DEAD_LETTERS -> leader.appendDeadLetters(r.logRecords(), r.list(Wire.Reader::origin), r.i64())
            .map(out::appendResult);
        case READ -> leader.read(r.i64(), r.i32(), r.i32()).map(out::readResult);
        case OFFSETS -> leader.offsets().map(out::offsets);
        case OFFSET_FOR_TIMESTAMP -> leader.offsetForTimestamp(r.i64()).map(out::optLong);
      };
    });
  }

  private void owner(Message<Buffer> message) {
    answer(message, r -> {
      RemoteGroupOwner.Call call = RemoteGroupOwner.Call.values()[r.u8()];
      String group = r.str();
      boolean outcome = call == RemoteGroupOwner.Call.SETTLE || call == RemoteGroupOwner.Call.HEARTBEAT;
      if (!routes.ownsHere(group) && !(outcome && routes.drainsHere(group))) {
        throw new NotHere("node " + self + " does not own group " + group);
      }
      GroupOwner owner = routes.local().owner(group);
      Wire.Writer out = Wire.writer();
      return switch (call) {
        case OWN -> owner.own().map(v -> out);
        case JOIN -> owner.join(r.joinRequest()).map(out::membership);
        case LEAVE -> owner.leave(r.str()).map(v -> out);
        case HEARTBEAT -> {
          String member = r.str();
          yield routes.viaDrainingHolder(group, owner, o -> o.heartbeat(member)).map(v -> out);
        }
        case FETCH -> owner.fetch(r.str(), r.i32(), r.i32(), r.i64()).map(deliveries -> {
          handed.handed(message.headers().get(Forwarder.FROM), group, deliveries);
          return out.deliveries(deliveries);
        });
        case LEASED -> owner.leased(r.str()).map(out::deliveries);
        case IN_FLIGHT -> owner.inFlight(r.str()).map(out::i32);
        case SETTLE -> {
          Outcomes outcomes = r.outcomes();
          yield routes.viaDrainingHolder(group, owner, o -> o.settle(outcomes)).map(out::outcomeResults);
        }
        case SEEK -> owner.seek(r.str(), r.seekPositions(), r.bool()).map(out::seekResults);
        case CONFIGURE -> owner.configure(GroupConfig.fromJson(new JsonObject(r.str()))).map(v -> out);
        case TOPICS -> owner.topics().map(out::strings);
        case DESCRIBE -> owner.describe().map(out::groupDescription);
        case DELETE -> owner.delete(r.bool()).map(v -> out);
        case DEAD_LETTERS -> owner.deadLetters(r.str(), r.i32()).map(out::deadLetters);
        case DELETE_DEAD_LETTERS -> owner.deleteDeadLetters(r.str(), r.optInt(), r.longs()).map(out::i32);
        case REDRIVE -> owner.redrive(r.str(), r.bool(), r.optInt(), r.longs()).map(out::i32);
        case EXPIRE_PARKED -> owner.expireParked(r.topic(), r.i32(), r.longs()).map(v -> out);
      };
    });
  }

  private static void answer(Message<Buffer> message, Function<Wire.Reader, Future<Wire.Writer>> call) {
    Future<Wire.Writer> answer;
    try {
      answer = call.apply(Wire.reader(message.body()));
    } catch (RuntimeException e) {
      answer = Future.failedFuture(e);
    }
    answer.onComplete(ar -> {
      if (ar.succeeded()) {
        message.reply(ar.result().buffer);
      } else if (ar.cause() instanceof NotHere notHere) {
        message.fail(Forwarder.NOT_HERE, notHere.getMessage());
      } else {
        message.fail(Forwarder.FAILED, Forwarder.encode(BrokerException.from(ar.cause())));
      }
    });
  }
}
