package dev.runnel.transport.http;

import static dev.runnel.transport.http.Reply.assertProblem;
import static org.assertj.core.api.Assertions.assertThat;

import dev.runnel.durability.test.TestPostgres;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * Answers count in {@code http.maxHeldBytes} until they are written out: a client that never reads a large answer
 * pins it, and once the bound is reached other large answers are 503 OVERLOADED (nothing lost: a read is read again)
 * instead of piling up in memory; when that client goes, they are answered again.
 */
class HeldAnswersTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static final int RECORD = 8 * 1024 * 1024;

  private static HttpNode node;

  @BeforeAll
  static void start() {
    node = new HttpNode(PG, new HttpTransportOptions().setInstances(1)
        .setMaxBodyBytes(16 * 1024 * 1024).setMaxHeldBytes(12 * 1024 * 1024));
    assertThat(call("PUT", "/topics/big", "{\"config\":{\"maxRecordBytes\":16777216}}").status()).isEqualTo(201);
    String body = "{\"records\":[{\"value\":\"" + "x".repeat(RECORD) + "\",\"valueEncoding\":\"utf8\"}]}";
    assertThat(call("POST", "/topics/big/records", body).status()).isEqualTo(200);
  }

  @AfterAll
  static void stop() {
    if (node != null) {
      node.close();
    }
  }

  @Test
  void aClientThatDoesNotReadPinsBoundedMemory() throws Exception {
    String read = "/topics/big/partitions/0/records?offset=0&maxBytes=16777216";
    assertThat(call("GET", read, null).status()).isEqualTo(200);
    Reply refused;
    try (Socket deaf = new Socket()) {
      deaf.setReceiveBufferSize(4096);
      deaf.connect(new InetSocketAddress("127.0.0.1", node.transport.actualPort()));
      OutputStream out = deaf.getOutputStream();
      java.io.InputStream in = deaf.getInputStream();
      // The deaf client reads its answer's status line and then nothing: a 200 whose ~11 MiB body stays pinned. (Its
      // own read may meet a test read holding the bytes and be refused: then it asks again.)
      String status = "";
      for (int attempt = 0; attempt < 50 && !status.startsWith("HTTP/1.1 200"); attempt++) {
        out.write(("GET " + read + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
        out.flush();
        status = headers(in);
        if (!status.startsWith("HTTP/1.1 200")) {
          int length = Integer.parseInt(status.replaceAll("(?is).*content-length: *([0-9]+).*", "$1"));
          in.readNBytes(length);  // the problem's body; the connection stays usable
        }
      }
      assertThat(status).as("the deaf client's answer").startsWith("HTTP/1.1 200");
      refused = null;
      for (int i = 0; i < 100 && refused == null; i++) {
        Reply r = call("GET", read, null);
        if (r.status() == 503) {
          refused = r;
        } else {
          assertThat(r.status()).isEqualTo(200);
          Thread.sleep(50);
        }
      }
      assertThat(refused).as("a large answer refused while another one is pinned").isNotNull();
      assertProblem(refused, 503, "OVERLOADED");
      assertThat(refused.header("Retry-After")).isNotNull();
      // Small answers are not counted: the node still answers them.
      assertThat(call("GET", "/topics/big", null).status()).isEqualTo(200);
    }
    // The deaf client is gone: its answer's bytes are released and large answers are sent again.
    Reply again = null;
    for (int i = 0; i < 100 && (again == null || again.status() != 200); i++) {
      again = call("GET", read, null);
      if (again.status() != 200) {
        Thread.sleep(50);
      }
    }
    assertThat(again.status()).isEqualTo(200);
  }

  /**
   * The node speaks HTTP/1.1 only: a client that asks for an h2c upgrade (the JDK's does by default) is answered in
   * HTTP/1.1, large answers included, since the bounds of this module are HTTP/1.1's.
   */
  @Test
  void aClientAskingForHttp2IsAnsweredInHttp11() throws Exception {
    HttpClient preferring2 = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    for (int i = 0; i < 3; i++) {
      HttpResponse<String> r = preferring2.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:"
          + node.transport.actualPort() + "/topics/big/partitions/0/records?offset=0&maxBytes=16777216"))
          .timeout(Duration.ofSeconds(30)).build(), HttpResponse.BodyHandlers.ofString());
      assertThat(r.version()).isEqualTo(HttpClient.Version.HTTP_1_1);
      assertThat(r.statusCode()).isEqualTo(200);
      assertThat(r.body().length()).isGreaterThan(RECORD);
    }
  }

  /** An answer's status line and headers, read byte by byte up to the blank line. */
  private static String headers(java.io.InputStream in) throws java.io.IOException {
    StringBuilder head = new StringBuilder();
    while (!head.toString().endsWith("\r\n\r\n")) {
      int b = in.read();
      if (b < 0) {
        throw new java.io.EOFException("the node closed the connection");
      }
      head.append((char) b);
    }
    return head.toString();
  }

  private static Reply call(String method, String path, String body) {
    return node.call(method, path, body);
  }
}
