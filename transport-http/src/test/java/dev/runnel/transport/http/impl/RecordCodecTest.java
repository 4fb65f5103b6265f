package dev.runnel.transport.http.impl;

import dev.runnel.broker.ProduceRecord;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.ReadResult;
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

  @Test
  void aStoredJsonValueIsAnsweredAsJsonOnlyWhenItIsOneJsonValueInValidUtf8() {
    for (int at = 0; at < 24; at++) {
      String pad = "x".repeat(at);
      assertThat(rendered(("[\"" + pad + "é\"]").getBytes(StandardCharsets.UTF_8)))
          .as("valid UTF-8 at %d", at).contains("\"value\":[\"" + pad + "é\"],\"valueEncoding\":\"json\"");
      // A surrogate encoded as UTF-8 (ED A0 80): well formed to a byte-pattern check, not UTF-8.
      byte[] invalid = ("[\"" + pad + "???\"]").getBytes(StandardCharsets.US_ASCII);
      invalid[2 + at] = (byte) 0xED;
      invalid[3 + at] = (byte) 0xA0;
      invalid[4 + at] = (byte) 0x80;
      assertThat(rendered(invalid)).as("invalid UTF-8 at %d", at).contains("\"valueEncoding\":\"base64\"");
      assertThat(rendered(("[\"" + pad + "\"").getBytes(StandardCharsets.US_ASCII)))
          .as("not JSON, %d", at).contains("\"valueEncoding\":\"base64\"");
      assertThat(rendered(("[\"" + pad + "\"] 1").getBytes(StandardCharsets.US_ASCII)))
          .as("two JSON values, %d", at).contains("\"valueEncoding\":\"base64\"");
    }
  }

  private static String rendered(byte[] storedJson) {
    StoredRecord r = new StoredRecord(null, storedJson, "application/json", List.of(), null, 0, 0);
    return RecordCodec.readResponse(0, new ReadResult(List.of(r), 1, 1, 0)).toString(StandardCharsets.UTF_8);
  }

  private static String stored(String value) {
    Buffer body = Buffer.buffer("{\"records\":[{\"value\":" + value + "}]}");
    List<ProduceRecord> records = RecordCodec.produceRequest(body, 10_000);
    assertThat(records).hasSize(1);
    return new String(records.get(0).value(), StandardCharsets.UTF_8);
  }
}
