package dev.runnel.server;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Queue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Many connections sending bodies near the body limit, and clients that never read their answers, keep the node's
 * resident memory, measured from outside (the kernel's {@code VmHWM} and {@code VmRSS} of the node JVM), under
 * {@code -Xmx} + {@code storage.tailCacheBytes} + {@code http.maxHeldBytes} + 256 MiB, while every producer's answer is
 * 200 or 503 {@code OVERLOADED} with {@code Retry-After}: no reset, no other status. Slow readers' answers count in
 * the held bytes until written out, so they are 200 when they fit and 503 when they do not.
 *
 * <p>The clients are plain sockets speaking HTTP/1.1, so every byte that comes back is seen: a reset or an early close
 * is an {@link IOException}, never hidden by a client library's retry. For a comparison run, {@code
 * -DmemoryBound.maxHeldBytes=...} changes the held-bytes bound (the bound asserted follows it), {@code
 * -DmemoryBound.slowReaders=n} the number of slow readers, and {@code -DmemoryBound.jvmOptions="..."} adds node JVM
 * options (with {@code -XX:NativeMemoryTracking=summary} the test prints the node's {@code VM.native_memory summary}).
 */
class MemoryBoundIT {

  private static final long MIB = 1024 * 1024;
  private static final long XMX = 1024 * MIB;
  private static final long MAX_BODY_BYTES = 16 * MIB;
  private static final long TAIL_CACHE_BYTES = 64 * MIB;
  private static final long MAX_HELD_BYTES = Long.getLong("memoryBound.maxHeldBytes", 256 * MIB);
  private static final long SLACK = 256 * MIB;
  private static final long BOUND = XMX + TAIL_CACHE_BYTES + MAX_HELD_BYTES + SLACK;

  private static final String TOPIC = "big";
  private static final int PARTITIONS = 4;
  /** Producer connections, each one request at a time: 48 bodies of 16 MiB are three times the held-bytes bound. */
  private static final int PRODUCERS = 48;
  /** Connections that pipeline large produces and never read an answer. */
  private static final int DEAF_PRODUCERS = 2;
  private static final int DEAF_PRODUCES = 8;
  /**
   * Connections that pipeline reads of a 16 MiB record (21 MiB of JSON each) and read their answers at 10 KiB/s: a node
   * that rendered every pipelined read of one would hold 64 answers, 1.3 GiB. Each does pin the answer it is sending
   * (in Netty's outbound buffer, direct memory that no bound counts): a few fit in the slack, one per connection of
   * many would not ({@code -DmemoryBound.slowReaders=16} goes past the bound).
   */
  private static final int SLOW_READERS = Integer.getInteger("memoryBound.slowReaders", 2);
  private static final int SLOW_READS = 64;
  private static final long LOAD_MS = 20_000;
  /** How long a producer waits after a 503 before it sends again: an impatient client (Retry-After says 1 s). */
  private static final long PAUSE_AFTER_503_MS = 100;

  @TempDir
  Path tmp;

  @Test
  @Timeout(value = 180, unit = TimeUnit.SECONDS)  // a node start (NodeProcess allows 120 s), 20 s of load, a stop
  void bodiesNearTheLimitOnManyConnectionsAndDeafClientsKeepResidentMemoryBounded() throws Exception {
    List<String> jvm = new ArrayList<>(List.of("-Xmx" + (XMX / MIB) + "m"));
    String extra = System.getProperty("memoryBound.jvmOptions", "").trim();
    if (!extra.isEmpty()) {
      jvm.addAll(Arrays.asList(extra.split("\\s+")));
    }
    Map<String, String> env = Map.of(
        "RUNNEL_HTTP_MAX_BODY_BYTES", Long.toString(MAX_BODY_BYTES),
        "RUNNEL_STORAGE_TAIL_CACHE_BYTES", Long.toString(TAIL_CACHE_BYTES),
        "RUNNEL_HTTP_MAX_HELD_BYTES", Long.toString(MAX_HELD_BYTES));
    long began = System.nanoTime();
    try (NodeProcess node = new NodeProcess(tmp.resolve("data"), jvm, env)) {
      node.start();
      long started = System.nanoTime();
      long pid = node.pid();
      assertThat(node.send("PUT", "/topics/" + TOPIC, "{\"partitions\":" + PARTITIONS
          + ",\"config\":{\"maxRecordBytes\":" + MAX_BODY_BYTES + "}}").statusCode()).isEqualTo(201);

      // One body per partition, each 4 KiB under the body limit: one record of a value of about 16 MiB.
      byte[][] bodies = new byte[PARTITIONS][];
      for (int p = 0; p < PARTITIONS; p++) {
        bodies[p] = produceBody(p, (int) (MAX_BODY_BYTES - 4096));
      }
      String produce = "/topics/" + TOPIC + "/records";
      try (Connection first = new Connection(node.port())) {  // the record the slow readers read
        first.send("POST", produce, bodies[0]);
        Answer a = first.receive();
        assertThat(a.status()).as("first produce: %s", a.text()).isEqualTo(200);
      }

      AtomicBoolean stop = new AtomicBoolean();
      long loadEnd = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(LOAD_MS);
      Sampler sampler = new Sampler(pid, node);
      Thread sampling = started("rss-sampler", () -> sampler.run(stop));

      AtomicInteger ok = new AtomicInteger();
      AtomicInteger heldRefusals = new AtomicInteger();  // 503 OVERLOADED from http.maxHeldBytes
      AtomicInteger otherOverloaded = new AtomicInteger();  // 503 OVERLOADED from elsewhere (a partition's full queue)
      AtomicLong bytesSent = new AtomicLong();
      Queue<String> unexpected = new ConcurrentLinkedQueue<>();
      Map<Integer, AtomicInteger> statuses = new ConcurrentHashMap<>();
      List<Thread> producers = new ArrayList<>();
      for (int c = 0; c < PRODUCERS; c++) {
        int id = c;
        producers.add(started("producer-" + c, () -> {
          Connection conn = null;
          try {
            for (int seq = 0; seq < 10_000 && System.nanoTime() < loadEnd; seq++) {
              try {
                if (conn == null) {
                  conn = new Connection(node.port());
                }
                conn.send("POST", produce, bodies[(id + seq) % PARTITIONS]);
                bytesSent.addAndGet(bodies[0].length);
                Answer a = conn.receive();
                statuses.computeIfAbsent(a.status(), s -> new AtomicInteger()).incrementAndGet();
                if (a.status() == 200 && a.text().contains("\"results\"")) {
                  ok.incrementAndGet();
                } else if (a.status() == 503 && "1".equals(a.header("retry-after"))
                    && a.text().contains("OVERLOADED")) {
                  (a.text().contains("http.maxHeldBytes") ? heldRefusals : otherOverloaded).incrementAndGet();
                  Thread.sleep(PAUSE_AFTER_503_MS);
                } else {
                  unexpected.add("producer " + id + ": " + a.status() + " " + a.headers() + " " + a.text());
                }
              } catch (IOException e) {
                unexpected.add("producer " + id + ": " + e);
                if (conn != null) {
                  conn.close();
                }
                conn = null;
              }
            }
          } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
          } finally {
            if (conn != null) {
              conn.close();
            }
          }
        }));
      }

      // Deaf clients: they send and never read. Their sockets are closed at the end, which unblocks a stuck write.
      List<Connection> deaf = new ArrayList<>();
      List<Thread> deafThreads = new ArrayList<>();
      for (int d = 0; d < DEAF_PRODUCERS; d++) {
        Connection conn = new Connection(node.port());
        deaf.add(conn);
        int id = d;
        deafThreads.add(started("deaf-producer-" + d, () -> {
          try {
            for (int i = 0; i < DEAF_PRODUCES && !stop.get(); i++) {
              conn.send("POST", produce, bodies[(id + i) % PARTITIONS]);
            }
          } catch (IOException closedAtTheEnd) {
            // the test closed the socket, or the node gave up on a client that does not read: both are fine
          }
        }));
      }
      String read = "/topics/" + TOPIC + "/partitions/0/records?offset=0&maxRecords=1&maxBytes=" + MAX_BODY_BYTES;
      List<String> slowStatusLines = new ArrayList<>();
      for (int r = 0; r < SLOW_READERS; r++) {
        Connection conn = new Connection(node.port());
        deaf.add(conn);
        StringBuilder pipelined = new StringBuilder();
        for (int i = 0; i < SLOW_READS; i++) {
          pipelined.append("GET ").append(read).append(" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        }
        conn.out.write(pipelined.toString().getBytes(StandardCharsets.US_ASCII));
        conn.out.flush();
        deafThreads.add(started("slow-reader-" + r, () -> {
          byte[] chunk = new byte[1024];
          ByteArrayOutputStream head = new ByteArrayOutputStream();
          try {
            while (!stop.get() && System.nanoTime() < loadEnd) {
              int n = conn.in.read(chunk);  // 1 KiB every 100 ms
              if (n < 0) {
                break;
              }
              if (head.size() < 64) {
                head.write(chunk, 0, n);
              }
              Thread.sleep(100);
            }
          } catch (IOException | InterruptedException closedAtTheEnd) {
            // the test closed the socket
          }
          String text = head.toString(StandardCharsets.ISO_8859_1);
          synchronized (slowStatusLines) {
            slowStatusLines.add(text.contains("\r\n") ? text.substring(0, text.indexOf("\r\n")) : text);
          }
        }));
      }

      long joinBy = loadEnd + TimeUnit.SECONDS.toNanos(65);  // a request in flight at the end ends within 60 s
      for (Thread p : producers) {
        p.join(Math.max(1, TimeUnit.NANOSECONDS.toMillis(joinBy - System.nanoTime())));
      }
      long loaded = System.nanoTime();
      stop.set(true);
      for (Thread t : deafThreads) {
        t.join(1_000);
      }
      sampling.join(5_000);
      long hwm = Sampler.status(pid, "VmHWM");  // the kernel's own peak of the node's resident set
      deaf.forEach(Connection::close);
      for (Thread t : deafThreads) {
        t.join(5_000);
      }
      boolean ready = node.get("/health/ready").statusCode() == 200;
      String nmt = extra.contains("NativeMemoryTracking") ? nativeMemory(pid) : "";

      System.out.printf(Locale.ROOT, "MemoryBoundIT: node JVM %s, maxBodyBytes %d MiB, tailCacheBytes %d MiB, "
              + "maxHeldBytes %d MiB, %d producers (bodies of %d bytes), %d deaf producers, %d slow readers, "
              + "%d s of load%n"
              + "  node peak RSS %d MiB (VmHWM; sampled peak %d MiB, %d samples), bound %d MiB; embedded Postgres peak "
              + "%d MiB (its processes' VmRSS summed, shared pages counted in each)%n"
              + "  answers %s: %d 200, %d 503 from http.maxHeldBytes, %d other 503 OVERLOADED; %d MiB sent; "
              + "%d unexpected%n"
              + "  slow readers' first lines %s; node ready after the load %s; node start %.1f s, test %.1f s%n%s",
          jvm, MAX_BODY_BYTES / MIB, TAIL_CACHE_BYTES / MIB, MAX_HELD_BYTES / MIB, PRODUCERS,
          bodies[0].length, DEAF_PRODUCERS, SLOW_READERS, LOAD_MS / 1000,
          hwm / MIB, sampler.peak.get() / MIB, sampler.samples.get(), BOUND / MIB, sampler.postgresPeak.get() / MIB,
          new HashMap<>(statuses), ok.get(), heldRefusals.get(), otherOverloaded.get(), bytesSent.get() / MIB,
          unexpected.size(), slowStatusLines, ready, (started - began) / 1e9, (loaded - began) / 1e9, nmt);

      if (!unexpected.isEmpty()) {
        node.log().lines().filter(l -> l.contains("ERROR") || l.contains("Error:") || l.contains("Exception:"))
            .limit(20).forEach(l -> System.out.println("  node log: " + l));
      }
      assertThat(unexpected).as("answers other than 200 or 503 OVERLOADED with Retry-After, and broken connections")
          .isEmpty();
      assertThat(ok.get()).as("produces answered 200").isPositive();
      assertThat(heldRefusals.get()).as("produces refused by http.maxHeldBytes (%d connections of %d MiB bodies)",
          PRODUCERS, MAX_BODY_BYTES / MIB).isPositive();
      // A slow reader's large answer counts in http.maxHeldBytes until written out: it is sent (200) when it fits,
      // else refused (503 OVERLOADED) rather than held without bound.
      assertThat(slowStatusLines).as("what the slow readers read").isNotEmpty()
          .allMatch(l -> l.startsWith("HTTP/1.1 200") || l.startsWith("HTTP/1.1 503"));
      assertThat(ready).as("node ready after the load").isTrue();
      assertThat(node.log()).as("node log").doesNotContain("OutOfMemoryError");
      assertThat(Math.max(hwm, sampler.peak.get())).as("node peak RSS in MiB, against Xmx + tailCacheBytes + "
          + "maxHeldBytes + 256 MiB = %d MiB", BOUND / MIB).isLessThan(BOUND);
      assertThat(node.terminate()).isIn(0, 143);
    }
  }

  /** {@code {"records":[{"value":"xxx…","valueEncoding":"utf8","partition":p}]}}, {@code size} bytes in all. */
  private static byte[] produceBody(int partition, int size) {
    byte[] head = "{\"records\":[{\"value\":\"".getBytes(StandardCharsets.US_ASCII);
    byte[] tail = ("\",\"valueEncoding\":\"utf8\",\"partition\":" + partition + "}]}")
        .getBytes(StandardCharsets.US_ASCII);
    byte[] body = new byte[size];
    System.arraycopy(head, 0, body, 0, head.length);
    Arrays.fill(body, head.length, size - tail.length, (byte) 'x');
    System.arraycopy(tail, 0, body, size - tail.length, tail.length);
    return body;
  }

  /** {@code jcmd <pid> VM.native_memory summary}, for a run with native memory tracking on. */
  private static String nativeMemory(long pid) throws Exception {
    Path jcmd = Path.of(ProcessHandle.current().info().command().orElse("java")).resolveSibling("jcmd");
    Process p = new ProcessBuilder(jcmd.toString(), Long.toString(pid), "VM.native_memory", "summary")
        .redirectErrorStream(true).start();
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    p.waitFor(30, TimeUnit.SECONDS);
    return out;
  }

  /** Reads the node's resident set from /proc every 50 ms, and its Postgres', and keeps the peaks. */
  private static final class Sampler {
    final long pid;
    final NodeProcess node;
    final AtomicLong peak = new AtomicLong();
    final AtomicLong postgresPeak = new AtomicLong();
    final AtomicInteger samples = new AtomicInteger();

    Sampler(long pid, NodeProcess node) {
      this.pid = pid;
      this.node = node;
    }

    void run(AtomicBoolean stop) {
      for (int i = 0; i < 10_000 && !stop.get(); i++) {  // 50 ms apart: at most some 8 minutes
        try {
          peak.accumulateAndGet(status(pid, "VmRSS"), Math::max);
          samples.incrementAndGet();
          if (i % 10 == 0) {
            long pg = 0;
            Optional<ProcessHandle> postmaster = ProcessHandle.of(node.postmasterPid());
            if (postmaster.isPresent()) {
              pg += status(postmaster.get().pid(), "VmRSS");
              for (ProcessHandle child : postmaster.get().children().toList()) {
                pg += status(child.pid(), "VmRSS");
              }
            }
            postgresPeak.accumulateAndGet(pg, Math::max);
          }
          Thread.sleep(50);
        } catch (InterruptedException e) {
          return;
        } catch (IOException | RuntimeException e) {
          // a Postgres backend that ended between listing and reading; the next sample counts
        }
      }
    }

    /** A {@code /proc/<pid>/status} field given in kB, in bytes; 0 for a process that has gone. */
    static long status(long pid, String field) throws IOException {
      Path status = Path.of("/proc/" + pid + "/status");
      List<String> lines;
      try {
        lines = Files.readAllLines(status);
      } catch (java.nio.file.NoSuchFileException gone) {
        return 0;
      }
      for (String line : lines) {
        if (line.startsWith(field + ":")) {
          return Long.parseLong(line.substring(field.length() + 1).replace("kB", "").trim()) * 1024;
        }
      }
      return 0;
    }
  }

  private record Answer(int status, Map<String, String> headers, byte[] body) {
    String header(String name) {
      return headers.get(name);
    }

    String text() {
      return new String(body, StandardCharsets.UTF_8);
    }
  }

  /** One HTTP/1.1 keep-alive connection on a plain socket. */
  private static final class Connection implements AutoCloseable {
    final Socket socket;
    final InputStream in;
    final OutputStream out;

    Connection(int port) throws IOException {
      socket = new Socket();
      socket.connect(new InetSocketAddress("127.0.0.1", port), 5_000);
      socket.setSoTimeout(60_000);  // an answer that never comes fails the request, not the whole test run
      in = new BufferedInputStream(socket.getInputStream(), 64 * 1024);
      out = socket.getOutputStream();
    }

    void send(String method, String path, byte[] body) throws IOException {
      String head = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          + "Content-Length: " + body.length + "\r\n\r\n";
      out.write(head.getBytes(StandardCharsets.US_ASCII));
      out.write(body);
      out.flush();
    }

    Answer receive() throws IOException {
      String statusLine = line();
      String[] parts = statusLine.split(" ", 3);
      if (parts.length < 2 || !parts[0].startsWith("HTTP/1.")) {
        throw new IOException("not an HTTP status line: " + statusLine);
      }
      Map<String, String> headers = new HashMap<>();
      for (String h = line(); !h.isEmpty(); h = line()) {
        int colon = h.indexOf(':');
        headers.put(h.substring(0, colon).trim().toLowerCase(Locale.ROOT), h.substring(colon + 1).trim());
      }
      byte[] body;
      if (headers.containsKey("content-length")) {
        body = in.readNBytes(Integer.parseInt(headers.get("content-length")));
      } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (int size = Integer.parseInt(line().split(";")[0].trim(), 16); size > 0;
             size = Integer.parseInt(line().split(";")[0].trim(), 16)) {
          all.write(in.readNBytes(size));
          line();
        }
        while (!line().isEmpty()) {
          // trailers
        }
        body = all.toByteArray();
      } else {
        body = new byte[0];
      }
      return new Answer(Integer.parseInt(parts[1]), headers, body);
    }

    private String line() throws IOException {
      StringBuilder s = new StringBuilder();
      for (int i = 0; i < 16_384; i++) {
        int b = in.read();
        if (b < 0) {
          throw new EOFException("connection closed by the node" + (s.isEmpty() ? "" : " after '" + s + "'"));
        }
        if (b == '\n') {
          int end = s.length() > 0 && s.charAt(s.length() - 1) == '\r' ? s.length() - 1 : s.length();
          return s.substring(0, end);
        }
        s.append((char) b);
      }
      throw new IOException("header line longer than 16 KiB");
    }

    @Override
    public void close() {
      try {
        socket.close();
      } catch (IOException ignored) {
        // closing anyway
      }
    }
  }

  private static Thread started(String name, Runnable body) {
    Thread t = new Thread(body, name);
    t.setDaemon(true);
    t.start();
    return t;
  }
}
