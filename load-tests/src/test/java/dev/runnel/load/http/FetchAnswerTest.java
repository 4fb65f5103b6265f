package dev.runnel.load.http;

import io.vertx.core.buffer.Buffer;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class FetchAnswerTest {

  record Seen(String token, String key, String value, int partition, long offset) {
  }

  @Test
  void eachDeliveryIsReadWithItsValueAsTheAnswerHasItOrDecodedFromBase64() {
    String answer = "{\"deliveries\":["
        + "{\"token\":\"t1\",\"topic\":\"x\",\"partition\":3,\"offset\":7,\"attempt\":1,\"leaseExpiresAt\":5,"
        + "\"key\":\"k\",\"keyEncoding\":\"utf8\",\"value\":{\"a\":[1,\"}\"],\"b\":{}},\"valueEncoding\":\"json\","
        + "\"headers\":{\"h\":\"v\"},\"timestamp\":9},"
        + "{\"token\":\"t2\",\"partition\":0,\"offset\":8,\"key\":\"a2V5\",\"keyEncoding\":\"base64\","
        + "\"value\":\"AAE=\",\"valueEncoding\":\"base64\",\"headers\":{}},"
        + "{\"token\":\"t3\",\"partition\":1,\"offset\":9,\"key\":null,\"value\":42,\"valueEncoding\":\"json\"},"
        + "{\"token\":\"t4\",\"partition\":1,\"offset\":10,\"key\":null,\"value\":\"s\",\"valueEncoding\":\"json\"}"
        + "]}";
    List<Seen> seen = new ArrayList<>();
    FetchAnswer.read(Buffer.buffer(answer), (token, key, value, partition, offset) ->
        seen.add(new Seen(token, key, new String(value, StandardCharsets.ISO_8859_1), partition, offset)));
    assertThat(seen).containsExactly(
        new Seen("t1", "k", "{\"a\":[1,\"}\"],\"b\":{}}", 3, 7),
        new Seen("t2", "key", "\u0000\u0001", 0, 8),
        new Seen("t3", null, "42", 1, 9),
        new Seen("t4", null, "\"s\"", 1, 10));
  }

  @Test
  void anEmptyAnswerHasNoDeliveries() {
    List<String> tokens = new ArrayList<>();
    FetchAnswer.read(Buffer.buffer("{\"deliveries\":[]}"), (token, key, value, partition, offset) -> tokens.add(token));
    assertThat(tokens).isEmpty();
  }
}
