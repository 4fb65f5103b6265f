package dev.runnel.load.http;

import dev.runnel.load.driver.ConsumerClient;
import dev.runnel.load.driver.Driver;
import dev.runnel.load.driver.GroupMode;
import dev.runnel.load.driver.ProducerClient;
import dev.runnel.load.driver.RecordSink;

import java.security.SecureRandom;
import java.time.Clock;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Runnel taking its records as signed webhook deliveries ({@code --webhook SOURCE}): each record is one Standard
 * Webhooks request to {@code POST /webhooks/{source}} ({@link WebhookProducer}); the topic and the consumers are the
 * HTTP driver's, unchanged (the node stores a source's deliveries on the topic its config names, which must be the
 * run's {@code --topic}). The node stores webhook records unkeyed and partitions them by their delivery id, so
 * {@link #keepsKeys()} is false and the verifier checks no per-key order for them.
 */
public final class WebhookDriver implements Driver {

  /** The {@code type} of every payload, which the node copies into the record's {@code runnel.webhook.event}. */
  public static final String EVENT_TYPE = "runnel.load";

  private final HttpDriver http;
  private final String source;
  private final StandardWebhookSigner signer;
  private final Clock clock;
  /** Fresh per driver (one per target and round), so no two runs share a delivery id. */
  private final String idPrefix;
  private final AtomicInteger producers = new AtomicInteger();
  private final AtomicLong retried = new AtomicLong();
  private final AtomicReference<String> firstRetry = new AtomicReference<>();

  /**
   * @param http the HTTP driver of the target's nodes; this driver closes it
   * @param source the webhook source as the node's config names it ({@code webhooks.<source>})
   * @param clock gives each delivery's {@code webhook-timestamp} (epoch seconds)
   */
  public WebhookDriver(HttpDriver http, String source, StandardWebhookSigner signer, Clock clock) {
    this.http = http;
    this.source = source;
    this.signer = signer;
    this.clock = clock;
    byte[] random = new byte[8];
    new SecureRandom().nextBytes(random);
    this.idPrefix = "msg_" + HexFormat.of().formatHex(random);
  }

  @Override
  public CompletionStage<Integer> prepareTopic(String topic, int partitions) {
    return http.prepareTopic(topic, partitions);
  }

  /** A producer of the source's deliveries; {@code topic} is the node's business (its config maps source to topic). */
  @Override
  public ProducerClient producer(String topic) {
    return new WebhookProducer(this, idPrefix + "_" + producers.getAndIncrement(), http.firstNode());
  }

  @Override
  public ConsumerClient consumer(String topic, String group, GroupMode mode, RecordSink sink) {
    return http.consumer(topic, group, mode, sink);
  }

  @Override
  public boolean keepsKeys() {
    return false;
  }

  @Override
  public String eventType() {
    return EVENT_TYPE;
  }

  @Override
  public List<String> notes() {
    List<String> notes = new ArrayList<>(http.notes());  // the consumers' (SSE reconnects, ...)
    if (retried.get() > 0) {
      notes.add(retried.get() + " webhook delivery attempt(s) retried with the same webhook-id, the first after: "
          + firstRetry.get());
    }
    return notes;
  }

  HttpDriver http() {
    return http;
  }

  String source() {
    return source;
  }

  StandardWebhookSigner signer() {
    return signer;
  }

  Clock clock() {
    return clock;
  }

  void retrying(String why) {
    retried.incrementAndGet();
    firstRetry.compareAndSet(null, why);
  }

  @Override
  public void close() {
    http.close();
  }
}
