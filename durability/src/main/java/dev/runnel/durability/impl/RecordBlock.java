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
 * (all big-endian). SQL reads the same format in {@code runnel_decode_block} (migration V3): a new version needs both.
 */
final class RecordBlock {

  /** A batch row's {@code format}: 0 is this class's block; another block layout would take another number. */
  static final int FORMAT = 0;

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

  /** The records of one read, gathered from blocks in offset order within a record bound and a byte bound. */
  static final class Gathered {
    final List<LogRecord> records = new ArrayList<>();
    final int maxRecords;
    final long maxBytes;
    private long bytes;

    Gathered(int maxRecords, long maxBytes) {
      this.maxRecords = maxRecords;
      this.maxBytes = maxBytes;
    }

    long bytes() {
      return bytes;
    }

    boolean full() {
      return records.size() >= maxRecords;
    }

    /** The offset after the last record gathered, or {@code otherwise} if there is none. */
    long next(long otherwise) {
      return records.isEmpty() ? otherwise : records.get(records.size() - 1).offset() + 1;
    }

    /**
     * Adds the block's records from offset {@code from} on. Returns false once a bound stops it; the first record
     * of a read is taken whatever its size.
     */
    boolean addFrom(Buffer block, long baseOffset, long from) {
      Cursor cursor = new Cursor(block, baseOffset);
      while (cursor.hasNext() && cursor.nextOffset() < from) {
        cursor.skip();
      }
      while (cursor.hasNext()) {
        if (full()) {
          return false;
        }
        LogRecord r = cursor.next();
        int size = r.encodedSize();
        if (!records.isEmpty() && bytes + size > maxBytes) {
          return false;
        }
        records.add(r);
        bytes += size;
      }
      return true;
    }
  }

  /** Reads a block's records in offset order; {@link #skip} passes one without allocating anything. */
  static final class Cursor {
    private final Buffer b;
    private final long baseOffset;
    private final int count;
    private int index;
    private int pos;

    Cursor(Buffer b, long baseOffset) {
      byte version = b.getByte(0);
      if (version != VERSION) {
        throw new IllegalStateException("unknown record block version " + version);
      }
      this.b = b;
      this.baseOffset = baseOffset;
      this.count = b.getInt(1);
      this.pos = 5;
    }

    boolean hasNext() {
      return index < count;
    }

    long nextOffset() {
      return baseOffset + index;
    }

    void skip() {
      pos += 8;
      int keyLength = b.getInt(pos);
      pos += 4 + Math.max(0, keyLength);
      pos += 4 + b.getInt(pos);
      pos += 2 + b.getShort(pos);
      int headerCount = b.getShort(pos);
      pos += 2;
      for (int h = 0; h < headerCount; h++) {
        pos += 2 + b.getShort(pos);
        pos += 4 + b.getInt(pos);
      }
      pos += 2 + Math.max(0, b.getShort(pos));
      index++;
    }

    LogRecord next() {
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
      String contentType = shortString();
      int headerCount = b.getShort(pos);
      pos += 2;
      List<Header> headers = new ArrayList<>(headerCount);
      for (int h = 0; h < headerCount; h++) {
        String name = shortString();
        int hvLength = b.getInt(pos);
        pos += 4;
        headers.add(new Header(name, b.getBytes(pos, pos + hvLength)));
        pos += hvLength;
      }
      String idempotencyKey = shortString();
      return new LogRecord(key, value, contentType, headers, idempotencyKey, baseOffset + index++, timestamp);
    }

    /** A string stored as a 2-byte length (-1: null) and its UTF-8 bytes. */
    private String shortString() {
      int length = b.getShort(pos);
      pos += 2;
      if (length < 0) {
        return null;
      }
      String s = b.getString(pos, pos + length, "UTF-8");
      pos += length;
      return s;
    }
  }

  private static void appendShortString(Buffer b, String s) {
    byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
    if (bytes.length > Short.MAX_VALUE) {
      throw new IllegalArgumentException("string longer than 32767 bytes: " + s.substring(0, 32) + "...");
    }
    b.appendShort((short) bytes.length).appendBytes(bytes);
  }
}
