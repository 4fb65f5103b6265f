package dev.runnel.transport.http.impl;

import dev.runnel.broker.BrokerError;
import dev.runnel.broker.DeadLetter;
import dev.runnel.broker.Delivery;
import dev.runnel.broker.GroupDescription;
import dev.runnel.broker.GroupMode;
import dev.runnel.broker.ProduceResult;
import dev.runnel.broker.TopicDescription;
import dev.runnel.broker.Header;
import dev.runnel.broker.StoredRecord;
import dev.runnel.broker.PartitionOffsets;
import dev.runnel.broker.ReadResult;
import dev.runnel.broker.TopicConfig;
import dev.runnel.broker.TopicStats;
import dev.runnel.broker.SeekResult;
import dev.runnel.transport.http.HttpTransportOptions;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import io.vertx.ext.web.Route;
import io.vertx.ext.web.Router;
import io.vertx.openapi.contract.OpenAPIContract;
import io.vertx.json.schema.Draft;
import io.vertx.json.schema.JsonSchema;
import io.vertx.json.schema.JsonSchemaOptions;
import io.vertx.json.schema.OutputFormat;
import io.vertx.json.schema.OutputUnit;
import io.vertx.json.schema.SchemaRepository;
import io.vertx.json.schema.Validator;
import io.vertx.openapi.contract.OpenAPIVersion;
import io.vertx.openapi.validation.ResponseValidator;
import io.vertx.openapi.validation.ValidatableResponse;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.BiConsumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The OpenAPI document ({@code openapi.yaml}, DESIGN.md section 7) against the router: vertx-openapi loads it, the
 * router serves exactly its operations, and every operation has an id and answers its errors as problem+json.
 */
class OpenApiContractTest {

  /** The router's path-parameter names that the contract spells otherwise (wherever they appear in a path). */
  private static final Map<String, String> CONTRACT_PARAM_NAMES = Map.of("member", "memberId");

  /** The contract's path-parameter names (DESIGN.md section 7). */
  private static final Set<String> PARAM_NAMES = Set.of("topic", "partition", "group", "memberId", "source");

  /** The operations that answer without an API key. */
  private static final Set<String> PUBLIC = Set.of("GET /health/live", "GET /health/ready", "GET /openapi.yaml",
      "POST /webhooks/{source}");

  private static final Set<String> METHODS = Set.of("get", "put", "post", "delete", "options", "head", "patch",
      "trace");
  private static final String PROBLEM = "application/problem+json";
  private static final String PROBLEM_SCHEMA = "#/components/schemas/Problem";
  private static final Pattern ROUTER_PARAM = Pattern.compile(":([A-Za-z0-9_]+)");
  private static final Pattern CONTRACT_PARAM = Pattern.compile("\\{([^}/]+)}");

  private static Vertx vertx;
  private static OpenAPIContract contract;

  @BeforeAll
  static void load() {
    vertx = Vertx.vertx();
    contract = Contract.load(vertx).await();
  }

  @AfterAll
  static void close() {
    if (vertx != null) {
      vertx.close().await();
    }
  }

  @Test
  void vertxOpenApiLoadsTheDocumentWhichIsOpenApi310() {
    assertThat(Contract.yaml().toString(StandardCharsets.UTF_8)).startsWith("openapi: 3.1.0\n");
    assertThat(contract.getVersion()).isEqualTo(OpenAPIVersion.V3_1);
    assertThat(Contract.document().getString("openapi")).isEqualTo("3.1.0");
    // The view vertx-openapi loads has every operation of the whole document.
    assertThat(Contract.operations(contract)).isEqualTo(operations(Contract.document()));
    assertThat(Contract.operations(contract)).contains("GET /topics/{topic}", "POST /webhooks/{source}",
        "DELETE /groups/{group}/members/{memberId}");
  }

  @Test
  void theRouterServesExactlyTheOperationsOfTheContract() {
    Router router = new HttpApi(vertx, null, new HttpTransportOptions(), new HeldBytes(1024 * 1024), new StreamSessions()).router();
    Set<String> routed = routed(router);
    Set<String> described = new TreeSet<>();
    Contract.operations(contract).forEach(o -> described.add(normalise(o)));

    Set<String> notDescribed = new TreeSet<>(routed);
    notDescribed.removeAll(described);
    Set<String> notRouted = new TreeSet<>(described);
    notRouted.removeAll(routed);
    assertThat(notDescribed.isEmpty() && notRouted.isEmpty())
        .as("router and contract differ; routed but not in the contract: %s; in the contract but not routed "
            + ": %s", notDescribed, notRouted)
        .isTrue();
  }

  @Test
  void everyOperationHasAnIdAndAnswersItsErrorsAsProblems() {
    JsonObject document = Contract.document();
    JsonObject sharedResponses = document.getJsonObject("components").getJsonObject("responses");
    List<String> faults = new ArrayList<>();
    Set<String> ids = new HashSet<>();
    forEachOperation(document, (name, operation) -> {
      String id = operation.getString("operationId");
      if (id == null || id.isBlank()) {
        faults.add(name + ": no operationId");
      } else if (!ids.add(id)) {
        faults.add(name + ": operationId " + id + " is used twice");
      }
      JsonObject responses = operation.getJsonObject("responses", new JsonObject());
      if (responses.fieldNames().stream().noneMatch(s -> s.startsWith("2"))) {
        faults.add(name + ": no 2xx response");
      }
      for (String status : responses.fieldNames()) {
        if (status.startsWith("2")) {
          continue;
        }
        JsonObject response = responses.getJsonObject(status);
        String ref = response.getString("$ref");
        if (ref != null) {
          response = sharedResponses.getJsonObject(ref.substring(ref.lastIndexOf('/') + 1));
          if (response == null) {
            faults.add(name + " " + status + ": " + ref + " does not exist");
            continue;
          }
        }
        JsonObject content = response.getJsonObject("content", new JsonObject());
        if (!content.fieldNames().equals(Set.of(PROBLEM))
            || !PROBLEM_SCHEMA.equals(content.getJsonObject(PROBLEM).getJsonObject("schema", new JsonObject())
            .getString("$ref"))) {
          faults.add(name + " " + status + ": not " + PROBLEM + " with the Problem schema, but "
              + content.fieldNames());
        }
      }
    });
    assertThat(faults).isEmpty();
  }

  @Test
  void theProblemSchemaHasTheFiveMembersAndEveryErrorCode() {
    JsonObject schemas = Contract.document().getJsonObject("components").getJsonObject("schemas");
    assertThat(schemas.getJsonObject("Problem").getJsonArray("required").getList())
        .containsExactlyInAnyOrder("type", "title", "status", "detail", "code");
    JsonArray codes = schemas.getJsonObject("ErrorCode").getJsonArray("enum");
    assertThat(codes.getList()).as("every BrokerError is a code of the contract")
        .containsAll(Arrays.stream(BrokerError.values()).map(Enum::name).toList())
        .contains("NOT_LEADER")
        .doesNotHaveDuplicates();
  }

  @Test
  void onlyHealthTheDocumentAndWebhooksAnswerWithoutAnApiKey() {
    JsonObject document = Contract.document();
    assertThat(document.getJsonArray("security").getJsonObject(0).fieldNames()).containsExactly("apiKey");
    JsonObject scheme = document.getJsonObject("components").getJsonObject("securitySchemes").getJsonObject("apiKey");
    assertThat(scheme.getString("type")).isEqualTo("http");
    assertThat(scheme.getString("scheme")).isEqualTo("bearer");
    Set<String> open = new TreeSet<>();
    forEachOperation(document, (name, operation) -> {
      JsonArray security = operation.getJsonArray("security");
      if (security != null) {
        assertThat(security).as(name + ": security is global, or none").isEmpty();
        open.add(name);
      }
    });
    assertThat(open).isEqualTo(new TreeSet<>(PUBLIC));
  }

  @Test
  void pathParametersHaveTheNamesOfTheDesign() {
    for (String operation : Contract.operations(contract)) {
      Matcher m = CONTRACT_PARAM.matcher(operation);
      while (m.find()) {
        assertThat(m.group(1)).as(operation).isIn(PARAM_NAMES);
      }
    }
  }

  @Test
  void everySchemaOfTheDocumentIsAJsonSchema202012() {
    SchemaRepository repository = SchemaRepository.create(new JsonSchemaOptions().setDraft(Draft.DRAFT202012)
        .setBaseUri("https://runnel.dev/openapi/").setOutputFormat(OutputFormat.Basic))
        .preloadMetaSchema(vertx.fileSystem(), Draft.DRAFT202012);
    Validator meta = repository.validator("https://json-schema.org/draft/2020-12/schema");
    JsonObject document = Contract.document();
    Map<String, Object> schemas = new LinkedHashMap<>();
    document.getJsonObject("components").getJsonObject("schemas")
        .forEach(e -> schemas.put("#/components/schemas/" + e.getKey(), e.getValue()));
    collectSchemas(document.getJsonObject("paths"), "#/paths", schemas);
    for (String shared : List.of("parameters", "responses")) {
      collectSchemas(document.getJsonObject("components").getJsonObject(shared), "#/components/" + shared, schemas);
    }
    assertThat(schemas).hasSizeGreaterThan(50);
    List<String> faults = new ArrayList<>();
    schemas.forEach((where, schema) -> {
      OutputUnit result = meta.validate(schema);
      if (!result.getValid()) {
        faults.add(where + ": " + result.getErrors());
      }
    });
    assertThat(faults).isEmpty();
  }

  /**
   * What the handlers' renderers write fits the contract's response schemas, checked by vertx-openapi's response
   * validator: records (a JSON value with a key, headers and an idempotency key; bytes with a key that is not UTF-8),
   * produce results, topics, deliveries, dead letters (with and without their record) and groups.
   */
  @Test
  void theRenderedAnswersFitTheContract() {
    StoredRecord json = new StoredRecord(utf8("k"), utf8("{\"a\":[1,2.5,null]}"), "application/json",
        List.of(new Header("h", utf8("v"))), "idem-1", 7, 1_700_000_000_000L);
    StoredRecord bytes = new StoredRecord(new byte[] {(byte) 0xff}, new byte[] {0, 1, 2}, "application/octet-stream",
        List.of(), null, 8, 1_700_000_000_001L);
    fits("readRecords", 200, RecordCodec.readResponse(3, new ReadResult(List.of(json, bytes), 9, 9, 0)));
    fits("readRecords", 200, RecordCodec.readResponse(0, new ReadResult(List.of(), 0, 0, 0)));
    fits("produce", 200, RecordCodec.produceResponse(List.of(new ProduceResult(0, 5, 1_700_000_000_000L, false),
        new ProduceResult(3, 0, 1_700_000_000_000L, true))));

    TopicDescription topic = new TopicDescription("orders", List.of(new PartitionOffsets(0, 0, 3),
        new PartitionOffsets(1, 2, 2)), TopicConfig.DEFAULT.withRetryPolicy(new JsonObject().put("maxRetries", 5)));
    fits("describeTopic", 200, TopicCodec.topic(topic).toBuffer());
    fits("createTopic", 201, TopicCodec.topic(new TopicDescription("t", List.of(), TopicConfig.DEFAULT)).toBuffer());
    fits("listTopics", 200, new JsonObject().put("topics", new JsonArray().add(TopicCodec.topic(topic))).toBuffer());
    fits("updateTopicConfig", 200, TopicCodec.topic(topic).toBuffer());
    fits("growPartitions", 200, TopicCodec.topic(topic).toBuffer());
    fits("getTopicStats", 200, TopicCodec.stats(new TopicStats("orders", List.of(
        new TopicStats.Partition(0, 2, 5, 3, 300, 1, 1_700_000_000_000L, 1_700_000_001_000L),
        new TopicStats.Partition(1, 0, 0, 0, 0, 0, null, null)), 3, 300, 49_152, 1, 1_700_000_000_000L,
        1_700_000_001_000L)).toBuffer());
    fits("getTopicStats", 200, TopicCodec.stats(new TopicStats("empty", List.of(), 0, 0, 0, 0, null, null)).toBuffer());
    fits("seek", 200, GroupCodec.seekAnswer(true, List.of(new SeekResult(0, 4L, 2), new SeekResult(1, null, 0)))
        .toBuffer());

    fits("fetch", 200, GroupCodec.deliveries(List.of(new Delivery("tok-1", "orders", 3, 7, 1, 1_700_000_030_000L, json),
        new Delivery("tok-2", "orders", 0, 8, 2, 1_700_000_030_000L, bytes))));
    fits("fetch", 200, GroupCodec.deliveries(List.of()));
    fits("listDeadLetters", 200, GroupCodec.deadLetters(List.of(
        new DeadLetter("orders", 3, 7, "orders.g.dlq", 3, 0, "rejected", 1_700_000_000_000L, json),
        new DeadLetter("orders", 0, 8, "orders.g.dlq", 0, 1, "max-retries", 1_700_000_000_000L, null))));

    GroupDescription group = new GroupDescription("g", GroupMode.PARTITIONED, 3,
        List.of(new GroupDescription.Member("m-1", List.of("orders"), Map.of("orders", List.of(0, 1)))),
        List.of(new GroupDescription.PartitionLag("orders", 0, 1, 3, 2, 500, 0, "m-1"),
            new GroupDescription.PartitionLag("orders", 1, 0, 0, 0, 0, 4, null)));
    fits("describeGroup", 200, GroupCodec.description(group).toBuffer());
    fits("listGroups", 200,
        new JsonObject().put("groups", new JsonArray().add(GroupCodec.description(group))).toBuffer());
  }

  /** Every problem {@link Problems} writes fits the Problem schema: its type, title, status and code. */
  @Test
  void everyProblemFitsTheProblemSchema() {
    JsonObject schemas = Contract.document().getJsonObject("components").getJsonObject("schemas");
    JsonObject problem = schemas.getJsonObject("Problem").copy();
    problem.getJsonObject("properties").put("code", schemas.getJsonObject("ErrorCode"));
    Validator validator = Validator.create(JsonSchema.of(problem), new JsonSchemaOptions().setDraft(Draft.DRAFT202012)
        .setBaseUri("https://runnel.dev/openapi/").setOutputFormat(OutputFormat.Basic));
    for (BrokerError error : BrokerError.values()) {
      Problems.Kind kind = Problems.kind(error);
      JsonObject body = new JsonObject().put("type", Problems.type(error)).put("title", kind.title())
          .put("status", kind.status()).put("detail", "what went wrong").put("code", error.name());
      OutputUnit result = validator.validate(body);
      assertThat(result.getValid()).as("%s: %s", body, result.getErrors()).isTrue();
    }
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private void fits(String operationId, int status, Buffer body) {
    try {
      ResponseValidator.create(vertx, contract)
          .validate(ValidatableResponse.create(status, body, "application/json"), operationId).await();
    } catch (RuntimeException e) {
      throw new AssertionError(operationId + " " + status + ": " + e.getMessage() + " in " + body, e);
    }
  }

  /** Every value named {@code schema} under {@code node}, by where it is. */
  private static void collectSchemas(Object node, String where, Map<String, Object> into) {
    if (node instanceof JsonObject object) {
      object.forEach(e -> {
        String at = where + "/" + e.getKey().replace("~", "~0").replace("/", "~1");
        if (e.getKey().equals("schema")) {
          into.put(at, e.getValue());
        } else {
          collectSchemas(e.getValue(), at, into);
        }
      });
    } else if (node instanceof JsonArray array) {
      for (int i = 0; i < array.size(); i++) {
        collectSchemas(array.getValue(i), where + "/" + i, into);
      }
    }
  }

  /** The router's operations as {@code "METHOD /path/{param}"}, without the method- or path-less handlers. */
  private static Set<String> routed(Router router) {
    Set<String> routed = new TreeSet<>();
    for (Route route : router.getRoutes()) {
      Set<HttpMethod> methods = route.methods();
      String path = route.getPath();
      if (methods == null || methods.isEmpty() || path == null) {
        continue;
      }
      String template = ROUTER_PARAM.matcher(path).replaceAll("{$1}");
      for (HttpMethod method : methods) {
        routed.add(normalise(method.name() + " " + template));
      }
    }
    return routed;
  }

  /** An operation with its path parameters named as the contract names them. */
  private static String normalise(String operation) {
    Matcher m = CONTRACT_PARAM.matcher(operation);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      m.appendReplacement(out, Matcher.quoteReplacement(
          "{" + CONTRACT_PARAM_NAMES.getOrDefault(m.group(1), m.group(1)) + "}"));
    }
    m.appendTail(out);
    return out.toString();
  }

  /** The operations of the whole document (read as JSON, not through vertx-openapi). */
  private static Set<String> operations(JsonObject document) {
    Set<String> operations = new TreeSet<>();
    forEachOperation(document, (name, operation) -> operations.add(name));
    return operations;
  }

  private static void forEachOperation(JsonObject document,
                                        BiConsumer<String, JsonObject> action) {
    JsonObject paths = document.getJsonObject("paths");
    for (String path : paths.fieldNames()) {
      JsonObject item = paths.getJsonObject(path);
      for (String method : item.fieldNames()) {
        if (METHODS.contains(method)) {
          action.accept(method.toUpperCase(Locale.ROOT) + " " + path, item.getJsonObject(method));
        }
      }
    }
  }
}
