package dev.runnel.transport.http;

import io.vertx.core.json.JsonObject;

import java.net.http.HttpResponse;
import java.util.Locale;

import static org.assertj.core.api.Assertions.assertThat;

/** An HTTP answer in the transport's tests, and the check that an error is a well-formed problem. */
record Reply(int status, HttpResponse<String> response) {

  String body() {
    return response.body();
  }

  JsonObject json() {
    return new JsonObject(response.body());
  }

  String contentType() {
    return header("Content-Type");
  }

  String header(String name) {
    return response.headers().firstValue(name).orElse(null);
  }

  /** The answer is {@code application/problem+json} with exactly the five fields, this status and this code. */
  static void assertProblem(Reply reply, int status, String code) {
    assertThat(reply.status()).as("status of %s", reply.body()).isEqualTo(status);
    assertThat(reply.contentType()).isEqualTo("application/problem+json");
    JsonObject problem = reply.json();
    assertThat(problem.fieldNames()).containsExactlyInAnyOrder("type", "title", "status", "detail", "code");
    assertThat(problem.getString("code")).isEqualTo(code);
    assertThat(problem.getInteger("status")).isEqualTo(status);
    assertThat(problem.getString("type"))
        .isEqualTo("urn:runnel:problem:" + code.toLowerCase(Locale.ROOT).replace('_', '-'));
    assertThat(problem.getString("title")).isNotBlank();
    assertThat(problem.getString("detail")).isNotBlank().doesNotContain("Exception").doesNotContain("\tat ");
  }
}
