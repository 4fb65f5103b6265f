package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.auth.ApiKey;
import dev.runnel.broker.auth.ApiKeys;
import io.vertx.core.Handler;
import io.vertx.core.net.NetSocket;
import io.vertx.proton.ProtonConnection;
import io.vertx.proton.sasl.ProtonSaslAuthenticator;
import org.apache.qpid.proton.engine.Sasl;
import org.apache.qpid.proton.engine.Transport;

import java.nio.charset.StandardCharsets;

/**
 * SASL for one connection: PLAIN with an API key's name and secret when auth is on, ANONYMOUS only when it is off —
 * never both (DESIGN.md section 7). vertx-proton has no server-side PLAIN; this follows Eclipse Hono's. The key that
 * authenticated is put in the connection's attachments.
 */
final class SaslAuthenticator implements ProtonSaslAuthenticator {

  static final String PLAIN = "PLAIN";
  static final String ANONYMOUS = "ANONYMOUS";

  private final ApiKeys keys;
  private Sasl sasl;
  private ProtonConnection connection;
  private boolean succeeded;

  SaslAuthenticator(ApiKeys keys) {
    this.keys = keys;
  }

  @Override
  public void init(NetSocket socket, ProtonConnection protonConnection, Transport transport) {
    FlushCoalescing.install(socket);  // vertx-proton hands the socket over only here
    this.connection = protonConnection;
    sasl = transport.sasl();
    sasl.server();
    sasl.allowSkip(false);
    sasl.setMechanisms(keys.enabled() ? PLAIN : ANONYMOUS);
  }

  @Override
  public void process(Handler<Boolean> done) {
    String[] mechanisms = sasl.getRemoteMechanisms();
    if (mechanisms.length == 0) {
      done.handle(false);  // no sasl-init yet
      return;
    }
    String mechanism = mechanisms[0];
    byte[] response = new byte[sasl.pending()];
    sasl.recv(response, 0, response.length);
    ApiKey key = null;
    if (!keys.enabled() && mechanism.equals(ANONYMOUS)) {
      key = ApiKey.ANONYMOUS;
    } else if (keys.enabled() && mechanism.equals(PLAIN)) {
      key = plain(response);
    }
    if (key != null) {
      AmqpConnection.apiKey(connection, key);
      succeeded = true;
      sasl.done(Sasl.SaslOutcome.PN_SASL_OK);
    } else {
      sasl.done(Sasl.SaslOutcome.PN_SASL_AUTH);
    }
    done.handle(true);
  }

  /** PLAIN's response is {@code authzid NUL authcid NUL passwd}; the authorization id, if any, is ignored. */
  private ApiKey plain(byte[] response) {
    int first = indexOf(response, 0);
    int second = first < 0 ? -1 : indexOf(response, first + 1);
    if (second < 0) {
      return null;
    }
    String name = new String(response, first + 1, second - first - 1, StandardCharsets.UTF_8);
    String secret = new String(response, second + 1, response.length - second - 1, StandardCharsets.UTF_8);
    return keys.authenticate(name, secret);
  }

  private static int indexOf(byte[] bytes, int from) {
    for (int i = from; i < bytes.length; i++) {
      if (bytes[i] == 0) {
        return i;
      }
    }
    return -1;
  }

  @Override
  public boolean succeeded() {
    return succeeded;
  }
}
