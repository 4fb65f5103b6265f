package dev.runnel.broker.impl;

import dev.runnel.durability.Header;
import dev.runnel.durability.LogRecord;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** A dead letter's record: the original's content and headers, then the {@code runnel.dlq.*} headers. */
class DeadLetterEnvelopeTest {

  @Test
  void keepsTheOriginalAndSaysWhereItCameFromAndWhy() {
    LogRecord original = LogRecord.of(bytes("k"), bytes("v"), "application/json",
        List.of(new Header("trace", bytes("t1"))), "idem-1");
    LogRecord letter = DeadLetterEnvelope.wrap(original, new DeadLetterEnvelope.Failure("orders", 3, 42, "billing", 4,
        1000, 2000, "boom", PartitionDelivery.MAX_RETRIES));
    assertThat(letter.key()).isEqualTo(bytes("k"));
    assertThat(letter.value()).isEqualTo(bytes("v"));
    assertThat(letter.contentType()).isEqualTo("application/json");
    assertThat(letter.idempotencyKey()).as("a dead letter is never deduplicated against its original").isNull();
    Map<String, String> headers = new LinkedHashMap<>();
    letter.headers().forEach(h -> headers.put(h.name(), new String(h.value(), StandardCharsets.UTF_8)));
    assertThat(headers).containsExactly(Map.entry("trace", "t1"), Map.entry("runnel.dlq.topic", "orders"),
        Map.entry("runnel.dlq.partition", "3"), Map.entry("runnel.dlq.offset", "42"),
        Map.entry("runnel.dlq.group", "billing"), Map.entry("runnel.dlq.attempts", "4"),
        Map.entry("runnel.dlq.first-failure", "1000"), Map.entry("runnel.dlq.last-failure", "2000"),
        Map.entry("runnel.dlq.last-error", "boom"), Map.entry("runnel.dlq.reason", "max-retries"));
  }

  @Test
  void aMissingErrorIsAnEmptyHeader() {
    LogRecord letter = DeadLetterEnvelope.wrap(LogRecord.of(null, bytes("v"), "text/plain", List.of(), null),
        new DeadLetterEnvelope.Failure("t", 0, 1, "g", 1, 0, 0, null, PartitionDelivery.EXPIRED));
    assertThat(letter.headers()).filteredOn(h -> h.name().equals("runnel.dlq.last-error"))
        .singleElement().satisfies(h -> assertThat(h.value()).isEmpty());
  }

  private static byte[] bytes(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }
}
