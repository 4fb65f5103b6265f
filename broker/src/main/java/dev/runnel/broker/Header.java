package dev.runnel.broker;

import java.util.Objects;

/** One record header: a name and a byte value. Headers are an ordered list; names may repeat. */
public record Header(String name, byte[] value) {
  public Header {
    Objects.requireNonNull(name, "name");
    Objects.requireNonNull(value, "value");
  }
}
