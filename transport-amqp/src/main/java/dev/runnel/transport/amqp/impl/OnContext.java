package dev.runnel.transport.amqp.impl;

import dev.runnel.broker.Broker;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;

/**
 * The broker as one connection sees it: every future it answers completes on that connection's context. The broker's
 * futures complete on whatever context made them (a group's, the store's), and a listener runs there, so without
 * this a link's callbacks touched proton from another event loop, racing the connection's own thread (found by the
 * Qpid JMS interop test: a consumer with the default prefetch crashed in ProtonTransport.flush with an
 * IndexOutOfBoundsException and lost deliveries). DESIGN.md section 7: "every proton object is touched only on its
 * connection's context (broker futures hop back)".
 */
final class OnContext {

  private OnContext() {
  }

  /** {@code broker}, its futures answered on {@code context}. */
  static Broker broker(Broker broker, Context context) {
    return (Broker) Proxy.newProxyInstance(Broker.class.getClassLoader(), new Class<?>[]{Broker.class},
        (proxy, method, args) -> {
          Object result;
          try {
            result = method.invoke(broker, args);
          } catch (InvocationTargetException e) {
            throw e.getCause();
          }
          return result instanceof Future<?> f ? on(context, f) : result;
        });
  }

  /** A future completing on {@code context} with {@code future}'s outcome. */
  static <T> Future<T> on(Context context, Future<T> future) {
    Promise<T> here = Promise.promise();
    future.onComplete(ar -> {
      if (Vertx.currentContext() == context) {
        here.handle(ar);
      } else {
        context.runOnContext(v -> here.handle(ar));
      }
    });
    return here.future();
  }
}
