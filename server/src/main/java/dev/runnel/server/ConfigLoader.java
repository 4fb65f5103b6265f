package dev.runnel.server;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** Builds the effective {@link RunnelConfig}: defaults, then the YAML file, then environment, then flags. */
final class ConfigLoader {

  private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
      .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
  private static final Map<String, String> ENV_ALIASES = Map.of("RUNNEL_PG_URL", "postgres.url");
  /** Keys whose whole value comes from the file: their entries are not known in advance. */
  private static final java.util.Set<String> FILE_ONLY = java.util.Set.of("auth.keys", "webhooks");
  private static final java.util.regex.Pattern ENV_REFERENCE = java.util.regex.Pattern.compile("\\$\\{([A-Za-z_][A-Za-z0-9_]*)}");

  private ConfigLoader() {
  }

  /**
   * @param file  the YAML file, or null
   * @param env   the environment
   * @param flags key path → value from the command line (highest precedence)
   */
  static RunnelConfig load(Path file, Map<String, String> env, Map<String, String> flags) {
    ObjectNode tree = YAML.valueToTree(new RunnelConfig());
    if (file != null) {
      try {
        JsonNode fromFile = YAML.readTree(Files.readString(file));
        if (fromFile != null && !fromFile.isMissingNode() && !fromFile.isNull()) {
          if (!fromFile.isObject()) {
            throw new IllegalArgumentException("config file " + file + " must hold a YAML mapping");
          }
          resolveReferences(fromFile, env);
          merge(tree, (ObjectNode) fromFile, "");
        }
      } catch (IOException e) {
        throw new UncheckedIOException("cannot read config file " + file, e);
      }
    }
    for (String path : leafPaths(tree, "")) {
      String value = env.get(envName(path));
      if (value != null) {
        set(tree, path, value);
      }
    }
    ENV_ALIASES.forEach((name, path) -> {
      if (env.get(name) != null) {
        set(tree, path, env.get(name));
      }
    });
    flags.forEach((path, value) -> set(tree, path, value));
    try {
      return YAML.treeToValue(tree, RunnelConfig.class);
    } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
      throw new IllegalArgumentException("invalid configuration: " + e.getOriginalMessage(), e);
    }
  }

  /** {@code http.maxBodyBytes} → {@code RUNNEL_HTTP_MAX_BODY_BYTES}. */
  static String envName(String path) {
    return "RUNNEL_" + path.replaceAll("([a-z0-9])([A-Z])", "$1_$2").replace('.', '_').toUpperCase(Locale.ROOT);
  }

  /** The effective config as YAML-ish JSON with secrets masked, for the start-up log. */
  static String describe(RunnelConfig config) {
    ObjectNode tree = YAML.valueToTree(config);
    ObjectNode pg = (ObjectNode) tree.get("postgres");
    if (pg.hasNonNull("password")) {
      pg.put("password", "****");
    }
    if (pg.hasNonNull("url")) {
      pg.put("url", pg.get("url").asText().replaceAll("://([^:/@]+):[^@]*@", "://$1:****@")
          .replaceAll("([?&]password=)[^&]*", "$1****"));
    }
    tree.get("auth").get("keys").forEach(k -> ((ObjectNode) k).put("secret", "****"));
    tree.get("webhooks").forEach(w -> {
      int count = w.path("secrets").size();
      com.fasterxml.jackson.databind.node.ArrayNode secrets = ((ObjectNode) w).putArray("secrets");
      for (int i = 0; i < count; i++) {
        secrets.add("****");
      }
    });
    return tree.toString();
  }

  private static void merge(ObjectNode target, ObjectNode source, String prefix) {
    Iterator<Map.Entry<String, JsonNode>> fields = source.fields();
    while (fields.hasNext()) {
      Map.Entry<String, JsonNode> e = fields.next();
      String path = prefix + e.getKey();
      JsonNode existing = target.get(e.getKey());
      if (existing == null) {
        throw new IllegalArgumentException("unknown config key '" + path + "'");
      }
      if (existing.isObject() && e.getValue().isObject() && !FILE_ONLY.contains(path)) {
        merge((ObjectNode) existing, (ObjectNode) e.getValue(), path + ".");
      } else {
        target.set(e.getKey(), e.getValue());
      }
    }
  }

  private static List<String> leafPaths(ObjectNode node, String prefix) {
    List<String> paths = new ArrayList<>();
    node.fields().forEachRemaining(e -> {
      if (FILE_ONLY.contains(prefix + e.getKey())) {
        return;
      }
      if (e.getValue().isObject()) {
        paths.addAll(leafPaths((ObjectNode) e.getValue(), prefix + e.getKey() + "."));
      } else {
        paths.add(prefix + e.getKey());
      }
    });
    return paths;
  }

  /** A list of strings from the environment or a flag is comma-separated. */
  private static void set(ObjectNode tree, String path, String value) {
    String[] parts = path.split("\\.");
    ObjectNode node = tree;
    for (int i = 0; i < parts.length - 1; i++) {
      node = (ObjectNode) node.get(parts[i]);
    }
    String leaf = parts[parts.length - 1];
    if (node.get(leaf) != null && node.get(leaf).isArray()) {
      com.fasterxml.jackson.databind.node.ArrayNode list = node.putArray(leaf);
      for (String item : value.split(",")) {
        if (!item.isBlank()) {
          list.add(item.trim());
        }
      }
    } else {
      node.put(leaf, value);
    }
  }

  /** Replaces {@code ${NAME}} in the file's strings by the environment's value; an unset one is an error. */
  private static void resolveReferences(JsonNode node, Map<String, String> env) {
    if (node.isObject()) {
      Iterator<Map.Entry<String, JsonNode>> fields = node.fields();
      while (fields.hasNext()) {
        Map.Entry<String, JsonNode> e = fields.next();
        if (e.getValue().isTextual()) {
          ((ObjectNode) node).put(e.getKey(), resolve(e.getValue().asText(), env));
        } else {
          resolveReferences(e.getValue(), env);
        }
      }
    } else if (node.isArray()) {
      com.fasterxml.jackson.databind.node.ArrayNode array = (com.fasterxml.jackson.databind.node.ArrayNode) node;
      for (int i = 0; i < array.size(); i++) {
        if (array.get(i).isTextual()) {
          array.set(i, array.textNode(resolve(array.get(i).asText(), env)));
        } else {
          resolveReferences(array.get(i), env);
        }
      }
    }
  }

  private static String resolve(String value, Map<String, String> env) {
    java.util.regex.Matcher m = ENV_REFERENCE.matcher(value);
    StringBuilder out = new StringBuilder();
    while (m.find()) {
      String replacement = env.get(m.group(1));
      if (replacement == null) {
        throw new IllegalArgumentException("the config file refers to ${" + m.group(1) + "}, which is not set");
      }
      m.appendReplacement(out, java.util.regex.Matcher.quoteReplacement(replacement));
    }
    return m.appendTail(out).toString();
  }
}
