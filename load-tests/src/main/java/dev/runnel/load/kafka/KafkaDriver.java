package dev.runnel.load.kafka;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.ProducerClient;
import dev.runnel.load.driver.RecordSink;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;

/**
 * Kafka through its own client library (kafka-clients), so the harness runs the same workload against it as against
 * Runnel. {@code bootstrapServers} is Kafka's comma-separated {@code host:port} list.
 */
public final class KafkaDriver implements Driver {

  static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(30);

  private final String bootstrapServers;
  private final Admin admin;
  /** What this driver created and has not seen closed, so that {@link #close()} ends it all. */
  private final Set<AutoCloseable> open = ConcurrentHashMap.newKeySet();

  public KafkaDriver(String bootstrapServers) {
    this.bootstrapServers = bootstrapServers;
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    props.put(AdminClientConfig.CLIENT_ID_CONFIG, "runnel-load-admin");
    this.admin = Admin.create(props);
  }

  @Override
  public CompletionStage<Integer> prepareTopic(String topic, int partitions) {
    return partitionCount(topic).exceptionallyCompose(error -> {
      if (!(cause(error) instanceof UnknownTopicOrPartitionException)) {
        return CompletableFuture.failedFuture(cause(error));
      }
      NewTopic newTopic = new NewTopic(topic, partitions, (short) 1);
      return admin.createTopics(List.of(newTopic)).all().toCompletionStage()
          .thenApply(created -> partitions)
          // Another process created it in between: use it as it is.
          .exceptionallyCompose(createError -> cause(createError) instanceof TopicExistsException
              ? partitionCount(topic)
              : CompletableFuture.failedFuture(cause(createError)));
    });
  }

  private CompletionStage<Integer> partitionCount(String topic) {
    return admin.describeTopics(List.of(topic)).allTopicNames().toCompletionStage()
        .thenApply((Map<String, TopicDescription> topics) -> topics.get(topic).partitions().size());
  }

  @Override
  public ProducerClient producer(String topic) {
    return track(new KafkaProducerClient(bootstrapServers, topic, this::closed));
  }

  @Override
  public ConsumerClient consumer(String topic, String group, GroupMode mode, RecordSink sink) {
    if (mode == GroupMode.SHARED) {
      // Kafka 4.1's share groups (KIP-932) are a preview, off unless the cluster's share.version feature is raised.
      throw new UnsupportedOperationException("Kafka has no shared groups");
    }
    return track(new KafkaConsumerClient(bootstrapServers, topic, group, sink, this::closed));
  }

  private <T extends AutoCloseable> T track(T client) {
    open.add(client);
    return client;
  }

  private void closed(AutoCloseable client) {
    open.remove(client);
  }

  @Override
  public void close() {
    for (AutoCloseable client : List.copyOf(open)) {
      try {
        client.close();
      } catch (Exception e) {
        // Closing the rest matters more; the client's own failure was reported where it happened.
      }
    }
    admin.close(CLOSE_TIMEOUT);
  }

  static Throwable cause(Throwable error) {
    Throwable cause = error;
    while (cause instanceof CompletionException && cause.getCause() != null) {
      cause = cause.getCause();
    }
    return cause;
  }
}
