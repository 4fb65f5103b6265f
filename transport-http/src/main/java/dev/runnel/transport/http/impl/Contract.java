package dev.runnel.transport.http.impl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.json.JsonObject;
import io.vertx.openapi.contract.MediaType;
import io.vertx.openapi.contract.OpenAPIContract;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The HTTP API's OpenAPI 3.1 document, {@code openapi.yaml} on the class path (DESIGN.md section 7): its bytes as
 * served, the document as JSON, and the document loaded by vertx-openapi.
 *
 * <p>vertx-openapi 5.0.8 refuses a document that names a media type it cannot validate (anything but JSON, its
 * {@code vnd.*+json} forms, multipart/form-data, octet-stream and text/plain): problem+json, YAML, CloudEvents and raw
 * {@code *}{@code /*} bodies are routed and checked by hand. So {@link #load} gives it the document without those
 * media types: every operation, parameter and JSON schema stays, a response keeps its status and description, and a
 * request body left with no media type is left out. The document served ({@link #yaml}) is the whole one.
 */
final class Contract {

  static final String RESOURCE = "openapi.yaml";

  private static final Set<String> METHODS = Set.of("get", "put", "post", "delete", "options", "head", "patch",
      "trace");

  /** Read once, when first asked for. */
  private static final class Loaded {
    static final Buffer YAML = Buffer.buffer(read());
    static final JsonObject DOCUMENT = parse(YAML);
  }

  private Contract() {
  }

  /** The document's bytes, as {@code GET /openapi.yaml} answers them (a copy: the caller may keep or change it). */
  static Buffer yaml() {
    return Loaded.YAML.copy();
  }

  /** The whole document as JSON (a copy). */
  static JsonObject document() {
    return Loaded.DOCUMENT.copy();
  }

  /** The document, loaded and checked by vertx-openapi, without the media types it does not support (see above). */
  static Future<OpenAPIContract> load(Vertx vertx) {
    JsonObject supported;
    try {
      supported = supportedMediaTypesOnly(document());
    } catch (RuntimeException e) {
      return Future.failedFuture(e);
    }
    return OpenAPIContract.from(vertx, supported);
  }

  /** Every operation of the contract as {@code "METHOD /path/{param}"}, e.g. {@code "GET /topics/{topic}"}. */
  static Set<String> operations(OpenAPIContract contract) {
    Set<String> operations = new TreeSet<>();
    contract.operations().forEach(o -> operations.add(o.getHttpMethod().name() + " " + o.getOpenAPIPath()));
    return operations;
  }

  private static byte[] read() {
    try (InputStream in = Contract.class.getClassLoader().getResourceAsStream(RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException(RESOURCE + " is not on the class path");
      }
      return in.readAllBytes();
    } catch (IOException e) {
      throw new UncheckedIOException("cannot read " + RESOURCE, e);
    }
  }

  /** YAML to Vert.x JSON, through Jackson's tree (the document uses no YAML beyond JSON's data model). */
  private static JsonObject parse(Buffer yaml) {
    try {
      JsonNode tree = new ObjectMapper(new YAMLFactory()).readTree(yaml.getBytes());
      if (tree == null || !tree.isObject()) {
        throw new IllegalStateException(RESOURCE + " is not a YAML mapping");
      }
      return new JsonObject(Buffer.buffer(new ObjectMapper().writeValueAsBytes(tree)));
    } catch (IOException e) {
      throw new UncheckedIOException("cannot parse " + RESOURCE, e);
    }
  }

  /**
   * The document with only the media types vertx-openapi supports, in place: in the operations' request bodies and
   * responses and in {@code components.responses} and {@code components.requestBodies}. A request body left with none
   * is removed (vertx-openapi refuses an empty one), as is an operation's reference to such a shared one.
   */
  static JsonObject supportedMediaTypesOnly(JsonObject document) {
    JsonObject components = document.getJsonObject("components", new JsonObject());
    JsonObject sharedResponses = components.getJsonObject("responses", new JsonObject());
    for (String name : sharedResponses.fieldNames()) {
      stripContent(sharedResponses.getJsonObject(name));
    }
    JsonObject sharedBodies = components.getJsonObject("requestBodies", new JsonObject());
    Set<String> emptyBodies = new TreeSet<>();
    for (String name : sharedBodies.fieldNames()) {
      if (stripContent(sharedBodies.getJsonObject(name))) {
        emptyBodies.add("#/components/requestBodies/" + name);
      }
    }
    emptyBodies.forEach(ref -> sharedBodies.remove(ref.substring(ref.lastIndexOf('/') + 1)));

    JsonObject paths = document.getJsonObject("paths", new JsonObject());
    for (String path : paths.fieldNames()) {
      JsonObject item = paths.getJsonObject(path);
      for (String method : new ArrayList<>(item.fieldNames())) {
        if (!METHODS.contains(method)) {
          continue;
        }
        JsonObject operation = item.getJsonObject(method);
        JsonObject body = operation.getJsonObject("requestBody");
        if (body != null && (body.containsKey("$ref") ? emptyBodies.contains(body.getString("$ref"))
            : stripContent(body))) {
          operation.remove("requestBody");
        }
        JsonObject responses = operation.getJsonObject("responses", new JsonObject());
        for (String status : responses.fieldNames()) {
          JsonObject response = responses.getJsonObject(status);
          if (!response.containsKey("$ref")) {
            stripContent(response);
          }
        }
      }
    }
    return document;
  }

  /** Removes the unsupported media types of a response or request body; whether it is left with none. */
  private static boolean stripContent(JsonObject holder) {
    JsonObject content = holder.getJsonObject("content");
    if (content == null) {
      return true;
    }
    List<String> unsupported = new ArrayList<>();
    for (String mediaType : content.fieldNames()) {
      if (!MediaType.isMediaTypeSupported(mediaType)) {
        unsupported.add(mediaType);
      }
    }
    unsupported.forEach(content::remove);
    if (content.isEmpty()) {
      holder.remove("content");
      return true;
    }
    return false;
  }
}
