package dev.runnel.load.driver;

import java.util.Map;

/** A record to send; its value carries the harness's identity of it (producer, key, sequence). */
public record OutgoingRecord(String key, byte[] value, Map<String, String> headers) {
}
