package dev.runnel.load.kafka;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.RecordSink;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.CommitFailedException;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * One member of a Kafka consumer group, polling on its own thread. Offsets are committed by hand: asynchronously
 * after each poll's records went to the sink, synchronously when partitions are revoked and on stop, so a record is
 * only committed once the sink has it.
 */
final class KafkaConsumerClient implements ConsumerClient {

  private static final AtomicInteger IDS = new AtomicInteger();
  private static final Duration POLL_TIMEOUT = Duration.ofMillis(500);

  private final Properties props = new Properties();
  private final String topic;
  private final RecordSink sink;
  private final Consumer<AutoCloseable> onClose;
  private final String clientId;
  private final AtomicBoolean started = new AtomicBoolean();
  private final CompletableFuture<Void> stopped = new CompletableFuture<>();
  /** Set by stop() before it reads {@link #consumer}; the poll thread sets consumer before it reads this. */
  private volatile boolean stopping;
  private volatile KafkaConsumer<String, byte[]> consumer;

  KafkaConsumerClient(String bootstrapServers, String topic, String group, RecordSink sink,
      Consumer<AutoCloseable> onClose) {
    this.topic = topic;
    this.sink = sink;
    this.onClose = onClose;
    this.clientId = "runnel-load-consumer-" + IDS.incrementAndGet();
    props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    props.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
    props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
    props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
    // A new group reads the topic from its start: records sent before this member joined must reach it too.
    props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
  }

  @Override
  public void start() {
    if (!started.compareAndSet(false, true)) {
      return;
    }
    Thread thread = new Thread(this::run, clientId);
    thread.setDaemon(true);
    thread.start();
  }

  private void run() {
    try (KafkaConsumer<String, byte[]> kafka =
        new KafkaConsumer<>(props, new StringDeserializer(), new ByteArrayDeserializer())) {
      consumer = kafka;
      kafka.subscribe(List.of(topic), new ConsumerRebalanceListener() {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
          // Everything polled so far is in the sink: commit it before another member takes the partitions.
          commitQuietly(kafka);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
        }
      });
      try {
        while (!stopping) {
          ConsumerRecords<String, byte[]> records = kafka.poll(POLL_TIMEOUT);
          if (records.isEmpty()) {
            continue;
          }
          long receivedNanos = System.nanoTime();
          for (ConsumerRecord<String, byte[]> record : records) {
            sink.received(record.key(), record.value(), record.partition(), record.offset(), receivedNanos);
          }
          kafka.commitAsync();
        }
      } catch (WakeupException e) {
        if (!stopping) {
          throw e;
        }
      }
      // stop()'s wake-up may come after the last poll returned: then it interrupts this commit, so try twice.
      try {
        commitQuietly(kafka);
      } catch (WakeupException e) {
        commitQuietly(kafka);
      }
      // close() (try-with-resources) leaves the group.
    } catch (RuntimeException | Error e) {
      stopped.completeExceptionally(e);
      return;
    }
    stopped.complete(null);
  }

  /** A commit the group refuses (it rebalanced meanwhile) means the next owner reads again from the last commit:
   *  duplicates at worst, which the verifier counts; it is no reason to end this member. */
  private static void commitQuietly(KafkaConsumer<String, byte[]> kafka) {
    try {
      kafka.commitSync();
    } catch (CommitFailedException | RebalanceInProgressException e) {
      // see above
    }
  }

  @Override
  public CompletionStage<Void> stop() {
    stopping = true;
    if (!started.compareAndSet(false, true)) {
      KafkaConsumer<String, byte[]> kafka = consumer;
      if (kafka != null) {
        kafka.wakeup();
      }
    } else {
      stopped.complete(null); // never started: there is no member to stop
    }
    onClose.accept(this);
    return stopped;
  }
}
