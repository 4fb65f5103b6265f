package dev.runnel.load.http;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The SSE parser on a hand-written stream with every kind of line end, comments, multi-line data, fields without a
 * value and multi-byte UTF-8, fed whole, byte by byte, and cut in two and in three at every place: the events must
 * come out the same each time.
 */
class SseParserTest {

  /** type, id and data of an event, as text. */
  record Seen(String type, String id, String data) {
  }

  static final String STREAM = "retry: 1000\n\n"  // the node's opening: no data, so no event
      + ": idle\n\n"
      + "id: 1\nevent: delivery\ndata: {\"token\":\"t1\",\"value\":{\"s\":\"h\u00e9\u00e9\"}}\n\n"
      + ":a comment without space\r\n"
      + "id: 2\r\nevent: delivery\r\ndata: first line\r\ndata:second line\r\ndata:  kept space\r\n\r\n"
      + "id: 3\revent: delivery\rdata: cr only \ud83d\ude80\r\r"  // line ends of a lone \r, a 4-byte character
      + "event: ignored\nid: 4\n\n"  // an event without data dispatches nothing, but its id stays
      + "data\n\n"  // a field name alone: empty data, a message event with the id 4 still
      + "unknown: field\ndata: x\nretry: soon\n\n"  // unknown fields and a retry that is not digits are ignored
      + "data:\ndata:\n\n"  // two empty data lines: one line end between them
      + "id\n"  // an empty id resets the last event id
      + "event: error\r\ndata: {\"code\":\"UNKNOWN_MEMBER\"}\r\n\r\n"
      + "retry: 250\n"
      + "id: 9\nevent: end\ndata: {}\n\n"
      + "data: an unfinished event";  // no blank line yet: not dispatched

  static final List<Seen> EXPECTED = List.of(
      new Seen("delivery", "1", "{\"token\":\"t1\",\"value\":{\"s\":\"h\u00e9\u00e9\"}}"),
      new Seen("delivery", "2", "first line\nsecond line\n kept space"),
      new Seen("delivery", "3", "cr only \ud83d\ude80"),
      new Seen("message", "4", ""),
      new Seen("message", "4", "x"),
      new Seen("message", "4", "\n"),
      new Seen("error", "", "{\"code\":\"UNKNOWN_MEMBER\"}"),
      new Seen("end", "9", "{}"));

  static final byte[] BYTES = STREAM.getBytes(StandardCharsets.UTF_8);

  static List<Seen> parse(byte[] bytes, int... cuts) {
    List<Seen> seen = new ArrayList<>();
    SseParser parser = new SseParser(e -> seen.add(new Seen(e.type(), e.id(), e.dataText())));
    int from = 0;
    for (int cut : cuts) {
      parser.feed(java.util.Arrays.copyOfRange(bytes, from, cut));
      from = cut;
    }
    parser.feed(java.util.Arrays.copyOfRange(bytes, from, bytes.length));
    return seen;
  }

  @Test
  void aWholeStreamGivesEachEventWithItsTypeIdAndData() {
    List<Seen> seen = new ArrayList<>();
    SseParser parser = new SseParser(e -> seen.add(new Seen(e.type(), e.id(), e.dataText())));
    parser.feed(BYTES);
    assertThat(seen).containsExactlyElementsOf(EXPECTED);
    assertThat(parser.lastEventId()).isEqualTo("9");
    assertThat(parser.retryMs()).isEqualTo(250);
    assertThat(parser.comments()).isEqualTo(2);
    parser.feed("\n\n".getBytes(StandardCharsets.UTF_8));  // the unfinished event's end comes
    assertThat(seen).hasSize(EXPECTED.size() + 1).last().isEqualTo(new Seen("message", "9", "an unfinished event"));
  }

  @Test
  void cutAnywhereInTwoItGivesTheSameEvents() {
    for (int cut = 0; cut <= BYTES.length; cut++) {
      assertThat(parse(BYTES, cut)).as("cut at %d", cut).containsExactlyElementsOf(EXPECTED);
    }
  }

  @Test
  void cutAnywhereInThreeItGivesTheSameEvents() {
    for (int a = 0; a <= BYTES.length; a++) {
      for (int b = a; b <= BYTES.length; b++) {
        List<Seen> seen = parse(BYTES, a, b);
        if (!seen.equals(EXPECTED)) {
          assertThat(seen).as("cut at %d and %d", a, b).containsExactlyElementsOf(EXPECTED);
        }
      }
    }
  }

  @Test
  void fedByteByByteItGivesTheSameEvents() {
    int[] cuts = new int[BYTES.length];
    for (int i = 0; i < cuts.length; i++) {
      cuts[i] = i;
    }
    assertThat(parse(BYTES, cuts)).containsExactlyElementsOf(EXPECTED);
  }

  @Test
  void aCarriageReturnEndingOneChunkAndALineFeedOpeningTheNextAreOneLineEnd() {
    // One event of two data lines: were the \n after a \r that ended a chunk taken for a line end of its own, the
    // blank line it makes would cut the event in two.
    byte[] crlf = "data: a\r\ndata: b\r\n\r\n".getBytes(StandardCharsets.UTF_8);
    assertThat(parse(crlf, 8, 17, 19)).extracting(Seen::data).containsExactly("a\nb");
    byte[] crcr = "data: a\r\rdata: b\r\r".getBytes(StandardCharsets.UTF_8);
    assertThat(parse(crcr, 8, 9, 17)).extracting(Seen::data).containsExactly("a", "b");
    byte[] lfAfterData = "data: a\r".getBytes(StandardCharsets.UTF_8);
    List<Seen> seen = new ArrayList<>();
    SseParser parser = new SseParser(e -> seen.add(new Seen(e.type(), e.id(), e.dataText())));
    parser.feed(lfAfterData);
    parser.feed("\n".getBytes(StandardCharsets.UTF_8));  // the \n of \r\n: no blank line, so no event yet
    assertThat(seen).isEmpty();
    parser.feed("\n".getBytes(StandardCharsets.UTF_8));  // now the blank line
    assertThat(seen).extracting(Seen::data).containsExactly("a");
  }

  @Test
  void aLeadingByteOrderMarkIsSkippedEvenCutAndOnlyAtTheStart() {
    byte[] bom = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};
    byte[] body = "data: x\n\n".getBytes(StandardCharsets.UTF_8);
    byte[] withBom = new byte[bom.length + body.length];
    System.arraycopy(bom, 0, withBom, 0, bom.length);
    System.arraycopy(body, 0, withBom, bom.length, body.length);
    for (int cut = 0; cut <= withBom.length; cut++) {
      assertThat(parse(withBom, cut)).as("cut at %d", cut).containsExactly(new Seen("message", "", "x"));
    }
    byte[] later = "data: \uFEFFx\n\n".getBytes(StandardCharsets.UTF_8);
    assertThat(parse(later, 7)).extracting(Seen::data).containsExactly("\uFEFFx");
  }

  @Test
  void aLineLongerThanTheBoundFailsInsteadOfGrowingWithoutEnd() {
    SseParser parser = new SseParser(e -> { }, 64);
    parser.feed(("data: " + "x".repeat(50) + "\n").getBytes(StandardCharsets.UTF_8));
    assertThatThrownBy(() -> parser.feed(("data: " + "y".repeat(30) + "\n").getBytes(StandardCharsets.UTF_8)))
        .as("the event's data would pass 64 bytes").isInstanceOf(IllegalStateException.class);
    SseParser lines = new SseParser(e -> { }, 64);
    assertThatThrownBy(() -> {
      for (int i = 0; i < 10; i++) {
        lines.feed("0123456789".getBytes(StandardCharsets.UTF_8));  // one line that never ends
      }
    }).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void aDeliveryEventsDataReadsAsOneFetchedDelivery() {
    String data = "{\"token\":\"tk-1\",\"topic\":\"t\",\"partition\":3,\"offset\":41,\"attempt\":1,"
        + "\"leaseExpiresAt\":1,\"key\":\"a2V5\",\"keyEncoding\":\"base64\",\"value\":{\"rl\":[1,2]},"
        + "\"valueEncoding\":\"json\",\"headers\":{\"h\":\"v\"},\"timestamp\":5}";
    List<String> got = new ArrayList<>();
    SseParser parser = new SseParser(e -> FetchAnswer.readDelivery(e.data(), (token, key, value, partition, offset) ->
        got.add(token + " " + key + " " + new String(value, StandardCharsets.UTF_8) + " " + partition + " " + offset)));
    parser.feed(("id: 7\nevent: delivery\ndata: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
    assertThat(got).containsExactly("tk-1 key {\"rl\":[1,2]} 3 41");
    assertThatThrownBy(() -> FetchAnswer.readDelivery("{\"token\":\"a\"} {}".getBytes(StandardCharsets.UTF_8),
        (token, key, value, partition, offset) -> { })).isInstanceOf(IllegalArgumentException.class);
  }
}
