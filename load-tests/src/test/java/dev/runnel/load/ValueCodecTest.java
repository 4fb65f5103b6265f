package dev.runnel.load;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import static org.assertj.core.api.Assertions.assertThat;

class ValueCodecTest {

  @ParameterizedTest
  @EnumSource(ValueCodec.Kind.class)
  void aValueCarriesItsIdentityAndHasTheWorkloadsSize(ValueCodec.Kind kind) {
    Identity id = new Identity(12345, 3, 999, 1L << 33, 987654321012345L);
    byte[] value = new ValueCodec(kind, 1024).encode(id);
    assertThat(value).hasSize(1024);
    assertThat(ValueCodec.decode(value)).isEqualTo(id);
  }

  @Test
  void aJsonValueIsACompactDocumentThatSurvivesReserialisation() throws Exception {
    Identity id = new Identity(1, 2, 3, 4, 5);
    byte[] value = new ValueCodec(ValueCodec.Kind.JSON, 200).encode(id);
    ObjectMapper json = new ObjectMapper();
    byte[] again = json.writeValueAsBytes(json.readTree(value));
    assertThat(again).isEqualTo(value);
    assertThat(ValueCodec.decode(json.writeValueAsBytes(json.readTree("{\"pad\":\"\",\"t\":5,\"s\":4,\"k\":3,\"p\":2,\"rl\":1}"))))
        .as("field order does not matter").isEqualTo(id);
  }

  @Test
  void aWebhookPayloadNamesItsTypeFirstAndKeepsTheSizeAndIdentity() throws Exception {
    Identity id = new Identity(12345, 3, 999, 77, 987654321012345L);
    byte[] value = new ValueCodec(ValueCodec.Kind.JSON, 300, "runnel.load").encode(id);
    assertThat(value).hasSize(300);
    assertThat(new String(value, java.nio.charset.StandardCharsets.UTF_8))
        .startsWith("{\"type\":\"runnel.load\",\"rl\":");
    assertThat(new ObjectMapper().readTree(value).get("type").asText()).isEqualTo("runnel.load");
    assertThat(ValueCodec.decode(value)).isEqualTo(id);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> new ValueCodec(ValueCodec.Kind.JSON, 10, "a\"b"))
        .isInstanceOf(IllegalArgumentException.class);
  }

  @Test
  void aValueSmallerThanTheHeaderKeepsTheHeader() {
    Identity id = new Identity(1, 2, 3, 4, 5);
    assertThat(ValueCodec.decode(new ValueCodec(ValueCodec.Kind.BINARY, 10).encode(id))).isEqualTo(id);
    assertThat(ValueCodec.decode(new ValueCodec(ValueCodec.Kind.JSON, 10).encode(id))).isEqualTo(id);
  }

  @Test
  void anotherWritersValueHasNoIdentity() {
    assertThat(ValueCodec.decode("{\"hello\":1}".getBytes())).isNull();
    assertThat(ValueCodec.decode(new byte[40])).isNull();
    assertThat(ValueCodec.decode(new byte[0])).isNull();
    assertThat(ValueCodec.decode("{broken".getBytes())).isNull();
  }
}
