package dev.runnel.durability.impl;

import dev.runnel.durability.GroupLease;
import dev.runnel.durability.HeldElsewhere;
import dev.runnel.durability.Incarnation;
import dev.runnel.durability.StorageException;
import dev.runnel.durability.StorageFailure;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import io.vertx.sqlclient.Row;
import io.vertx.sqlclient.Tuple;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The group leases this store holds: acquires them (a short transaction with a {@code lock_timeout}, as a partition's),
 * renews them all in one statement with the partition leases, releases them. Called from any thread; each lease's
 * state is volatile.
 */
final class GroupLeases {

  private static final Logger LOG = LoggerFactory.getLogger(GroupLeases.class);

  private final Vertx vertx;
  private final PgLogStore store;
  private final Map<String, Held> held = new ConcurrentHashMap<>();

  GroupLeases(Vertx vertx, PgLogStore store) {
    this.vertx = vertx;
    this.store = store;
  }

  /** Takes the group's lease, or fails UNAVAILABLE naming its holder. */
  Future<GroupLease> acquire(String group) {
    return acquire(group, 1);
  }

  /** An attempt that failed is tried again a few times when {@link Acquisitions#retryable} says so. */
  private Future<GroupLease> acquire(String group, int attempt) {
    return acquireOnce(group).recover(err -> {
      if (!Acquisitions.retryable(err) || attempt >= Acquisitions.ATTEMPTS) {
        return Future.failedFuture(err instanceof StorageException ? err : new StorageException(
            StorageFailure.UNAVAILABLE, "could not acquire group " + group + ": " + err.getMessage(), err));
      }
      Promise<GroupLease> retried = Promise.promise();
      vertx.setTimer(Acquisitions.RETRY_MS * attempt, id -> acquire(group, attempt + 1).onComplete(retried));
      return retried.future();
    });
  }

  private Future<GroupLease> acquireOnce(String group) {
    long sent = System.nanoTime();
    Incarnation self = store.options().getIncarnation();
    long leaseMs = store.options().getLeaseMs();
    String lockTimeout = "SET LOCAL lock_timeout = '" + PgLogStore.lockWaitMs(store.options()) + "ms'";
    return store.leaseClient()
        .withTransaction(conn -> conn.query(lockTimeout).execute()
            .compose(v -> conn.preparedQuery(Sql.GROUP_LEASE_ROW).execute(Tuple.of(group)))
            .compose(v -> conn.preparedQuery(Sql.GROUP_ACQUIRE)
                .execute(Tuple.of(group, self.node(), leaseMs, self.id(), self.soleHolder()))))
        .compose(rows -> {
          if (rows.rowCount() == 0) {
            return store.client().preparedQuery(Sql.GROUP_OWNER).execute(Tuple.of(group)).compose(owner -> {
              Row holder = owner.rowCount() == 0 ? null : owner.iterator().next();
              return Future.failedFuture(new HeldElsewhere(holder == null ? null : holder.getString(1), "group " + group
                  + " is owned by " + (holder == null ? "(nobody)" : holder.getString(0))));
            });
          }
          Row row = rows.iterator().next();
          Held lease = new Held(group, row.getLong(0), sent + leaseMs * 1_000_000, row.getJsonObject(1));
          Held replaced = held.put(group, lease);
          if (replaced != null) {
            replaced.lost = true;  // its epoch is an old one now
          }
          return Future.succeededFuture(lease);
        });
  }

  /** Renews every lease still current; one a renewal does not find was taken by someone else. */
  void renew() {
    List<Held> current = held.values().stream().filter(Held::isCurrent).toList();
    if (current.isEmpty()) {
      return;
    }
    String[] groups = new String[current.size()];
    Long[] epochs = new Long[current.size()];
    for (int i = 0; i < current.size(); i++) {
      groups[i] = current.get(i).group;
      epochs[i] = current.get(i).epoch;
    }
    long sent = System.nanoTime();
    store.client().preparedQuery(Sql.GROUP_RENEW).execute(Tuple.of(groups, epochs, store.options().getLeaseMs()))
        .onSuccess(rows -> {
          Set<String> renewed = new HashSet<>();
          rows.forEach(r -> renewed.add(r.getString(0)));
          for (Held lease : current) {
            if (renewed.contains(lease.group) && !lease.isCurrent()) {
              // Renewed in Postgres after its deadline passed here (the renewal was slow): its owner has stopped,
              // so give the row back rather than hold it for no one.
              LOG.warn("group {}'s lease (epoch {}) was renewed after its deadline passed: given back", lease.group,
                  lease.epoch);
              lease.release();
            } else if (renewed.contains(lease.group)) {
              lease.deadlineNanos = sent + store.options().getLeaseMs() * 1_000_000;
            } else if (!lease.lost) {
              LOG.warn("group {} lost its lease (epoch {} no longer current)", lease.group, lease.epoch);
              lease.lost = true;
              held.remove(lease.group, lease);
            }
          }
        })
        .onFailure(err -> LOG.warn("could not renew {} group leases: {}", current.size(), err.getMessage()));
  }

  /** The leases held and current now, by group. */
  Map<String, GroupLease> held() {
    Map<String, GroupLease> current = new HashMap<>();
    held.forEach((group, lease) -> {
      if (lease.isCurrent()) {
        current.put(group, lease);
      }
    });
    return current;
  }

  /** Releases every lease held (a graceful stop). */
  Future<Void> releaseAll() {
    List<Future<Void>> all = new ArrayList<>();
    held.values().forEach(l -> all.add(l.release()));
    return Future.join(all).mapEmpty();
  }

  private final class Held implements GroupLease {
    final String group;
    final long epoch;
    final JsonObject sessions;
    volatile long deadlineNanos;
    volatile boolean lost;

    Held(String group, long epoch, long deadlineNanos, JsonObject sessions) {
      this.group = group;
      this.epoch = epoch;
      this.deadlineNanos = deadlineNanos;
      this.sessions = sessions;
    }

    @Override
    public JsonObject sessions() {
      return sessions;
    }

    @Override
    public String group() {
      return group;
    }

    @Override
    public long epoch() {
      return epoch;
    }

    /**
     * Once its local deadline has passed the lease is lost for good, even if a renewal that was in flight lands
     * later: its owner stopped at the deadline, and a lease revived after would be renewed for no one.
     */
    @Override
    public boolean isCurrent() {
      if (!lost && System.nanoTime() - deadlineNanos >= 0) {
        lost = true;
        held.remove(group, this);  // never renewed again
      }
      return !lost;
    }

    @Override
    public Future<Void> release(JsonObject passed) {
      lost = true;
      held.remove(group, this);
      return store.client().preparedQuery(Sql.GROUP_RELEASE).execute(Tuple.of(group, epoch, passed)).mapEmpty();
    }

    @Override
    public String toString() {
      return "group " + group + " at epoch " + epoch;
    }
  }
}
