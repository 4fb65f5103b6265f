package dev.runnel.load.kafka;

import dev.runnel.load.driver.Ack;
import dev.runnel.load.driver.OutgoingRecord;
import dev.runnel.load.driver.ProducerClient;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** One KafkaProducer with the settings of the comparison (acks=all, linger.ms=5, batch.size=128 KB, idempotent). */
final class KafkaProducerClient implements ProducerClient {

  private static final AtomicInteger IDS = new AtomicInteger();

  private final String topic;
  private final KafkaProducer<String, byte[]> producer;
  /** Completes the send() futures off the producer's I/O thread: a harness that sends again from the completion
   *  would otherwise call send() on that thread, which blocks it when the buffer is full (the I/O thread is what
   *  empties it). One thread, so the completions keep their order. */
  private final ExecutorService completions;
  private final Consumer<AutoCloseable> onClose;

  KafkaProducerClient(String bootstrapServers, String topic, Consumer<AutoCloseable> onClose) {
    this.topic = topic;
    this.onClose = onClose;
    String clientId = "runnel-load-producer-" + IDS.incrementAndGet();
    Properties props = new Properties();
    props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    props.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
    props.put(ProducerConfig.ACKS_CONFIG, "all");
    props.put(ProducerConfig.LINGER_MS_CONFIG, 5);
    props.put(ProducerConfig.BATCH_SIZE_CONFIG, 131072);
    props.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
    this.producer = new KafkaProducer<>(props, new StringSerializer(), new ByteArraySerializer());
    this.completions = Executors.newSingleThreadExecutor(runnable -> {
      Thread thread = new Thread(runnable, clientId + "-acks");
      thread.setDaemon(true);
      return thread;
    });
  }

  @Override
  public CompletionStage<List<Ack>> send(List<OutgoingRecord> records) {
    CompletableFuture<List<Ack>> result = new CompletableFuture<>();
    if (records.isEmpty()) {
      result.complete(List.of());
      return result;
    }
    Ack[] acks = new Ack[records.size()];
    AtomicInteger pending = new AtomicInteger(records.size());
    try {
      for (int i = 0; i < records.size(); i++) {
        int index = i;
        // The producer may block here up to max.block.ms while its buffer is full, as Kafka's own tools do.
        producer.send(toProducerRecord(records.get(i)), (metadata, error) -> {
          if (error != null) {
            completions.execute(() -> result.completeExceptionally(error));
            return;
          }
          acks[index] = new Ack(metadata.partition(), metadata.offset());
          if (pending.decrementAndGet() == 0) {
            completions.execute(() -> result.complete(Arrays.asList(acks)));
          }
        });
      }
    } catch (RuntimeException e) {
      // Serialization, a closed producer, a buffer still full after max.block.ms: the whole send fails.
      result.completeExceptionally(e);
    }
    return result;
  }

  private ProducerRecord<String, byte[]> toProducerRecord(OutgoingRecord record) {
    Map<String, String> given = record.headers() == null ? Map.of() : record.headers();
    List<Header> headers = new ArrayList<>(given.size());
    for (Map.Entry<String, String> header : given.entrySet()) {
      headers.add(new RecordHeader(header.getKey(), header.getValue().getBytes(StandardCharsets.UTF_8)));
    }
    return new ProducerRecord<>(topic, null, record.key(), record.value(), headers);
  }

  @Override
  public void close() {
    onClose.accept(this);
    // Waits for the records in flight, so their callbacks (and the futures) complete before the executor ends.
    producer.close(KafkaDriver.CLOSE_TIMEOUT);
    completions.shutdown();
  }
}
