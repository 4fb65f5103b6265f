package dev.runnel.load.amqp;

import io.vertx.core.Future;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;

import java.net.URI;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * AMQP has no topic creation, so the topic is prepared over the node's HTTP API (docs/http-api.md): {@code GET
 * /topics/{t}}, and when it is not there {@code PUT /topics/{t} {"partitions":N}} (201, or 200 when an identical one
 * exists; 409 {@code TOPIC_EXISTS}: someone made another meanwhile, which is then used as it is). A node that does
 * not answer, or answers 503, hands over to the next one.
 */
final class AdminApi {

  private final List<URI> nodes;
  private final String authorization;
  private final HttpClientAgent client;

  /** @param authorization the {@code Authorization} header's value, or null */
  AdminApi(List<URI> nodes, String authorization, HttpClientAgent client) {
    this.nodes = List.copyOf(nodes);
    this.authorization = authorization;
    this.client = client;
  }

  List<URI> nodes() {
    return nodes;
  }

  /** The topic's partition count, once it exists; call on a Vert.x context. */
  Future<Integer> prepareTopic(String topic, int partitions) {
    return prepareTopic(topic, partitions, 0);
  }

  private Future<Integer> prepareTopic(String topic, int partitions, int at) {
    URI node = nodes.get(at);
    String path = "/topics/" + URLEncoder.encode(topic, StandardCharsets.UTF_8).replace("+", "%20");
    Future<Integer> here = call(node, HttpMethod.GET, path, null).compose(got -> {
      if (got.status == 200) {
        return Future.succeededFuture(got.partitions());
      }
      if (got.status != 404) {
        return Future.failedFuture(got.failure("GET " + path + " on " + node));
      }
      Buffer body = Buffer.buffer(new JsonObject().put("partitions", partitions).encode());
      return call(node, HttpMethod.PUT, path, body).compose(created -> {
        if (created.status == 200 || created.status == 201) {
          return Future.succeededFuture(created.partitions());
        }
        if (created.status == 409) {  // TOPIC_EXISTS: made meanwhile, with other settings
          return call(node, HttpMethod.GET, path, null).compose(again -> again.status == 200
              ? Future.succeededFuture(again.partitions())
              : Future.failedFuture(again.failure("GET " + path + " on " + node)));
        }
        return Future.failedFuture(created.failure("PUT " + path + " on " + node));
      });
    });
    return here.recover(err -> {
      boolean moveOn = !(err instanceof Refused r) || r.status == 503;
      if (moveOn && at + 1 < nodes.size()) {
        return prepareTopic(topic, partitions, at + 1);
      }
      return Future.failedFuture(err);
    });
  }

  private Future<Answer> call(URI node, HttpMethod method, String path, Buffer body) {
    RequestOptions options = new RequestOptions().setMethod(method).setHost(node.getHost()).setPort(node.getPort())
        .setURI(path).setIdleTimeout(30_000);
    if (authorization != null) {
      options.putHeader("Authorization", authorization);
    }
    if (body != null) {
      options.putHeader("Content-Type", "application/json");
    }
    return client.request(options)
        .compose(req -> body == null ? req.send() : req.send(body))
        .compose(resp -> resp.body().map(b -> new Answer(resp.statusCode(), b)));
  }

  private record Answer(int status, Buffer body) {

    int partitions() {
      return new JsonObject(body).getJsonArray("partitions").size();
    }

    Refused failure(String what) {
      String text = body.length() > 300 ? body.getString(0, 300) + "..." : body.toString();
      return new Refused(status, what + " answered " + status + ": " + text);
    }
  }

  /** An answer other than the one wanted. */
  private static final class Refused extends RuntimeException {
    final int status;

    Refused(int status, String message) {
      super(message);
      this.status = status;
    }
  }
}
