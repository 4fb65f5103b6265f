package dev.runnel.transport.http.impl;

import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.openapi.validation.RequestValidator;
import io.vertx.openapi.validation.impl.RequestParameterImpl;
import io.vertx.openapi.validation.impl.ValidatableRequestImpl;

import java.util.Map;

/**
 * What validating a produce request against the OpenAPI contract with vertx-openapi (as the openapi router would,
 * before the handler) costs beside the streaming codec that parses it anyway: one core, 100-record requests of 1 KB
 * JSON values. Run: {@code mvn -q -pl transport-http test-compile exec:java -Dexec.classpathScope=test
 * -Dexec.mainClass=dev.runnel.transport.http.impl.ValidationCostBench} (or from the IDE).
 */
public final class ValidationCostBench {

  public static void main(String[] args) throws Exception {
    Vertx vertx = Vertx.vertx();
    try {
      OpenAPIContract contract = Contract.load(vertx).await();
      RequestValidator validator = RequestValidator.create(vertx, contract);
      JsonArray records = new JsonArray();
      for (int i = 0; i < 100; i++) {
        records.add(new JsonObject().put("key", "customer-" + i).put("value", new JsonObject()
            .put("item", "x".repeat(980)).put("qty", i)));
      }
      Buffer body = new JsonObject().put("records", records).toBuffer();
      int rounds = Integer.getInteger("rounds", 5);
      int n = Integer.getInteger("requests", 4000);
      for (int round = 0; round < rounds; round++) {
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
          RecordCodec.produceRequest(body, 10_000);
        }
        long codec = System.nanoTime() - t0;
        t0 = System.nanoTime();
        for (int i = 0; i < n; i++) {
          // What the router does before the handler: the body decoded as JSON and validated against the schema.
          ValidatableRequestImpl request = new ValidatableRequestImpl(Map.of(), Map.of(), Map.of("topic",
              new RequestParameterImpl("orders")), Map.of(), new RequestParameterImpl(body),
              "application/json");
          validator.validate(request, "produce").await();
        }
        long validated = System.nanoTime() - t0;
        System.out.printf("round %d: codec %.0f requests/s (%.1f µs each); vertx-openapi validation alone %.0f "
                + "requests/s (%.1f µs each): validation would add %.0f%% to the codec's parse%n", round,
            n / (codec / 1e9), codec / 1e3 / n, n / (validated / 1e9), validated / 1e3 / n,
            100.0 * validated / codec);
      }
    } finally {
      vertx.close().await();
    }
  }
}
