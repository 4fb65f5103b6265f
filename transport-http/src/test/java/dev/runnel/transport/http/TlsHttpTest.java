package dev.runnel.transport.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.runnel.broker.Broker;
import dev.runnel.durability.LogStore;
import dev.runnel.durability.test.TestPostgres;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SelfSignedCertificate;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** TLS on the listener from PEM files: HTTPS works with the certificate trusted, plain HTTP does not get through. */
class TlsHttpTest {

  @RegisterExtension
  static final TestPostgres PG = new TestPostgres();

  private static Vertx vertx;
  private static LogStore store;
  private static HttpTransport transport;
  private static SelfSignedCertificate certificate;

  @BeforeAll
  static void start() {
    vertx = Vertx.vertx();
    store = LogStore.open(vertx, PG.options()).await();
    certificate = SelfSignedCertificate.create("localhost");
    transport = HttpTransport.create(vertx, new HttpTransportOptions().setHost("127.0.0.1").setPort(0).setInstances(1)
        .setShutdownGraceMs(1_000).setTls(certificate.certificatePath(), certificate.privateKeyPath()));
    transport.start(Broker.create(vertx, store)).await();
  }

  @AfterAll
  static void stop() {
    if (transport != null) {
      transport.stop().await();
    }
    if (store != null) {
      store.close().await();
    }
    if (vertx != null) {
      vertx.close().await();
    }
    if (certificate != null) {
      certificate.delete();
    }
  }

  @Test
  void httpsWithTheTrustedCertificate() {
    var client = vertx.createHttpClient(new HttpClientOptions().setSsl(true).setVerifyHost(false)
        .setTrustOptions(new PemTrustOptions().addCertPath(certificate.certificatePath())));
    String body = client.request(new RequestOptions().setMethod(HttpMethod.PUT).setHost("127.0.0.1")
            .setPort(transport.actualPort()).setURI("/topics/tls"))
        .compose(r -> r.send("{\"partitions\":1}"))
        .compose(r -> {
          assertThat(r.statusCode()).isEqualTo(201);
          return r.body();
        })
        .await().toString();
    assertThat(body).contains("\"name\":\"tls\"");
  }

  @Test
  void untrustedOrPlainClientsGetNothing() {
    var untrusted = vertx.createHttpClient(new HttpClientOptions().setSsl(true));
    assertThatThrownBy(() -> untrusted.request(HttpMethod.GET, transport.actualPort(), "127.0.0.1", "/topics")
        .compose(r -> r.send()).await()).isNotNull();
    var plain = vertx.createHttpClient(new HttpClientOptions());
    assertThatThrownBy(() -> plain.request(HttpMethod.GET, transport.actualPort(), "127.0.0.1", "/topics")
        .compose(r -> r.send()).await()).isNotNull();
  }

  @Test
  void onlyBothFilesOrNeither() {
    assertThatThrownBy(() -> new HttpTransportOptions().setTls("cert.pem", null))
        .isInstanceOf(IllegalArgumentException.class);
  }
}
