package dev.runnel.broker.impl;

import dev.runnel.durability.LogStore;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import dev.runnel.durability.TopicMetadata;
import io.vertx.core.Future;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether this node holds what it leads and owns (DESIGN.md section 6). On one node that is every partition and
 * every group with stored state; in a cluster, this node's share of them by the view at the first check, and only
 * while the view lets it serve. Their leases are taken at the first check (a restart that could not prove its
 * predecessor dead waits here for the predecessor's leases); the first check answers when they are held, or fails
 * with what is missing, and the next check tries again. Once held, new topics and groups are taken when first used.
 * Any context may call it.
 */
final class Readiness {

  private static final Logger LOG = LoggerFactory.getLogger(Readiness.class);

  private final LogStore store;
  private final Routes routes;
  private final DeliveryEngine engine;
  /** The first taking of every lease this node serves; null until the first check. */
  private volatile Future<Void> holding;

  Readiness(LogStore store, Routes routes, DeliveryEngine engine) {
    this.store = store;
    this.routes = routes;
    this.engine = engine;
  }

  Future<Void> check() {
    return store.ping().compose(v -> routes.ready()).compose(v -> holdsWhatItLeads());
  }

  private Future<Void> holdsWhatItLeads() {
    Future<Void> taking = holding;
    if (taking == null || taking.failed()) {
      taking = takeLeases();
      holding = taking;
    }
    return taking;  // the first check answers once they are taken (milliseconds, unless another holds them)
  }

  private Future<Void> takeLeases() {
    Future<Void> partitions = store.topics().compose(list -> {
      List<Future<?>> all = new ArrayList<>();
      for (TopicMetadata topic : list) {
        for (int p = 0; p < topic.partitions(); p++) {
          if (!routes.leadsHere(topic, p)) {
            continue;
          }
          all.add(routes.leader(topic, p).offsets().recover(err -> gone(err) ? Future.succeededFuture()
              : Future.failedFuture(err)));
        }
      }
      return Future.all(all).mapEmpty();
    });
    Future<Void> groups = engine.ready().compose(v -> store.groupState().committedOffsets()).compose(stored -> {
      List<Future<?>> all = new ArrayList<>();
      stored.keySet().stream().filter(routes::ownsHere).forEach(group -> all.add(routes.owner(group).own()));
      return Future.all(all).mapEmpty();
    });
    return Future.all(partitions, groups).<Void>mapEmpty()
        .onFailure(err -> LOG.info("not ready yet: {}", err.getMessage()));
  }

  /** A topic deleted while its leases were being taken. */
  private static boolean gone(Throwable err) {
    return err instanceof StorageException s && s.failure() == StorageFailure.TOPIC_NOT_FOUND;
  }
}
