package dev.runnel.durability.impl;

import dev.runnel.durability.TopicPartition;
import io.vertx.core.Vertx;
import io.vertx.sqlclient.Tuple;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/**
 * Renews every lease a {@link PgLogStore} holds, every third of a lease: its group leases, and the leases of all its
 * active partition writers in one statement, which answers the partitions it renewed; a writer missing from the
 * answer was fenced. A renewal extends a lease from when it was sent.
 *
 * <p>Threads: runs on a Vert.x timer; it reads the writers' volatile state and tells them on their own contexts.
 */
final class LeaseRenewal {

  private static final Logger LOG = LoggerFactory.getLogger(LeaseRenewal.class);

  private final Vertx vertx;
  private final PgLogStore store;
  private final GroupLeases groupLeases;
  private final long timer;
  private volatile boolean stopped;

  LeaseRenewal(Vertx vertx, PgLogStore store, GroupLeases groupLeases) {
    this.vertx = vertx;
    this.store = store;
    this.groupLeases = groupLeases;
    this.timer = vertx.setPeriodic(Math.max(1, store.options().getLeaseMs() / 3), id -> renew());
  }

  /** No renewal from now on (the store closes). */
  void stop() {
    stopped = true;
    vertx.cancelTimer(timer);
  }

  private void renew() {
    if (!stopped) {
      groupLeases.renew();
    }
    List<PartitionWriter> held = store.writers().stream().filter(PartitionWriter::isActive).toList();
    if (held.isEmpty() || stopped) {
      return;
    }
    UUID[] topics = new UUID[held.size()];
    Integer[] partitions = new Integer[held.size()];
    Long[] epochs = new Long[held.size()];
    for (int i = 0; i < held.size(); i++) {
      topics[i] = held.get(i).topic.id();
      partitions[i] = held.get(i).partition();
      epochs[i] = held.get(i).epoch();
    }
    long sent = System.nanoTime();
    store.client().preparedQuery(Sql.RENEW).execute(Tuple.of(topics, partitions, epochs, store.options().getLeaseMs()))
        .onSuccess(rows -> {
          Set<TopicPartition> renewed = new HashSet<>();
          rows.forEach(r -> renewed.add(new TopicPartition(r.getUUID(0), r.getInteger(1))));
          for (int i = 0; i < held.size(); i++) {
            PartitionWriter w = held.get(i);
            if (renewed.contains(new TopicPartition(w.topic.id(), w.partition()))) {
              w.leaseRenewed(sent);
            } else {
              w.fenced(epochs[i]);
            }
          }
        })
        .onFailure(err -> LOG.warn("could not renew {} partition leases: {}", held.size(), err.getMessage()));
  }
}
