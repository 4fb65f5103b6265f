package dev.runnel.durability.impl;

import dev.runnel.durability.Header;
import dev.runnel.durability.LogRecord;
import io.vertx.core.buffer.Buffer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The binary form of one stored batch: the records of one write, in offset order. Offsets are implicit
 * (base offset of the row + index), so a block never needs rewriting.
 *
 * <pre>
 * byte version (1), int count, then per record:
 *   long timestamp, int keyLength (-1: null), key, int valueLength, value,
 *   short contentTypeLength, contentType (UTF-8), short headerCount,
 *   per header: short nameLength, name (UTF-8), int valueLength, value,
 *   short idempotencyKeyLength (-1: null), idempotencyKey (UTF-8)
 * </pre>
 */
final class RecordBlock {

  private static final byte VERSION = 1;

  private RecordBlock() {
  }

  static Buffer encode(List<LogRecord> records, int sizeHint) {
    Buffer b = Buffer.buffer(sizeHint + 5);
    b.appendByte(VERSION).appendInt(records.size());
    for (LogRecord r : records) {
      b.appendLong(r.timestamp());
      if (r.key() == null) {
        b.appendInt(-1);
      } else {
        b.appendInt(r.key().length).appendBytes(r.key());
      }
      b.appendInt(r.value().length).appendBytes(r.value());
      appendShortString(b, r.contentType());
      b.appendShort((short) r.headers().size());
      for (Header h : r.headers()) {
        appendShortString(b, h.name());
        b.appendInt(h.value().length).appendBytes(h.value());
      }
      if (r.idempotencyKey() == null) {
        b.appendShort((short) -1);
      } else {
        appendShortString(b, r.idempotencyKey());
      }
    }
    return b;
  }

  static List<LogRecord> decode(Buffer b, long baseOffset) {
    int pos = 0;
    byte version = b.getByte(pos++);
    if (version != VERSION) {
      throw new IllegalStateException("unknown record block version " + version);
    }
    int count = b.getInt(pos);
    pos += 4;
    List<LogRecord> records = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      long timestamp = b.getLong(pos);
      pos += 8;
      int keyLength = b.getInt(pos);
      pos += 4;
      byte[] key = null;
      if (keyLength >= 0) {
        key = b.getBytes(pos, pos + keyLength);
        pos += keyLength;
      }
      int valueLength = b.getInt(pos);
      pos += 4;
      byte[] value = b.getBytes(pos, pos + valueLength);
      pos += valueLength;
      int ctLength = b.getShort(pos);
      pos += 2;
      String contentType = b.getString(pos, pos + ctLength, "UTF-8");
      pos += ctLength;
      int headerCount = b.getShort(pos);
      pos += 2;
      List<Header> headers = new ArrayList<>(headerCount);
      for (int h = 0; h < headerCount; h++) {
        int nameLength = b.getShort(pos);
        pos += 2;
        String name = b.getString(pos, pos + nameLength, "UTF-8");
        pos += nameLength;
        int hvLength = b.getInt(pos);
        pos += 4;
        headers.add(new Header(name, b.getBytes(pos, pos + hvLength)));
        pos += hvLength;
      }
      int idLength = b.getShort(pos);
      pos += 2;
      String idempotencyKey = null;
      if (idLength >= 0) {
        idempotencyKey = b.getString(pos, pos + idLength, "UTF-8");
        pos += idLength;
      }
      records.add(new LogRecord(key, value, contentType, headers, idempotencyKey, baseOffset + i, timestamp));
    }
    return records;
  }

  private static void appendShortString(Buffer b, String s) {
    byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
    if (bytes.length > Short.MAX_VALUE) {
      throw new IllegalArgumentException("string longer than 32767 bytes: " + s.substring(0, 32) + "...");
    }
    b.appendShort((short) bytes.length).appendBytes(bytes);
  }
}
