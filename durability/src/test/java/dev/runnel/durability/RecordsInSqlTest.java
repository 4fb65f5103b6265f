package dev.runnel.durability;

import dev.runnel.durability.test.ManualClock;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.json.JsonObject;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.nio.charset.StandardCharsets;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code runnel_records}: the log's records decoded in SQL, checked against what the store itself reads. */
class RecordsInSqlTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private final ManualClock clock = new ManualClock(1_700_000_000_000L);
  private Vertx vertx;
  private LogStore store;

  @BeforeEach
  void open() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options().setClock(clock)).await();
  }

  @AfterEach
  void close() {
    store.close().await();
    vertx.close().await();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  /** A decoded row, in a form that compares by content. */
  private record Row(int partition, long offset, long timestamp, String key, String value, String contentType,
                     Map<String, String> headers, String idempotencyKey) {
  }

  private static String hex(byte[] bytes) {
    return bytes == null ? null : java.util.HexFormat.of().formatHex(bytes);
  }

  private static Row expected(int partition, LogRecord r) {
    Map<String, String> headers = new TreeMap<>();
    for (Header h : r.headers()) {
      String text = new String(h.value(), StandardCharsets.UTF_8);
      boolean utf8 = java.util.Arrays.equals(utf8(text), h.value());
      headers.put(h.name(), utf8 ? text : Base64.getEncoder().encodeToString(h.value()));
    }
    return new Row(partition, r.offset(), r.timestamp(), hex(r.key()), hex(r.value()), r.contentType(), headers,
        r.idempotencyKey());
  }

  /** Calls the function schema-qualified from a session whose search path does not include Runnel's schema. */
  private List<Row> query(String sql, Object... params) throws SQLException {
    try (Connection c = PG.jdbc()) {
      c.createStatement().execute("SET search_path TO public");
      PreparedStatement st = c.prepareStatement(sql.replace("runnel_records", PG.schema() + ".runnel_records"));
      for (int i = 0; i < params.length; i++) {
        st.setObject(i + 1, params[i]);
      }
      List<Row> rows = new ArrayList<>();
      try (ResultSet rs = st.executeQuery()) {
        while (rs.next()) {
          Map<String, String> headers = new TreeMap<>();
          new JsonObject(rs.getString("headers")).forEach(e -> headers.put(e.getKey(), (String) e.getValue()));
          rows.add(new Row(rs.getInt("partition"), rs.getLong("record_offset"),
              rs.getTimestamp("appended_at").getTime(), hex(rs.getBytes("key")), hex(rs.getBytes("value")),
              rs.getString("content_type"), headers, rs.getString("idempotency_key")));
        }
      }
      return rows;
    }
  }

  @Test
  void everyRetainedRecordOfEveryPartitionAndSegmentDecodesAsTheStoreReadsIt() throws Exception {
    TopicMetadata topic = store.createTopic("sql-view", 2, new TopicConfig(10_000, -1, 1_000, 1 << 20)).await().topic();
    PartitionLog p0 = store.partition(topic, 0);
    PartitionLog p1 = store.partition(topic, 1);
    byte[] binary = {0, (byte) 0xff, (byte) 0xc3, 0x28, 10};
    p0.append(List.of(
        LogRecord.of(utf8("k-é"), utf8("{\"n\":1}"), "application/json", List.of(new Header("trace", utf8("abc"))), "id-1"),
        LogRecord.of(null, binary, "application/octet-stream", List.of(), null),
        LogRecord.of(new byte[0], new byte[0], "text/plain",
            List.of(new Header("a", utf8("ü")), new Header("raw", binary), new Header("empty", new byte[0])), ""))).await();
    p1.append(List.of(LogRecord.of(utf8("only"), utf8("x".repeat(5000)), "text/plain", List.of(), "id-2"))).await();
    clock.advance(1_500);  // the next appends go into a second segment
    p0.append(List.of(LogRecord.of(utf8("later"), utf8("y"), "text/plain", List.of(), null))).await();
    p1.append(List.of(LogRecord.of(null, utf8("z"), "text/plain", List.of(), null))).await();

    List<Row> all = new ArrayList<>();
    for (PartitionLog p : List.of(p0, p1)) {
      for (LogRecord r : p.read(0, 100, 1 << 20).await().records()) {
        all.add(expected(p.partition(), r));
      }
    }
    assertThat(all).hasSize(6);
    assertThat(query("SELECT * FROM runnel_records(?) ORDER BY partition, record_offset", "sql-view"))
        .containsExactlyElementsOf(all);
    assertThat(query("SELECT * FROM runnel_records(?, ?, ?)", "sql-view", 0, 1L))
        .as("one partition, from an offset inside a block, across both segments")
        .containsExactlyInAnyOrderElementsOf(all.stream().filter(r -> r.partition() == 0 && r.offset() >= 1).toList());

    clock.advance(9_600);  // the first segment's time bucket is now over 10 s old, the second's is not
    store.enforceRetention().await();
    assertThat(query("SELECT * FROM runnel_records(?) ORDER BY partition, record_offset", "sql-view"))
        .as("only what retention kept").extracting(Row::value).containsExactly(hex(utf8("y")), hex(utf8("z")));
  }

  @Test
  void anUnknownTopicIsAnError() {
    assertThatThrownBy(() -> query("SELECT * FROM runnel_records(?)", "no-such-topic"))
        .isInstanceOf(SQLException.class).hasMessageContaining("topic no-such-topic does not exist");
  }
}
