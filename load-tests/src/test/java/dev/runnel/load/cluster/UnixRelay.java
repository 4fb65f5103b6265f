package dev.runnel.load.cluster;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A Unix-domain socket that relays each connection to a TCP address: a process in another network namespace (which
 * still sees this file system) reaches this one's loopback through it, whatever that namespace's network does. Two
 * daemon threads per connection; {@link #close} ends them all.
 */
final class UnixRelay implements AutoCloseable {

  private final ServerSocketChannel server;
  private final Path path;
  private final List<SocketChannel> open = new CopyOnWriteArrayList<>();

  UnixRelay(Path path, InetSocketAddress target) throws IOException {
    this.path = path;
    Files.deleteIfExists(path);
    server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
    server.bind(UnixDomainSocketAddress.of(path));
    Thread acceptor = new Thread(() -> {
      while (server.isOpen()) {
        try {
          SocketChannel in = server.accept();
          SocketChannel out = SocketChannel.open(target);
          open.add(in);
          open.add(out);
          pump(in, out);
          pump(out, in);
        } catch (IOException closed) {
          return;
        }
      }
    }, "unix-relay-accept");
    acceptor.setDaemon(true);
    acceptor.start();
  }

  private void pump(SocketChannel from, SocketChannel to) {
    Thread t = new Thread(() -> {
      ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
      try {
        while (from.read(buffer) >= 0) {
          buffer.flip();
          while (buffer.hasRemaining()) {
            to.write(buffer);
          }
          buffer.clear();
        }
      } catch (IOException ended) {
        // the other side closed
      }
      closeQuietly(from);
      closeQuietly(to);
    }, "unix-relay");
    t.setDaemon(true);
    t.start();
  }

  private static void closeQuietly(SocketChannel channel) {
    try {
      channel.close();
    } catch (IOException ignored) {
      // closing anyway
    }
  }

  @Override
  public void close() throws IOException {
    server.close();
    open.forEach(UnixRelay::closeQuietly);
    Files.deleteIfExists(path);
  }
}
