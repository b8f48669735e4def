import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { copy, frames, lines, writeFrame } from "../io.ts";
import { serve } from "../server.ts";
import {
  DEADLINE_MS,
  delay,
  echo,
  isMissing,
  readAll,
  waitFor,
  within,
  writeAll,
} from "./_helpers.ts";
import { LARGE_REPLY_BYTES, replyAfterUnreadInput } from "./_lingering.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function listen(): Deno.TcpListener {
  return Deno.listen({ hostname: "127.0.0.1", port: 0 });
}

/** Connects to a TCP address of a server under test. */
function connect(addr: Deno.Addr): Promise<Deno.TcpConn> {
  const { hostname, port } = addr as Deno.NetAddr;
  return Deno.connect({ hostname, port });
}

/** Reads exactly `length` bytes as text. */
async function readText(conn: Deno.Conn, length: number): Promise<string> {
  const buffer = new Uint8Array(length);
  let filled = 0;
  while (filled < length) {
    const n = await within(conn.read(buffer.subarray(filled)), "a reply");
    if (n === null) throw new Error(`end of stream after ${filled} bytes`);
    filled += n;
  }
  return decoder.decode(buffer);
}

/**
 * Echoes a byte on `active` every `interval` ms until `idle` has been closed
 * by the server and ten more rounds have passed: the active connection
 * outlives the idle one. Bounded by the deadline in rounds.
 */
async function talkUntilClosed(
  active: Deno.Conn,
  idle: Deno.Conn,
  interval: number,
): Promise<void> {
  let idleClosed = false;
  const idleEnd = idle.read(new Uint8Array(1)).then((n) => {
    idleClosed = true;
    return n;
  });
  let roundsAfterIdleClosed = 0;
  const rounds = DEADLINE_MS / interval;
  for (let i = 0; i < rounds && roundsAfterIdleClosed < 10; i++) {
    await writeAll(active, "x");
    assertEquals(await readText(active, 1), "x");
    if (idleClosed) roundsAfterIdleClosed++;
    await delay(interval);
  }
  assertEquals(await within(idleEnd, "the idle connection to close"), null);
  assertEquals(roundsAfterIdleClosed, 10, "rounds after the idle one closed");
}

/** Collects onError calls. */
function errorLog(): {
  calls: [unknown, Deno.Conn | undefined][];
  onError: (error: unknown, conn?: Deno.Conn) => void;
} {
  const calls: [unknown, Deno.Conn | undefined][] = [];
  return { calls, onError: (error, conn) => calls.push([error, conn]) };
}

/** A listener that delegates to `inner` and records each accept() call. */
function recordingListener(
  inner: Deno.TcpListener,
  events: string[],
): Deno.TcpListener {
  return {
    get addr() {
      return inner.addr;
    },
    accept() {
      events.push("accept");
      return inner.accept();
    },
    close() {
      inner.close();
    },
    ref() {
      inner.ref();
    },
    unref() {
      inner.unref();
    },
    [Symbol.dispose]() {
      inner.close();
    },
    [Symbol.asyncIterator]() {
      return inner[Symbol.asyncIterator]();
    },
  } as Deno.TcpListener;
}

/** Like EMFILE from accept(2) as Deno reports it. */
function tooManyOpenFiles(): Error {
  return new Error("Too many open files (os error 24)");
}

/**
 * A listener whose first `failures` accepts reject with an EMFILE-like
 * error; later ones delegate to `inner`.
 */
function flakyListener(
  inner: Deno.TcpListener,
  failures: number,
): Deno.TcpListener & { thrown: Error[] } {
  const thrown: Error[] = [];
  const listener = recordingListener(inner, []);
  return Object.assign(listener, {
    thrown,
    accept(): Promise<Deno.TcpConn> {
      if (thrown.length < failures) {
        const error = tooManyOpenFiles();
        thrown.push(error);
        return Promise.reject(error);
      }
      return inner.accept();
    },
  });
}

/** Replaces console.error for the duration of `fn`, collecting what it is called with. */
async function capturingConsoleError(
  fn: (logged: unknown[][]) => Promise<void>,
): Promise<void> {
  const logged: unknown[][] = [];
  const original = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await fn(logged);
  } finally {
    console.error = original;
  }
}

Deno.test("serve() runs the handler for a TCP connection and closes it after", async () => {
  await using server = serve(listen(), echo);
  using client = await connect(server.addr);
  await writeAll(client, "ping");
  assertEquals(await readText(client, 4), "ping");
  client.closeWrite();
  assertEquals(await readAll(client), "");
});

Deno.test("serve() calls onListen once with the address, before the first accept", async () => {
  const events: string[] = [];
  const inner = listen();
  const addrs: Deno.Addr[] = [];
  await using server = serve(recordingListener(inner, events), () => {}, {
    onListen(addr) {
      events.push("listen");
      addrs.push(addr);
    },
  });
  assertEquals(addrs, [inner.addr]);
  assertEquals(server.addr, inner.addr);
  assertEquals(events, ["listen", "accept"]);
});

Deno.test("serve() serves clients concurrently by default", async () => {
  const first = Promise.withResolvers<void>();
  const second = Promise.withResolvers<void>();
  await using server = serve(listen(), async (conn) => {
    const name = await readText(conn, 1);
    // Each handler waits for the other one to have started.
    if (name === "1") {
      first.resolve();
      await second.promise;
    } else {
      second.resolve();
      await first.promise;
    }
    await writeAll(conn, `bye ${name}`);
  });
  using client1 = await connect(server.addr);
  using client2 = await connect(server.addr);
  await writeAll(client1, "1");
  await writeAll(client2, "2");
  assertEquals(await readAll(client1), "bye 1");
  assertEquals(await readAll(client2), "bye 2");
});

Deno.test("serve() with maxConnections 1 accepts the next client only after the first ends", async () => {
  const events: string[] = [];
  const started = [
    Promise.withResolvers<void>(),
    Promise.withResolvers<void>(),
  ];
  const release = Promise.withResolvers<void>();
  const listener = recordingListener(listen(), events);
  await using server = serve(listener, async (conn) => {
    const name = await readText(conn, 1);
    events.push(`start ${name}`);
    started[Number(name) - 1].resolve();
    if (name === "1") await release.promise;
    await writeAll(conn, `bye ${name}`);
    events.push(`end ${name}`);
  }, { maxConnections: 1 });

  using client1 = await connect(server.addr);
  await writeAll(client1, "1");
  await within(started[0].promise, "the first handler");
  // The second client completes its handshake in the kernel backlog and
  // sends its request while the first is still being served.
  using client2 = await connect(server.addr);
  await writeAll(client2, "2");
  assertEquals(server.connections, 1);
  assertEquals(events, ["accept", "start 1"]);

  release.resolve();
  assertEquals(await readAll(client1), "bye 1");
  await within(started[1].promise, "the second handler");
  assertEquals(await readAll(client2), "bye 2");
  assertEquals(events.slice(0, 5), [
    "accept",
    "start 1",
    "end 1",
    "accept",
    "start 2",
  ]);
});

Deno.test("serve() never runs more than maxConnections handlers with 20 clients", async () => {
  const limit = 3;
  const clients = 20;
  let active = 0;
  let mostActive = 0;
  let mostConnections = 0;
  let served = 0;
  // Handlers hold their slot until the limit has been reached once, so the
  // limit is really tested rather than trivially met.
  const full = Promise.withResolvers<void>();
  await using server = serve(listen(), async (conn) => {
    active++;
    mostActive = Math.max(mostActive, active);
    mostConnections = Math.max(mostConnections, server.connections);
    if (active === limit) full.resolve();
    try {
      await full.promise;
      await writeAll(conn, "ok");
      await echo(conn);
      served++;
    } finally {
      active--;
    }
  }, { maxConnections: limit });

  const conns = await Promise.all(
    Array.from({ length: clients }, () => connect(server.addr)),
  );
  try {
    await within(
      Promise.all(conns.map(async (conn) => {
        assertEquals(await readText(conn, 2), "ok");
        conn.closeWrite();
        assertEquals(await readAll(conn), "");
      })),
      "every client to be served",
    );
  } finally {
    // Reading to the end through `readable` has closed most of them already.
    for (const conn of conns) conn[Symbol.dispose]();
  }
  await server.shutdown();
  assertEquals(served, clients);
  assertEquals(mostActive, limit);
  assertEquals(mostConnections, limit);
});

Deno.test("serve() closes an idle connection after idleTimeout while an active one survives", async () => {
  const idleTimeout = 500;
  // Well under the timeout, so that a busy machine does not starve the active client.
  const activeInterval = 20;
  const { calls, onError } = errorLog();
  const ended: string[] = [];
  await using server = serve(listen(), async (conn) => {
    const name = await readText(conn, 1);
    await writeAll(conn, name);
    try {
      await echo(conn);
    } finally {
      ended.push(name);
    }
  }, { idleTimeout, onError });

  using idle = await connect(server.addr);
  using active = await connect(server.addr);
  await writeAll(idle, "i");
  await writeAll(active, "a");
  assertEquals(await readText(idle, 1), "i");
  assertEquals(await readText(active, 1), "a");

  await talkUntilClosed(active, idle, activeInterval);
  await waitFor(() => ended.length > 0, "the idle handler to end");
  assertEquals(ended, ["i"]);
  assertEquals(server.connections, 1);
  active.closeWrite();
  assertEquals(await readAll(active), "");
  await server.shutdown();
  assertEquals(ended, ["i", "a"]);
  assertEquals(calls, []);
});

Deno.test("serve() counts progress through the readable and writable streams for idleTimeout", async () => {
  const { calls, onError } = errorLog();
  await using server = serve(
    listen(),
    (conn) => conn.readable.pipeTo(conn.writable),
    { idleTimeout: 500, onError },
  );
  using idle = await connect(server.addr);
  using active = await connect(server.addr);
  await talkUntilClosed(active, idle, 20);
  // As with Deno's own streams, the end of `readable` closes the connection.
  active.closeWrite();
  assertEquals(await readAll(active), "");
  await server.shutdown();
  assertEquals(calls, []);
});

Deno.test("serve() passes connections to the handler untouched without idleTimeout", async () => {
  const seen = Promise.withResolvers<Deno.Conn>();
  await using server = serve(listen(), (conn) => seen.resolve(conn));
  using client = await connect(server.addr);
  const conn = await within(seen.promise, "the handler");
  assertEquals(Object.getOwnPropertyNames(conn), []);
  // Only Deno's own internals, exactly as on a conn the server never saw.
  assertEquals(
    Object.getOwnPropertySymbols(conn).map(String),
    Object.getOwnPropertySymbols(client).map(String),
  );
});

Deno.test("serve() with idleTimeout still passes the listener's own conn class", async () => {
  const seen = Promise.withResolvers<Deno.TcpConn>();
  await using server = serve(listen(), (conn) => {
    seen.resolve(conn);
    return echo(conn);
  }, { idleTimeout: 5_000 });
  using client = await connect(server.addr);
  const conn = await within(seen.promise, "the handler");
  assertStrictEquals(
    Object.getPrototypeOf(conn),
    Object.getPrototypeOf(client),
  );
  conn.setNoDelay(true);
  assertEquals(conn.remoteAddr, client.localAddr);
  await writeAll(client, "hi");
  assertEquals(await readText(client, 2), "hi");
});

Deno.test("shutdown() lets a handler finish its reply and stops accepting", async () => {
  const listener = listen();
  const received = Promise.withResolvers<void>();
  const shutdownCalled = Promise.withResolvers<void>();
  const { calls, onError } = errorLog();
  const server = serve(listener, async (conn) => {
    const request = await readText(conn, 4);
    received.resolve();
    await shutdownCalled.promise;
    await writeAll(conn, `${request} pong`);
  }, { onError });
  using client = await connect(server.addr);
  await writeAll(client, "ping");
  await within(received.promise, "the request");

  const stopped = server.shutdown();
  shutdownCalled.resolve();
  assertEquals(await readAll(client), "ping pong");
  await within(stopped, "shutdown");
  await within(server.finished, "finished");
  assertEquals(server.connections, 0);
  await assertRejects(() => listener.accept(), Deno.errors.BadResource);
  assertEquals(calls, []);
});

Deno.test("shutdown() with shutdownTimeout Infinity waits for the handler", async () => {
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const server = serve(listen(), async (conn) => {
    started.resolve();
    await release.promise;
    await writeAll(conn, "finished");
  }, { shutdownTimeout: Infinity });
  using client = await connect(server.addr);
  await within(started.promise, "the handler");
  const stopped = server.shutdown();
  // Several timer turns: an Infinity passed on to setTimeout would fire at once.
  await delay(50);
  release.resolve();
  assertEquals(await readAll(client), "finished");
  await within(stopped, "shutdown");
});

Deno.test("shutdown() closes connections still open after shutdownTimeout without reporting errors", async () => {
  const started = Promise.withResolvers<void>();
  const { calls, onError } = errorLog();
  const server = serve(listen(), async (conn) => {
    started.resolve();
    // Blocks in read until the server closes the connection under it.
    await echo(conn);
  }, { shutdownTimeout: 50, onError });
  using client = await connect(server.addr);
  await within(started.promise, "the handler");
  await within(server.shutdown(), "shutdown");
  assertEquals(server.connections, 0);
  assertEquals(await readAll(client), "");
  assertEquals(calls, []);
});

Deno.test("shutdown() finishes even when a handler never settles", async () => {
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const settled = Promise.withResolvers<void>();
  const { calls, onError } = errorLog();
  const server = serve(listen(), async (conn) => {
    started.resolve();
    try {
      await release.promise;
      // The connection was force-closed: this rejects, and must not be reported.
      await conn.write(encoder.encode("late"));
    } finally {
      settled.resolve();
    }
  }, { shutdownTimeout: 50, onError });
  using client = await connect(server.addr);
  await within(started.promise, "the handler");
  await within(server.shutdown(), "shutdown");
  await within(server.finished, "finished");
  assertEquals(server.connections, 0);
  assertEquals(await readAll(client), "");

  release.resolve();
  await within(settled.promise, "the handler to settle");
  await delay(0);
  assertEquals(calls, []);
});

Deno.test("serve() shuts down gracefully when its signal is aborted", async () => {
  const listener = listen();
  const controller = new AbortController();
  const received = Promise.withResolvers<void>();
  const aborted = Promise.withResolvers<void>();
  const server = serve(listener, async (conn) => {
    await readText(conn, 1);
    received.resolve();
    await aborted.promise;
    await writeAll(conn, "done");
  }, { signal: controller.signal });
  using client = await connect(server.addr);
  await writeAll(client, "?");
  await within(received.promise, "the request");

  controller.abort();
  aborted.resolve();
  assertEquals(await readAll(client), "done");
  await within(server.finished, "finished");
  await assertRejects(() => listener.accept(), Deno.errors.BadResource);
  // Shutting down again after the signal is harmless.
  await within(server.shutdown(), "shutdown");
});

Deno.test("serve() with an already aborted signal stops without accepting", async () => {
  const events: string[] = [];
  const inner = listen();
  let listened = false;
  let handled = false;
  const server = serve(recordingListener(inner, events), () => {
    handled = true;
  }, {
    signal: AbortSignal.abort(),
    onListen: () => listened = true,
  });
  await within(server.finished, "finished");
  await assertRejects(() => inner.accept(), Deno.errors.BadResource);
  assertEquals(events, []);
  assertEquals(listened, false);
  assertEquals(handled, false);
  assertStrictEquals(server.shutdown(), server.shutdown());
  await server.shutdown();
});

Deno.test("serve() reports a throwing or rejecting handler with its conn and serves the next client", async () => {
  const syncFailure = new Error("sync failure");
  const asyncFailure = new Error("async failure");
  const { calls, onError } = errorLog();
  const conns: Deno.Conn[] = [];
  let count = 0;
  await using server = serve(listen(), (conn) => {
    conns.push(conn);
    count++;
    if (count === 1) throw syncFailure;
    if (count === 2) return Promise.reject(asyncFailure);
    return writeAll(conn, "served");
  }, { onError, maxConnections: 1 });

  for (const expected of ["", "", "served"]) {
    using client = await connect(server.addr);
    assertEquals(await readAll(client), expected);
  }
  await server.shutdown();
  assertEquals(calls.length, 2);
  assertStrictEquals(calls[0][0], syncFailure);
  assertStrictEquals(calls[0][1], conns[0]);
  assertStrictEquals(calls[1][0], asyncFailure);
  assertStrictEquals(calls[1][1], conns[1]);
});

Deno.test("serve() keeps serving when onError throws", async () => {
  await capturingConsoleError(async (logged) => {
    const onErrorFailure = new Error("onError failed");
    let count = 0;
    await using server = serve(listen(), (conn) => {
      if (++count === 1) throw new Error("handler failed");
      return writeAll(conn, "still serving");
    }, {
      onError() {
        throw onErrorFailure;
      },
    });
    using first = await connect(server.addr);
    assertEquals(await readAll(first), "");
    using second = await connect(server.addr);
    assertEquals(await readAll(second), "still serving");
    await server.shutdown();
    assertEquals(logged.length, 1);
    assertStrictEquals(logged[0][1], onErrorFailure);
  });
});

Deno.test("serve() logs handler errors with the peer address by default", async () => {
  await capturingConsoleError(async (logged) => {
    const failure = new Error("handler failed");
    await using server = serve(listen(), () => {
      throw failure;
    });
    using client = await connect(server.addr);
    assertEquals(await readAll(client), "");
    await server.shutdown();
    assertEquals(logged.length, 1);
    const { hostname, port } = client.localAddr as Deno.NetAddr;
    assertEquals(logged[0], [
      `@sockets/net server error (${hostname}:${port}):`,
      failure,
    ]);
  });
});

Deno.test("serve() reports accept errors such as EMFILE and recovers by itself", async () => {
  const listener = flakyListener(listen(), 3);
  const { calls, onError } = errorLog();
  await using server = serve(
    listener,
    (conn) => writeAll(conn, "recovered"),
    { onError },
  );
  using client = await connect(server.addr);
  assertEquals(await readAll(client), "recovered");
  assertEquals(calls.length, 3);
  for (const [i, [error, conn]] of calls.entries()) {
    assertStrictEquals(error, listener.thrown[i]);
    assertEquals(conn, undefined);
  }
});

Deno.test("shutdown() stops a server that is backing off after accept errors", async () => {
  const errors: unknown[] = [];
  const failing = Promise.withResolvers<void>();
  let closed = false;
  let accepts = 0;
  const listener = {
    addr: { transport: "tcp", hostname: "127.0.0.1", port: 9 },
    accept() {
      accepts++;
      return Promise.reject(
        closed
          ? new Deno.errors.BadResource("Listener has been closed")
          : tooManyOpenFiles(),
      );
    },
    close() {
      closed = true;
    },
    async *[Symbol.asyncIterator]() {},
  } as unknown as Deno.TcpListener;
  const server = serve(listener, () => {}, {
    onError(error) {
      errors.push(error);
      failing.resolve();
    },
  });
  await within(failing.promise, "an accept error");
  await within(server.shutdown(), "shutdown");
  const acceptsAtShutdown = accepts;
  await delay(50);
  assertEquals(accepts, acceptsAtShutdown);
  assert(closed);
  assert(errors.length >= 1);
  for (const error of errors) {
    assertInstanceOf(error, Error);
    assertEquals(error.message, "Too many open files (os error 24)");
  }
});

Deno.test("serve() finishes when its listener is closed behind its back", async () => {
  const listener = listen();
  const { calls, onError } = errorLog();
  const server = serve(listener, () => {}, { onError });
  listener.close();
  await within(server.finished, "finished");
  await server.shutdown();
  assertEquals(calls, []);
});

Deno.test("finished resolves after shutdown, and shutdown() returns one promise", async () => {
  const server = serve(listen(), () => {});
  let finished = false;
  server.finished.then(() => finished = true);
  const first = server.shutdown();
  assertStrictEquals(server.shutdown(), first);
  await within(first, "shutdown");
  assert(finished);
});

Deno.test("await using shuts the server down at the end of the scope", async () => {
  const listener = listen();
  let finished: Promise<void>;
  {
    await using server = serve(listener, echo);
    finished = server.finished;
    using client = await connect(server.addr);
    await writeAll(client, "hi");
    assertEquals(await readText(client, 2), "hi");
  }
  await within(finished, "finished");
  await assertRejects(() => listener.accept(), Deno.errors.BadResource);
});

Deno.test("connections counts the connections being served", async () => {
  await using server = serve(listen(), echo);
  assertEquals(server.connections, 0);
  using client1 = await connect(server.addr);
  using client2 = await connect(server.addr);
  // An echoed byte proves that the handler runs.
  for (const client of [client1, client2]) {
    await writeAll(client, "x");
    assertEquals(await readText(client, 1), "x");
  }
  assertEquals(server.connections, 2);
  client1.closeWrite();
  assertEquals(await readAll(client1), "");
  await waitFor(() => server.connections === 1, "one connection");
  client2.closeWrite();
  assertEquals(await readAll(client2), "");
  await waitFor(() => server.connections === 0, "no connection");
});

Deno.test("a handler may close its own connection", async () => {
  const { calls, onError } = errorLog();
  await using server = serve(listen(), (conn) => conn.close(), { onError });
  for (let i = 0; i < 2; i++) {
    using client = await connect(server.addr);
    assertEquals(await readAll(client), "");
  }
  await server.shutdown();
  assertEquals(calls, []);
});

Deno.test("serve() closes the listener and rethrows when onListen throws", async () => {
  const listener = listen();
  const failure = new Error("onListen failed");
  const error = assertThrows(() =>
    serve(listener, () => {}, {
      onListen() {
        throw failure;
      },
    })
  );
  assertStrictEquals(error, failure);
  await assertRejects(() => listener.accept(), Deno.errors.BadResource);
});

Deno.test("serve() rejects bad arguments, naming the argument and the value", async () => {
  using listener = listen();
  const handler = () => {};
  const bad = (
    call: () => unknown,
    ErrorClass: typeof TypeError | typeof RangeError,
    ...includes: string[]
  ) => {
    const error = assertThrows(call, ErrorClass);
    for (const text of includes) assertStringIncludes(error.message, text);
  };
  // deno-lint-ignore no-explicit-any
  const anyServe = serve as (...args: any[]) => unknown;

  bad(() => anyServe(null, handler), TypeError, "listener must be", "null");
  bad(() => anyServe({}, handler), TypeError, "listener must be", "an object");
  bad(() => anyServe("127.0.0.1:80", handler), TypeError, '"127.0.0.1:80"');
  bad(() => anyServe({ accept() {} }, handler), TypeError, "close()");
  bad(() => anyServe(listener), TypeError, "handler must be", "undefined");
  bad(() => anyServe(listener, "echo"), TypeError, "handler", '"echo"');
  bad(
    () => anyServe(listener, handler, "fast"),
    TypeError,
    "options",
    '"fast"',
  );
  bad(() => anyServe(listener, handler, null), TypeError, "options", "null");

  const option = (
    options: Record<string, unknown>,
    ErrorClass: typeof TypeError | typeof RangeError,
    ...includes: string[]
  ) => bad(() => anyServe(listener, handler, options), ErrorClass, ...includes);
  option({ maxConnections: 0 }, RangeError, "options.maxConnections", "0");
  option({ maxConnections: -1 }, RangeError, "options.maxConnections", "-1");
  option({ maxConnections: 1.5 }, RangeError, "options.maxConnections", "1.5");
  option({ maxConnections: NaN }, RangeError, "options.maxConnections", "NaN");
  option({ maxConnections: "2" }, TypeError, "options.maxConnections", '"2"');
  option({ idleTimeout: 0 }, RangeError, "options.idleTimeout", "got 0");
  option({ idleTimeout: -5 }, RangeError, "options.idleTimeout", "-5");
  option({ idleTimeout: NaN }, RangeError, "options.idleTimeout", "NaN");
  option(
    { idleTimeout: 1, idleTimout: 5 },
    TypeError,
    "did you mean options.idleTimeout",
  );
  option({ idleTimeout: "1s" }, TypeError, "options.idleTimeout", '"1s"');
  option({ idleTimeout: 2 ** 31 }, RangeError, "idleTimeout", "2147483648");
  option(
    { shutdownTimeout: 2 ** 31 },
    RangeError,
    "shutdownTimeout",
    "Infinity",
  );
  option({ shutdownTimeout: -1 }, RangeError, "options.shutdownTimeout", "-1");
  option({ shutdownTimeout: "10" }, TypeError, "shutdownTimeout", '"10"');
  option({ signal: {} }, TypeError, "options.signal", "an object");
  option({ signal: true }, TypeError, "options.signal", "true");
  option({ onError: "log" }, TypeError, "options.onError", '"log"');
  option({ onListen: 42 }, TypeError, "options.onListen", "42");

  // A rejected call leaves the listener to its owner, still open.
  using _client = await connect(listener.addr);
  using _conn = await listener.accept();
});

Deno.test("serve() serves a Unix listener the same way", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/server.sock`;
    const listener = Deno.listen({ transport: "unix", path });
    const { calls, onError } = errorLog();
    let addr: Deno.Addr | undefined;
    await using server = serve(listener, echo, {
      maxConnections: 1,
      idleTimeout: 5_000,
      onError,
      onListen: (listening) => addr = listening,
    });
    assertEquals(addr, { transport: "unix", path });
    assertEquals(server.addr, { transport: "unix", path });
    for (const text of ["one", "two"]) {
      using client = await Deno.connect({ transport: "unix", path });
      await writeAll(client, text);
      assertEquals(await readText(client, text.length), text);
      client.closeWrite();
      assertEquals(await readAll(client), "");
    }
    await server.shutdown();
    await assertRejects(() => listener.accept(), Deno.errors.BadResource);
    assertEquals(calls, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve() with idleTimeout keeps the stream semantics of Deno's own conns", async () => {
  // Deno closes a conn at the end of its `readable`; the idle timeout's
  // progress-counting streams must not change what a handler sees.
  const outcomes: string[] = [];
  for (const idleTimeout of [undefined, 5_000]) {
    const outcome = Promise.withResolvers<string>();
    await using server = serve(listen(), async (conn) => {
      const request = await new Response(conn.readable).text();
      try {
        await conn.write(encoder.encode(request));
        outcome.resolve("write succeeded");
      } catch (error) {
        outcome.resolve(`write failed: ${(error as Error).name}`);
      }
    }, { idleTimeout });
    using client = await connect(server.addr);
    await writeAll(client, "request");
    client.closeWrite();
    assertEquals(await readAll(client), "");
    outcomes.push(await within(outcome.promise, "the handler"));
  }
  assertEquals(outcomes, [
    "write failed: BadResource",
    "write failed: BadResource",
  ]);
});

Deno.test("serve() with maxConnections 1 serves the next client once an idle one is closed", async () => {
  const { calls, onError } = errorLog();
  const events: string[] = [];
  await using server = serve(listen(), async (conn) => {
    const name = await readText(conn, 1);
    events.push(`start ${name}`);
    try {
      await writeAll(conn, name);
      await echo(conn);
    } finally {
      events.push(`end ${name}`);
    }
  }, { maxConnections: 1, idleTimeout: 300, onError });
  using idle = await connect(server.addr);
  await writeAll(idle, "1");
  assertEquals(await readText(idle, 1), "1");
  using next = await connect(server.addr);
  await writeAll(next, "2");
  // Served only after the idle connection has been closed.
  assertEquals(await readText(next, 1), "2");
  assertEquals(events, ["start 1", "end 1", "start 2"]);
  assertEquals(await readAll(idle), "");
  next.closeWrite();
  assertEquals(await readAll(next), "");
  await server.shutdown();
  assertEquals(calls, []);
});

Deno.test("serve() stops before accepting when onListen aborts the signal", async () => {
  const events: string[] = [];
  const inner = listen();
  const controller = new AbortController();
  const server = serve(recordingListener(inner, events), () => {}, {
    signal: controller.signal,
    onListen: () => controller.abort(),
  });
  await within(server.finished, "finished");
  await within(server.shutdown(), "shutdown");
  assertEquals(events, []);
  await assertRejects(() => inner.accept(), Deno.errors.BadResource);
});

Deno.test("shutdown() reports a listener whose close() fails and still completes", async () => {
  const inner = listen();
  const closeFailure = new Error("close failed");
  const listener = Object.assign(recordingListener(inner, []), {
    close() {
      inner.close();
      throw closeFailure;
    },
  });
  const { calls, onError } = errorLog();
  const server = serve(listener, () => {}, { onError });
  await within(server.shutdown(), "shutdown");
  assertEquals(calls, [[closeFailure, undefined]]);
});

Deno.test("serve() aborts the handler's context signal when the idle timeout closes its connection", async () => {
  const { promise: reason, resolve } = Promise.withResolvers<unknown>();
  await using server = serve(listen(), async (conn, { signal }) => {
    signal.addEventListener("abort", () => resolve(signal.reason));
    await conn.read(new Uint8Array(1)).catch(() => null);
  }, { idleTimeout: 50 });
  using _client = await connect(server.addr);
  const error = await within(reason, "the signal to abort");
  assertInstanceOf(error, Deno.errors.TimedOut);
  assertStringIncludes(error.message, "idleTimeout");
});

Deno.test("serve() aborts the handler's context signal when shutdownTimeout forces its connection closed", async () => {
  const { promise: started, resolve: start } = Promise.withResolvers<
    AbortSignal
  >();
  const server = serve(listen(), (_conn, { signal }) => {
    start(signal);
    return new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve())
    );
  }, { shutdownTimeout: 10 });
  using _client = await connect(server.addr);
  const signal = await within(started, "the handler to start");
  assertEquals(signal.aborted, false);
  await server.shutdown();
  assertInstanceOf(signal.reason, Deno.errors.Interrupted);
});

Deno.test("serve() aborts the handler's context signal once the handler has settled", async () => {
  const { promise: seen, resolve } = Promise.withResolvers<AbortSignal>();
  await using server = serve(listen(), (_conn, { signal }) => resolve(signal));
  using client = await connect(server.addr);
  const signal = await within(seen, "the handler to run");
  assertEquals(await client.read(new Uint8Array(1)), null);
  assertEquals(signal.aborted, true);
  assertEquals((signal.reason as DOMException).name, "AbortError");
});

/**
 * Connects `count` times with SO_LINGER {1, 0} from Python and closes each
 * socket at once, so that each reaches the backlog and is then reset before
 * the server accepts it, as a plain TCP health check does.
 */
async function resetBeforeAccept(port: number, count: number): Promise<void> {
  const script = `
import socket, struct
for _ in range(${count}):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.connect(("127.0.0.1", ${port}))
    s.close()
`;
  const { code, stderr } = await new Deno.Command("python3", {
    args: ["-c", script],
    stdout: "null",
  }).output();
  assertEquals(code, 0, decoder.decode(stderr));
}

Deno.test({
  name:
    "serve() skips clients that reset before accept, without reporting them",
  ignore: await isMissing("python3"),
  async fn() {
    const { calls, onError } = errorLog();
    const holding = Promise.withResolvers<void>();
    let served = 0;
    await using server = serve(listen(), async (conn) => {
      if (served++ === 0) {
        holding.resolve();
        await conn.read(new Uint8Array(1));
      } else {
        await writeAll(conn, "served");
      }
    }, { maxConnections: 1, onError });
    // The one slot is taken, so the resets wait in the backlog and are
    // accepted only after they have been reset.
    const holder = await connect(server.addr);
    await within(holding.promise, "the first handler");
    await resetBeforeAccept((server.addr as Deno.NetAddr).port, 8);
    using client = await connect(server.addr);
    holder.close();
    assertEquals(await readAll(client), "served");
    assertEquals(calls, []);
  },
});

Deno.test("serve() accepts again at once after NotConnected, ConnectionReset and ConnectionAborted", async () => {
  // Thirty errors that paused accepting, 5 ms doubling to 1 s, would take
  // about 25 s: more than the bound on serving the client.
  const abandoned = [
    () => new Deno.errors.NotConnected("Transport endpoint is not connected"),
    () => new Deno.errors.ConnectionReset("Connection reset by peer"),
    () => new Deno.errors.ConnectionAborted("Software caused connection abort"),
  ];
  const inner = listen();
  let thrown = 0;
  const listener = Object.assign(recordingListener(inner, []), {
    accept(): Promise<Deno.TcpConn> {
      if (thrown < 30) return Promise.reject(abandoned[thrown++ % 3]());
      return inner.accept();
    },
  });
  const { calls, onError } = errorLog();
  await using server = serve(listener, (conn) => writeAll(conn, "served"), {
    onError,
  });
  using client = await connect(server.addr);
  assertEquals(await readAll(client), "served");
  assertEquals(thrown, 30);
  assertEquals(calls, []);
});

Deno.test("serve() lingers so that a large reply arrives whole after input the handler never read", async () => {
  const received = await replyAfterUnreadInput(listen(), connect);
  assertEquals(received, LARGE_REPLY_BYTES);
});

Deno.test("serve() delivers a large reply whole after unread input on a Unix listener too", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/linger.sock`;
    const received = await replyAfterUnreadInput(
      Deno.listen({ transport: "unix", path }),
      () => Deno.connect({ transport: "unix", path }),
    );
    assertEquals(received, LARGE_REPLY_BYTES);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serve() keeps a lingering connection's slot until the peer closes", async () => {
  await using server = serve(listen(), (conn) => writeAll(conn, "bye"), {
    lingerTimeout: Infinity,
  });
  using client = await connect(server.addr);
  assertEquals(await readAll(client), "bye");
  // The reply ended with a half-close; the connection lingers until the
  // client closes its side.
  assertEquals(server.connections, 1);
  await client.closeWrite();
  await waitFor(() => server.connections === 0, "the lingering to end");
});

Deno.test("serve() ends lingering after lingerTimeout, and closes at once with 0", async () => {
  for (const lingerTimeout of [0, 20]) {
    await using server = serve(listen(), (conn) => writeAll(conn, "bye"), {
      lingerTimeout,
    });
    using client = await connect(server.addr);
    assertEquals(await readAll(client), "bye");
    await waitFor(() => server.connections === 0, "the connection to close");
  }
});

Deno.test("shutdown() closes lingering connections at once", async () => {
  const server = serve(listen(), (conn) => writeAll(conn, "bye"), {
    lingerTimeout: Infinity,
  });
  using client = await connect(server.addr);
  assertEquals(await readAll(client), "bye");
  assertEquals(server.connections, 1);
  await within(server.shutdown(), "the shutdown");
  assertEquals(server.connections, 0);
});

/**
 * Writes one byte every `interval` ms until the connection fails or ends,
 * for at most DEADLINE_MS; returns how it ended.
 */
async function trickle(conn: Deno.Conn, interval: number): Promise<string> {
  const byte = new Uint8Array([120]);
  const rounds = DEADLINE_MS / interval;
  for (let i = 0; i < rounds; i++) {
    try {
      await conn.write(byte);
    } catch (error) {
      return `closed: ${(error as Error).name}`;
    }
    await delay(interval);
  }
  return "still open";
}

Deno.test("serve() ends a trickling connection at connectionTimeout, however busy it is", async () => {
  const { promise: ended, resolve } = Promise.withResolvers<unknown>();
  const { calls, onError } = errorLog();
  await using server = serve(listen(), async (conn, { signal }) => {
    signal.addEventListener("abort", () => resolve(signal.reason));
    const buffer = new Uint8Array(16);
    while ((await conn.read(buffer)) !== null) {
      // A byte at a time keeps the connection from ever being idle.
    }
  }, { idleTimeout: 1_000, connectionTimeout: 100, onError });
  using client = await connect(server.addr);
  const how = trickle(client, 10);
  const reason = await within(ended, "connectionTimeout");
  assertInstanceOf(reason, Deno.errors.TimedOut);
  assertStringIncludes(reason.message, "100 ms (connectionTimeout)");
  assertStringIncludes(await how, "closed");
  assertEquals(calls, []);
});

Deno.test("context.setDeadline() ends a connection whose request takes too long", async () => {
  const { promise: ended, resolve } = Promise.withResolvers<unknown>();
  await using server = serve(listen(), async (conn, context) => {
    context.signal.addEventListener(
      "abort",
      () => resolve(context.signal.reason),
    );
    // A line protocol: a deadline for each line, however slowly it comes.
    context.setDeadline(50);
    const buffer = new Uint8Array(16);
    while ((await conn.read(buffer)) !== null) {
      // The trickler never sends a newline.
    }
  }, { idleTimeout: 1_000 });
  using client = await connect(server.addr);
  const how = trickle(client, 10);
  const reason = await within(ended, "the handler's deadline");
  assertInstanceOf(reason, Deno.errors.TimedOut);
  assertStringIncludes(reason.message, "50 ms passed (context.setDeadline)");
  assertStringIncludes(await how, "closed");
});

Deno.test("context.setDeadline(Infinity) clears the deadline", async () => {
  await using server = serve(listen(), async (conn, context) => {
    context.setDeadline(20);
    context.setDeadline(Infinity);
    // Past the cleared deadline, and past a server-wide timer's tick.
    await delay(100);
    await writeAll(conn, "alive");
  }, { connectionTimeout: DEADLINE_MS });
  using client = await connect(server.addr);
  assertEquals(await readAll(client), "alive");
});

Deno.test("context.setDeadline() rejects what is not milliseconds, naming the fix", async () => {
  const { promise: done, resolve } = Promise.withResolvers<unknown[]>();
  await using server = serve(listen(), (_conn, context) => {
    const errors: unknown[] = [];
    for (const ms of [-1, NaN, "5", undefined]) {
      try {
        context.setDeadline(ms as number);
      } catch (error) {
        errors.push(error);
      }
    }
    resolve(errors);
  });
  using client = await connect(server.addr);
  const errors = await within(done, "the handler");
  assertEquals(errors.length, 4);
  assertInstanceOf(errors[0], RangeError);
  assertInstanceOf(errors[1], RangeError);
  assertInstanceOf(errors[2], TypeError);
  assertInstanceOf(errors[3], TypeError);
  for (const error of errors) {
    assertStringIncludes((error as Error).message, "context.setDeadline(ms)");
  }
  assertEquals(await readAll(client), "");
});

Deno.test("serve() rejects connectionTimeout 0 and a negative lingerTimeout", () => {
  assertThrows(
    () => serve(listen(), () => {}, { connectionTimeout: 0 }),
    RangeError,
    "options.connectionTimeout must be more than 0 ms",
  );
  assertThrows(
    () => serve(listen(), () => {}, { lingerTimeout: -1 }),
    RangeError,
    "use 0 to close at once",
  );
});

Deno.test("serve() closes at once, without lingering, once copy() has read the input to its end", async () => {
  for (const lingerTimeout of [Infinity, 5_000]) {
    let halfClosed = 0;
    await using server = serve(listen(), (conn) => {
      const closeWrite = conn.closeWrite.bind(conn);
      conn.closeWrite = () => {
        halfClosed++;
        return closeWrite();
      };
      return copy(conn, conn);
    }, { lingerTimeout });
    using client = await connect(server.addr);
    await client.write(encoder.encode("ping"));
    await client.closeWrite();
    // The echo arrives whole, then the server's FIN: a plain close.
    assertEquals(await readAll(client), "ping");
    await waitFor(() => server.connections === 0, "the connection to close");
    assertEquals(halfClosed, 0);
  }
});

Deno.test("serve() closes at once, without lingering, once lines() or frames() have read the input to its end", async () => {
  const handlers = {
    lines: async (conn: Deno.Conn) => {
      for await (const line of lines(conn)) await writeAll(conn, `${line}\n`);
    },
    frames: async (conn: Deno.Conn) => {
      for await (const frame of frames(conn)) await writeFrame(conn, frame);
    },
  };
  for (const [name, handler] of Object.entries(handlers)) {
    let halfClosed = 0;
    await using server = serve(listen(), (conn) => {
      const closeWrite = conn.closeWrite.bind(conn);
      conn.closeWrite = () => {
        halfClosed++;
        return closeWrite();
      };
      return handler(conn);
    }, { lingerTimeout: Infinity });
    using client = await connect(server.addr);
    if (name === "lines") await client.write(encoder.encode("ping\n"));
    else await writeFrame(client, encoder.encode("ping"));
    await client.closeWrite();
    assertEquals((await readAll(client)).includes("ping"), true, name);
    await waitFor(() => server.connections === 0, "the connection to close");
    assertEquals(halfClosed, 0, name);
  }
});

Deno.test("serve() still lingers after a handler that read its input only in part", async () => {
  let halfClosed = 0;
  await using server = serve(listen(), async (conn) => {
    const closeWrite = conn.closeWrite.bind(conn);
    conn.closeWrite = () => {
      halfClosed++;
      return closeWrite();
    };
    await conn.read(new Uint8Array(2));
    await writeAll(conn, "bye");
  }, { lingerTimeout: Infinity });
  using client = await connect(server.addr);
  await client.write(encoder.encode("ping"));
  assertEquals(await readAll(client), "bye");
  assertEquals(halfClosed, 1);
  await client.closeWrite();
  await waitFor(() => server.connections === 0, "the lingering to end");
});
