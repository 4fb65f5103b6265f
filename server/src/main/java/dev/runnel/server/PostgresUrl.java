package dev.runnel.server;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code postgres.url}, read as libpq reads a connection URI:
 * {@code postgresql://[user[:password]@][host][:port][/dbname][?param=value&...]}, each part percent-decoded, with
 * {@code host}, {@code port}, {@code dbname}, {@code user} and {@code password} also accepted as parameters (a
 * parameter wins over the same part before the {@code ?}). A host that is an absolute path is the directory of the
 * server's Unix-domain socket, e.g. {@code postgresql://runnel@/events?host=/var/run/postgresql} or
 * {@code postgresql://runnel@%2Fvar%2Frun%2Fpostgresql/events}. A {@code jdbc:} prefix is dropped, and the JDBC
 * driver's junixsocket form ({@code socketFactory=org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg&socketFactoryArg
 * =/var/run/postgresql/.s.PGSQL.5432}) names a socket too. Any other parameter is refused, so that a setting such as
 * {@code sslmode} is never silently ignored.
 *
 * @param host a host name or address, or the socket's directory (starts with {@code /})
 * @param user null when the URL names none
 * @param password null when the URL names none
 */
record PostgresUrl(String host, int port, String database, String user, String password) {

  static final int DEFAULT_PORT = 5432;
  private static final String SOCKET_FACTORY = "org.newsclub.net.unix.AFUNIXSocketFactory$FactoryArg";
  private static final Pattern SCHEME = Pattern.compile("^(?:jdbc:)?postgres(?:ql)?://", Pattern.CASE_INSENSITIVE);
  /** The last part of a socket's path: {@code .s.PGSQL.<port>}. */
  private static final Pattern SOCKET_FILE = Pattern.compile("^(.*)/\\.s\\.PGSQL\\.(\\d+)$");

  static PostgresUrl parse(String url) {
    Matcher scheme = SCHEME.matcher(url);
    if (!scheme.find()) {
      throw bad("it must start with postgresql:// (or postgres://, jdbc:postgresql://)");
    }
    String rest = url.substring(scheme.end());
    String query = null;
    int q = rest.indexOf('?');
    if (q >= 0) {
      query = rest.substring(q + 1);
      rest = rest.substring(0, q);
    }
    int slash = rest.indexOf('/');
    String authority = slash >= 0 ? rest.substring(0, slash) : rest;
    String path = slash >= 0 ? rest.substring(slash + 1) : "";

    String user = null;
    String password = null;
    int at = authority.lastIndexOf('@');
    if (at >= 0) {
      String userInfo = authority.substring(0, at);
      authority = authority.substring(at + 1);
      int colon = userInfo.indexOf(':');
      user = decode(colon >= 0 ? userInfo.substring(0, colon) : userInfo);
      password = colon >= 0 ? decode(userInfo.substring(colon + 1)) : null;
    }
    if (authority.contains(",")) {
      throw bad("it names several hosts; Runnel connects to one");
    }
    String host;
    String port = null;
    if (authority.startsWith("[")) {  // an IPv6 literal, kept in its brackets
      int end = authority.indexOf(']');
      if (end < 0) {
        throw bad("its IPv6 address has no closing ]");
      }
      host = authority.substring(0, end + 1);
      String after = authority.substring(end + 1);
      if (after.startsWith(":")) {
        port = after.substring(1);
      } else if (!after.isEmpty()) {
        throw bad("unexpected '" + after + "' after the IPv6 address");
      }
    } else {
      int colon = authority.lastIndexOf(':');
      host = decode(colon >= 0 ? authority.substring(0, colon) : authority);
      port = colon >= 0 ? authority.substring(colon + 1) : null;
    }
    String database = path.isEmpty() ? null : decode(path);

    boolean socketFactory = false;
    String socketFactoryArg = null;
    if (query != null) {
      for (String pair : query.split("&")) {
        if (pair.isEmpty()) {
          continue;
        }
        int eq = pair.indexOf('=');
        if (eq < 0) {
          throw bad("its parameter '" + pair + "' has no value");
        }
        String key = decode(pair.substring(0, eq));
        String value = decode(pair.substring(eq + 1));
        switch (key) {
          case "host" -> host = value;
          case "port" -> port = value;
          case "dbname" -> database = value;
          case "user" -> user = value;
          case "password" -> password = value;
          case "socketFactory" -> {
            if (!SOCKET_FACTORY.equals(value)) {
              throw bad("the only socketFactory it accepts is " + SOCKET_FACTORY
                  + " (or write the socket's directory as host=)");
            }
            socketFactory = true;
          }
          case "socketFactoryArg" -> socketFactoryArg = value;
          default -> throw bad("Runnel does not understand its parameter '" + key + "'; it reads host, port, "
              + "dbname, user and password (and the JDBC driver's socketFactory and socketFactoryArg for a "
              + "Unix-domain socket)");
        }
      }
    }
    if (socketFactory != (socketFactoryArg != null)) {
      throw bad("socketFactory and socketFactoryArg go together");
    }
    if (socketFactoryArg != null) {
      host = socketFactoryArg;  // the socket's own path; split below
    }
    Matcher socketFile = host == null ? null : SOCKET_FILE.matcher(host);
    if (socketFile != null && socketFile.matches()) {  // the socket file itself rather than its directory
      if (port != null && !port.equals(socketFile.group(2))) {
        throw bad("its port " + port + " is not the one in the socket's name " + host);
      }
      host = socketFile.group(1).isEmpty() ? "/" : socketFile.group(1);
      port = socketFile.group(2);
    }
    if (host == null || host.isEmpty()) {
      throw bad("it names no host: write postgresql://USER:PASSWORD@HOST:PORT/DB, or for a Unix-domain socket "
          + "postgresql://USER@/DB?host=/var/run/postgresql (the socket's directory)");
    }
    if (!host.startsWith("/") && (socketFactory || host.contains("/"))) {
      throw bad("its host " + host + " is neither a host name nor an absolute socket directory");
    }
    return new PostgresUrl(host, port(port), database == null || database.isEmpty() ? "postgres" : database,
        user == null || user.isEmpty() ? null : user, password);
  }

  private static int port(String port) {
    if (port == null || port.isEmpty()) {
      return DEFAULT_PORT;
    }
    try {
      int p = Integer.parseInt(port);
      if (p >= 1 && p <= 65535) {
        return p;
      }
    } catch (NumberFormatException ignored) {
      // said below
    }
    throw bad("its port '" + port + "' is not a number from 1 to 65535");
  }

  /** Percent-decoding as RFC 3986 (and libpq) has it: a '+' stays a '+'. */
  private static String decode(String s) {
    if (s.indexOf('%') < 0) {
      return s;
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream(s.length());
    int i = 0;
    while (i < s.length()) {
      int pct = s.indexOf('%', i);
      int end = pct < 0 ? s.length() : pct;
      out.writeBytes(s.substring(i, end).getBytes(StandardCharsets.UTF_8));
      if (pct < 0) {
        break;
      }
      int hi = pct + 2 < s.length() ? Character.digit(s.charAt(pct + 1), 16) : -1;
      int lo = hi >= 0 ? Character.digit(s.charAt(pct + 2), 16) : -1;
      if (lo < 0) {
        throw bad("it has a '%' not followed by two hex digits");
      }
      out.write(hi * 16 + lo);
      i = pct + 3;
    }
    return out.toString(StandardCharsets.UTF_8);
  }

  /** Never repeats the URL itself, which may hold a password. */
  private static IllegalArgumentException bad(String why) {
    return new IllegalArgumentException("postgres.url cannot be read: " + why);
  }
}
