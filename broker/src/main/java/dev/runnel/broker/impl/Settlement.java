package dev.runnel.broker.impl;

import dev.runnel.broker.OutcomeResult;
import dev.runnel.broker.Outcomes;
import io.vertx.core.Future;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Settles a group's outcomes (DESIGN.md section 4, "Tokens are the fence"): each goes to the state machine its token
 * names, which decides whether its lease is current; a token that is not this group's (or forged) is UNKNOWN_TOKEN,
 * one of a partition that has no state machine here (issued before a restart) LEASE_EXPIRED. Runs on the group's
 * context.
 */
final class Settlement {

  private interface Outcome {
    Future<OutcomeResult.Status> apply(PartitionDelivery pd, DeliveryToken token);
  }

  /** The token-signing key. */
  private final Supplier<byte[]> tokenKey;
  private final int groupHash;
  private final GroupPartitions partitions;

  Settlement(Supplier<byte[]> tokenKey, int groupHash, GroupPartitions partitions) {
    this.tokenKey = tokenKey;
    this.groupHash = groupHash;
    this.partitions = partitions;
  }

  /** Applies outcomes in order; answers when each took effect (a dead letter stored, for instance). */
  Future<List<OutcomeResult>> settle(Outcomes outcomes) {
    List<Future<OutcomeResult>> results = new ArrayList<>();
    for (String token : outcomes.acks()) {
      results.add(apply(token, (pd, t) -> Future.succeededFuture(pd.ack(t))));
    }
    for (Outcomes.Nack nack : outcomes.nacks()) {
      results.add(apply(nack.token(), (pd, t) -> pd.nack(t, nack.delayMs(), nack.error())));
    }
    for (Outcomes.Reject reject : outcomes.rejects()) {
      results.add(apply(reject.token(), (pd, t) -> pd.reject(t, reject.error())));
    }
    for (Outcomes.Extend extend : outcomes.extensions()) {
      results.add(apply(extend.token(), (pd, t) -> Future.succeededFuture(pd.extend(t, extend.leaseMs()))));
    }
    for (String token : outcomes.releases()) {
      results.add(apply(token, (pd, t) -> Future.succeededFuture(pd.release(t))));
    }
    return Future.all(results).map(all -> all.<OutcomeResult>list());
  }

  private Future<OutcomeResult> apply(String token, Outcome outcome) {
    DeliveryToken t = DeliveryToken.decode(token, tokenKey.get());
    if (t == null || t.groupHash() != groupHash) {
      return Future.succeededFuture(new OutcomeResult(token, OutcomeResult.Status.UNKNOWN_TOKEN));
    }
    PartitionDelivery pd = partitions.get(t.topicId(), t.partition());
    if (pd == null) {
      // Ours, but issued before a restart: that lease is gone.
      return Future.succeededFuture(new OutcomeResult(token, OutcomeResult.Status.LEASE_EXPIRED));
    }
    return outcome.apply(pd, t).map(status -> new OutcomeResult(token, status));
  }
}
