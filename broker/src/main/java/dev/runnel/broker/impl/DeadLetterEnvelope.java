package dev.runnel.broker.impl;

import dev.runnel.durability.Header;
import dev.runnel.durability.LogRecord;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A dead letter as stored in the dead-letter topic: the original record's key, value, content type and headers, plus
 * the {@code runnel.dlq.*} headers that say where it came from and why (DESIGN.md section 4). Pure.
 */
final class DeadLetterEnvelope {

  /** The {@code runnel.dlq.*} header names, in the order they are added. */
  static final List<String> HEADERS = List.of("runnel.dlq.topic", "runnel.dlq.partition", "runnel.dlq.offset",
      "runnel.dlq.group", "runnel.dlq.attempts", "runnel.dlq.first-failure", "runnel.dlq.last-failure",
      "runnel.dlq.last-error", "runnel.dlq.reason");

  private DeadLetterEnvelope() {
  }

  /** Where a record failed and how: what its dead letter says. */
  record Failure(String topic, int partition, long offset, String group, int attempts, long firstFailure,
                 long lastFailure, String lastError, String reason) {
  }

  static LogRecord wrap(LogRecord original, Failure f) {
    List<Header> headers = new ArrayList<>(original.headers());
    List<String> values = List.of(f.topic(), Integer.toString(f.partition()), Long.toString(f.offset()), f.group(),
        Integer.toString(f.attempts()), Long.toString(f.firstFailure()), Long.toString(f.lastFailure()),
        f.lastError() == null ? "" : f.lastError(), f.reason());
    for (int i = 0; i < HEADERS.size(); i++) {
      headers.add(new Header(HEADERS.get(i), values.get(i).getBytes(StandardCharsets.UTF_8)));
    }
    return LogRecord.of(original.key(), original.value(), original.contentType(), headers, null);
  }
}
