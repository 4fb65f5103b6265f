package dev.runnel.cluster;

import com.hazelcast.cluster.Member;
import com.hazelcast.cluster.MembershipEvent;
import com.hazelcast.cluster.MembershipListener;
import com.hazelcast.core.HazelcastInstance;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.VertxBuilder;
import io.vertx.core.VertxOptions;
import io.vertx.core.eventbus.EventBusOptions;
import io.vertx.core.http.ClientAuth;
import io.vertx.core.net.PemKeyCertOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.spi.cluster.hazelcast.HazelcastClusterManager;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One node's membership in the cluster: a Vert.x instance clustered through Hazelcast (configured by {@link
 * HazelcastSettings}) and the view of live members by stable node name. Hazelcast's membership events arrive on its
 * own threads; each is hopped to this node's Vert.x context, where the view is read afresh from Hazelcast (so the
 * last view applied is always the current one, whatever order the events came in) and the view listeners run.
 * {@link #view()} may be read from any thread.
 */
public final class ClusterNode {
  private static final Logger LOG = LoggerFactory.getLogger(ClusterNode.class);

  private final Vertx vertx;
  private final HazelcastInstance hazelcast;
  private final Context context;
  private final String nodeName;
  private final int minMembers;
  private final List<Consumer<ClusterView>> listeners = new CopyOnWriteArrayList<>();
  private volatile ClusterView view = new ClusterView(List.of());
  private volatile UUID registration;  // set on a worker thread, read by close() on any

  private ClusterNode(Vertx vertx, HazelcastInstance hazelcast, String nodeName, int minMembers) {
    this.vertx = vertx;
    this.hazelcast = hazelcast;
    this.nodeName = nodeName;
    this.minMembers = minMembers;
    this.context = vertx.getOrCreateContext();
  }

  /**
   * Starts a clustered Vert.x with {@code vertxOptions} (its event bus bound to {@code cluster.host}) and joins the
   * cluster; completes once this node sees itself in its view.
   */
  public static Future<ClusterNode> start(ClusterOptions options, VertxOptions vertxOptions) {
    return start(options, vertxOptions, builder -> builder);
  }

  /** As {@link #start(ClusterOptions, VertxOptions)}, with more set on the Vert.x builder ({@code metrics}). */
  public static Future<ClusterNode> start(ClusterOptions options, VertxOptions vertxOptions,
                                          UnaryOperator<VertxBuilder> more) {
    HazelcastClusterManager manager;
    try {
      manager = new HazelcastClusterManager(HazelcastSettings.config(options));
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    EventBusOptions bus = vertxOptions.getEventBusOptions().setHost(options.getHost())
        .setPort(options.getEventBusPort()).setClusterPublicHost(options.getHost());
    if (options.isTls()) {
      // Mutual TLS: a node accepts only peers whose certificate it trusts, and talks only to such peers.
      bus.setSsl(true).setClientAuth(ClientAuth.REQUIRED)
          .setKeyCertOptions(new PemKeyCertOptions().setCertPath(options.getTlsCertPath())
              .setKeyPath(options.getTlsKeyPath()))
          .setTrustOptions(new PemTrustOptions().addCertPath(options.getTlsTrustPath()));
    }
    return more.apply(Vertx.builder()).with(vertxOptions).withClusterManager(manager).buildClustered()
        .compose(vertx -> {
          ClusterNode node = new ClusterNode(vertx, manager.getHazelcastInstance(), options.getNodeName(),
              options.minMembers());
          return node.listen().map(node);
        });
  }

  private Future<Void> listen() {
    return context.<Void>executeBlocking(() -> {
      registration = hazelcast.getCluster().addMembershipListener(new MembershipListener() {
        @Override
        public void memberAdded(MembershipEvent event) {
          context.runOnContext(v -> refresh());
        }

        @Override
        public void memberRemoved(MembershipEvent event) {
          context.runOnContext(v -> refresh());
        }
      });
      return null;
    }).compose(v -> Future.future(p -> context.runOnContext(x -> {  // the view as it is once events are heard
      refresh();
      p.complete();
    })));
  }

  /** On this node's context: reads the members from Hazelcast and tells the listeners if the view changed. */
  private void refresh() {
    Set<Member> members = hazelcast.getLifecycleService().isRunning() ? hazelcast.getCluster().getMembers() : Set.of();
    List<ClusterView.Member> live = new ArrayList<>();
    Set<String> seen = new HashSet<>();
    for (Member member : members) {
      String node = member.getAttribute(HazelcastSettings.NODE_ATTRIBUTE);
      if (node == null || !seen.add(node)) {
        // Two processes with one node name would both claim its leases: the older keeps the name in the view.
        LOG.error("cluster member {} at {} has {} node name {}: left out of the view", member.getUuid(),
            member.getAddress(), node == null ? "no" : "a duplicate", node);
        continue;
      }
      Map<String, String> card = new HashMap<>();
      member.getAttributes().forEach((name, value) -> {
        if (name.startsWith(HazelcastSettings.CARD)) {
          card.put(name.substring(HazelcastSettings.CARD.length()), value);
        }
      });
      live.add(new ClusterView.Member(node, member.getUuid().toString(), member.getAddress().toString(), card));
    }
    ClusterView next = new ClusterView(live);
    if (next.equals(view)) {
      return;
    }
    LOG.info("cluster view of {}: {}", nodeName, next.nodes());
    view = next;
    for (Consumer<ClusterView> listener : listeners) {
      listener.accept(next);
    }
  }

  public Vertx vertx() {
    return vertx;
  }

  public String nodeName() {
    return nodeName;
  }

  /** The fewest members a view may hold for this node to serve ({@link ClusterOptions#minMembers()}). */
  public int minMembers() {
    return minMembers;
  }

  /** The latest view, from any thread. */
  public ClusterView view() {
    return view;
  }

  /** Calls {@code listener} on this node's context with each new view (not the current one). */
  public void onViewChange(Consumer<ClusterView> listener) {
    listeners.add(listener);
  }

  /**
   * Leaves the cluster (the others see this node go at once, not after failure detection) and closes Vert.x. Call it
   * off this node's event loops: nothing after the close may run on them (they are gone by then).
   */
  public Future<Void> close() {
    try {
      if (registration != null && hazelcast.getLifecycleService().isRunning()) {
        hazelcast.getCluster().removeMembershipListener(registration);
      }
    } catch (RuntimeException e) {
      LOG.warn("cluster: the membership listener of {} could not be removed", nodeName, e);
    }
    return vertx.close();
  }
}
