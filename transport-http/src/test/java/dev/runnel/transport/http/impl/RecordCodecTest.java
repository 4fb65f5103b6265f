package dev.runnel.transport.http.impl;

import dev.runnel.broker.ProduceRecord;
import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The produce body's JSON values, stored compactly whether the body's bytes are copied as they are (already compact
 * and plain) or written again: every special byte at every place of the eight-byte words the fast check reads.
 */
class RecordCodecTest {

  @Test
  void aCompactValueIsStoredAsSentWhereverItsQuotesBackslashesAndSpacesFall() {
    for (int at = 0; at < 24; at++) {
      String pad = "y".repeat(at);
      for (String inside : List.of(" ", "\\\"", "\\\\", "\\n", "\\/", "  x  ", "!#~")) {
        String value = "{\"" + pad + "\":\"" + pad + inside + pad + "\",\"n\":[1,true,null,{}]}";
        assertThat(stored(value)).as("%s at %d", inside, at).isEqualTo(value);
      }
    }
  }

  @Test
  void spacesBetweenTokensUnicodeEscapesAndNonAsciiAreWrittenAgainCompactly() {
    for (int at = 0; at < 24; at++) {
      String pad = "z".repeat(at);
      assertThat(stored("{\"" + pad + "\": 1}")).as("a space at %d", at).isEqualTo("{\"" + pad + "\":1}");
      assertThat(stored("[\"" + pad + "\",\n2]")).as("a newline at %d", at).isEqualTo("[\"" + pad + "\",2]");
      assertThat(stored("[\"" + pad + "\\u0041\"]")).as("an escape at %d", at).isEqualTo("[\"" + pad + "A\"]");
      assertThat(stored("[\"" + pad + "é\",\t3]")).as("non-ASCII at %d", at).isEqualTo("[\"" + pad + "é\",3]");
    }
  }

  private static String stored(String value) {
    Buffer body = Buffer.buffer("{\"records\":[{\"value\":" + value + "}]}");
    List<ProduceRecord> records = RecordCodec.produceRequest(body);
    assertThat(records).hasSize(1);
    return new String(records.get(0).value(), StandardCharsets.UTF_8);
  }
}
