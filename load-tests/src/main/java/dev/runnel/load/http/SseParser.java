package dev.runnel.load.http;

import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * An incremental Server-Sent Events parser (the WHATWG "event stream interpretation"), fed the response's chunks as
 * they come, cut anywhere: lines end with {@code \n}, {@code \r\n} or {@code \r} (a {@code \r} ending one chunk and
 * the {@code \n} opening the next are one line end); {@code data:} lines of one event are joined with {@code \n};
 * {@code :} comments are skipped; {@code id:} sets the last event id, which stays for later events (the value a
 * reconnect sends as {@code Last-Event-ID}); {@code retry:} with digits only sets the reconnection time; one space
 * after the colon is dropped; a blank line dispatches the event, unless it has no data (then only its type is
 * forgotten). A leading byte-order mark is skipped. Not thread-safe: one stream, one thread.
 *
 * <p>It works on bytes: the line ends are ASCII, which never occur inside a UTF-8 sequence, so an event's data is
 * handed over as the bytes the stream carried (a delivery's JSON, read by {@link FetchAnswer#readDelivery}).
 */
final class SseParser {

  /** One dispatched event: its type ({@code message} when none was given), the last event id, its data. */
  record Event(String type, String id, byte[] data) {

    String dataText() {
      return new String(data, StandardCharsets.UTF_8);
    }
  }

  @FunctionalInterface
  interface Handler {
    void event(Event event);
  }

  /** More than this in one line or one event's data is not a stream this tool reads (the parser fails). */
  static final int MAX_EVENT_BYTES = 64 << 20;

  private static final byte[] BOM = {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF};

  private final Handler handler;
  private final int maxEventBytes;
  private byte[] line = new byte[256];
  private int lineLength;
  private byte[] data = new byte[1024];
  private int dataLength;
  /** Whether the event has a data field at all ({@code data:} with nothing after it is an empty line of data). */
  private boolean hasData;
  private String type;
  private String lastEventId = "";
  private long retryMs = -1;
  private boolean afterCr;
  /** Bytes of the stream's start compared with the byte-order mark so far; -1 once past it. */
  private int bomSeen;
  private long comments;

  SseParser(Handler handler) {
    this(handler, MAX_EVENT_BYTES);
  }

  SseParser(Handler handler, int maxEventBytes) {
    this.handler = handler;
    this.maxEventBytes = maxEventBytes;
  }

  /** The id the last event (or a later {@code id:} line) set; empty when none did. */
  String lastEventId() {
    return lastEventId;
  }

  /** The reconnection time the stream asked for ({@code retry:}), or -1. */
  long retryMs() {
    return retryMs;
  }

  /** Comment lines seen (the node's {@code : idle} keep-alives among them). */
  long comments() {
    return comments;
  }

  void feed(Buffer chunk) {
    feed(chunk.getBytes());
  }

  void feed(byte[] bytes) {
    feed(bytes, 0, bytes.length);
  }

  /** Takes the next bytes of the stream; dispatches every event they complete, in order. */
  void feed(byte[] bytes, int from, int to) {
    int i = from;
    while (bomSeen >= 0 && i < to) {  // the stream's first bytes, while they may still be a byte-order mark
      if (bytes[i] != BOM[bomSeen]) {
        // Not a BOM: what was held back as its prefix is ordinary bytes (a partial BOM is no stream's start).
        byte[] held = Arrays.copyOf(BOM, bomSeen);
        bomSeen = -1;
        feedLines(held, 0, held.length);
        break;
      }
      i++;
      if (++bomSeen == BOM.length) {
        bomSeen = -1;
      }
    }
    if (bomSeen < 0) {
      feedLines(bytes, i, to);
    }
  }

  private void feedLines(byte[] bytes, int from, int to) {
    int start = from;
    for (int i = from; i < to; i++) {
      byte b = bytes[i];
      if (b != '\n' && b != '\r') {
        continue;
      }
      if (b == '\n' && afterCr && i == start && lineLength == 0) {
        afterCr = false;  // the \n of a \r\n whose \r ended the line already
        start = i + 1;
        continue;
      }
      appendLine(bytes, start, i);
      afterCr = b == '\r';
      line();
      start = i + 1;
    }
    if (start < to) {
      afterCr = false;
      appendLine(bytes, start, to);
    }
  }

  private void appendLine(byte[] bytes, int from, int to) {
    int n = to - from;
    if (n == 0) {
      return;
    }
    if (lineLength + n > maxEventBytes) {
      throw new IllegalStateException("an SSE line longer than " + maxEventBytes + " bytes");
    }
    if (lineLength + n > line.length) {
      line = Arrays.copyOf(line, Math.max(lineLength + n, Math.min(maxEventBytes, 2 * line.length)));
    }
    System.arraycopy(bytes, from, line, lineLength, n);
    lineLength += n;
  }

  /** The line in {@link #line} is complete. */
  private void line() {
    int n = lineLength;
    lineLength = 0;
    if (n == 0) {
      dispatch();
      return;
    }
    if (line[0] == ':') {
      comments++;
      return;
    }
    int colon = -1;
    for (int i = 0; i < n; i++) {
      if (line[i] == ':') {
        colon = i;
        break;
      }
    }
    int fieldEnd = colon < 0 ? n : colon;
    int valueStart = colon < 0 ? n : colon + 1;
    if (valueStart < n && line[valueStart] == ' ') {
      valueStart++;
    }
    if (is("data", fieldEnd)) {
      appendData(valueStart, n);
    } else if (is("event", fieldEnd)) {
      type = text(valueStart, n);
    } else if (is("id", fieldEnd)) {
      String id = text(valueStart, n);
      if (id.indexOf('\0') < 0) {
        lastEventId = id;
      }
    } else if (is("retry", fieldEnd)) {
      String value = text(valueStart, n);
      if (!value.isEmpty() && value.length() < 19 && value.chars().allMatch(c -> c >= '0' && c <= '9')) {
        retryMs = Long.parseLong(value);
      }
    }
    // any other field is ignored
  }

  private boolean is(String field, int fieldEnd) {
    if (fieldEnd != field.length()) {
      return false;
    }
    for (int i = 0; i < fieldEnd; i++) {
      if (line[i] != field.charAt(i)) {
        return false;
      }
    }
    return true;
  }

  private String text(int from, int to) {
    return new String(line, from, to - from, StandardCharsets.UTF_8);
  }

  private void appendData(int from, int to) {
    int n = to - from + (hasData ? 1 : 0);
    if (dataLength + n > maxEventBytes) {
      throw new IllegalStateException("an SSE event with more than " + maxEventBytes + " bytes of data");
    }
    if (dataLength + n > data.length) {
      data = Arrays.copyOf(data, Math.max(dataLength + n, Math.min(maxEventBytes, 2 * data.length)));
    }
    if (hasData) {
      data[dataLength++] = '\n';  // the line end between two data lines; none after the last
    }
    System.arraycopy(line, from, data, dataLength, to - from);
    dataLength += to - from;
    hasData = true;
  }

  private void dispatch() {
    boolean any = hasData;
    String t = type;
    hasData = false;
    type = null;
    if (!any) {
      dataLength = 0;
      return;
    }
    byte[] d = Arrays.copyOf(data, dataLength);
    dataLength = 0;
    handler.event(new Event(t == null || t.isEmpty() ? "message" : t, lastEventId, d));
  }
}
