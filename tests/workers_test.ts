import {
  assert,
  assertEquals,
  assertGreater,
  assertInstanceOf,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { serve, type ServeOptions } from "@sockets/net/server";
import {
  serveWorkers,
  type ServeWorkersOptions,
  type WorkerPool,
} from "@sockets/net/workers";
import { delay, readLine, waitFor } from "./_helpers.ts";

const ECHO_HANDLER = new URL("./fixtures/echo_handler.ts", import.meta.url);
const NO_DEFAULT = new URL(
  "./fixtures/no_default_handler.ts",
  import.meta.url,
);

/** Connections tried before concluding that a second worker never accepts: all on one of two listeners is a 2^-199 chance. */
const MAX_CONNECTIONS_TO_SEE_TWO_WORKERS = 200;

const encoder = new TextEncoder();

function startPool(options: ServeWorkersOptions = {}): Promise<WorkerPool> {
  return serveWorkers(ECHO_HANDLER, {
    hostname: "127.0.0.1",
    workers: 2,
    ...options,
  });
}

/** Sends one line on a new connection and returns the reply line. */
async function ask(port: number, line: string): Promise<string> {
  using conn = await Deno.connect({ hostname: "127.0.0.1", port });
  await conn.write(encoder.encode(`${line}\n`));
  return await readLine(conn);
}

/** Asserts that nothing listens on `port` any more. */
async function assertRefused(port: number): Promise<void> {
  await assertRejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
}

/** Errors reported to onError, and a way to wait for the next one. */
function collectErrors(): {
  errors: unknown[];
  onError: (error: unknown) => void;
  next: (count: number) => Promise<void>;
} {
  const errors: unknown[] = [];
  return {
    errors,
    onError: (error) => errors.push(error),
    next: (count) => waitFor(() => errors.length >= count, `${count} errors`),
  };
}

Deno.test("serveWorkers() serves many clients on one port from more than one worker", async () => {
  await using pool = await startPool();
  assertEquals(pool.workers, 2);
  const replies = await Promise.all(
    Array.from({ length: 50 }, (_, i) => ask(pool.addr.port, `client ${i}`)),
  );
  assertEquals(
    replies,
    Array.from({ length: 50 }, (_, i) => `client ${i}\n`),
  );
  const workers = new Set<string>();
  for (
    let i = 0;
    i < MAX_CONNECTIONS_TO_SEE_TWO_WORKERS && workers.size < 2;
    i++
  ) {
    workers.add(await ask(pool.addr.port, "whoami"));
  }
  assertEquals(workers.size, 2, "only one worker accepted connections");
});

Deno.test("serveWorkers() with port 0 listens on a port the system chose", async () => {
  const listened: Deno.NetAddr[] = [];
  await using pool = await startPool({
    port: 0,
    onListen: (addr) => listened.push(addr),
  });
  assertEquals(pool.addr.transport, "tcp");
  assertEquals(pool.addr.hostname, "127.0.0.1");
  assertGreater(pool.addr.port, 0);
  assertEquals(listened, [pool.addr]);
  assertEquals(await ask(pool.addr.port, "ping"), "ping\n");
});

Deno.test("serveWorkers() listens on IPv6 loopback", async () => {
  await using pool = await startPool({ hostname: "::1", workers: 1 });
  assertEquals(pool.addr.hostname, "::1");
  using conn = await Deno.connect({ hostname: "::1", port: pool.addr.port });
  await conn.write(encoder.encode("ping\n"));
  assertEquals(await readLine(conn), "ping\n");
});

Deno.test("serveWorkers() takes a port as a numeric string", async () => {
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = probe.addr.port;
  probe.close();
  await using pool = await startPool({ port: String(port), workers: 1 });
  assertEquals(pool.addr.port, port);
  assertEquals(await ask(port, "ping"), "ping\n");
});

Deno.test("serveWorkers() shutdown drains an in-flight exchange, then terminates every worker", async () => {
  await using pool = await startPool();
  const conn = await Deno.connect({ port: pool.addr.port });
  try {
    // The echo proves that a worker accepted the connection.
    await conn.write(encoder.encode("hello\n"));
    assertEquals(await readLine(conn), "hello\n");
    await conn.write(encoder.encode("slow\n"));
    const stopping = pool.shutdown();
    assertEquals(await readLine(conn), "slow done\n");
    let stopped = false;
    stopping.then(() => stopped = true);
    await delay(50);
    assertEquals(stopped, false, "shutdown did not wait for the client");
    conn.close();
    await stopping;
  } finally {
    try {
      conn.close();
    } catch {
      // Closed above.
    }
  }
  assertEquals(pool.workers, 0);
  await pool.finished;
  assertEquals(pool.shutdown(), pool.shutdown());
  await assertRefused(pool.addr.port);
});

Deno.test("serveWorkers() shutdown closes connections that outlast shutdownTimeout", async () => {
  await using pool = await startPool({ workers: 1, shutdownTimeout: 100 });
  using conn = await Deno.connect({ port: pool.addr.port });
  await conn.write(encoder.encode("hello\n"));
  assertEquals(await readLine(conn), "hello\n");
  await pool.shutdown();
  assertEquals(await conn.read(new Uint8Array(1)), null);
  assertEquals(pool.workers, 0);
});

Deno.test("serveWorkers() workers close connections idle for idleTimeout", async () => {
  await using pool = await startPool({ workers: 1, idleTimeout: 100 });
  using conn = await Deno.connect({ port: pool.addr.port });
  await conn.write(encoder.encode("hello\n"));
  assertEquals(await readLine(conn), "hello\n");
  assertEquals(await conn.read(new Uint8Array(1)), null);
});

Deno.test("serveWorkers() workers end connections at connectionTimeout, however busy", async () => {
  await using pool = await startPool({ workers: 1, connectionTimeout: 200 });
  using conn = await Deno.connect({ port: pool.addr.port });
  // A client that keeps talking is never idle; only the deadline ends it.
  for (let i = 0; i < 100; i++) {
    try {
      await conn.write(encoder.encode("tick\n"));
      if ((await readLine(conn)) !== "tick\n") return;
    } catch {
      return;
    }
    await delay(20);
  }
  throw new Error("the worker kept the connection for 100 exchanges");
});

Deno.test("serveWorkers() rejects with what onListen throws, leaving no worker listening", async () => {
  let port = 0;
  await assertRejects(
    () =>
      startPool({
        onListen: (addr) => {
          port = addr.port;
          throw new Error("no thanks");
        },
      }),
    Error,
    "no thanks",
  );
  assertGreater(port, 0);
  await assertRefused(port);
});

for (
  const [command, reason] of [
    ["crash", "uncaught error: crash requested by the client"],
    ["close", "the worker called self.close()"],
    ["exit", "the worker called Deno.exit()"],
  ]
) {
  Deno.test(`serveWorkers() replaces a worker that ends with ${command} and keeps serving`, async () => {
    const { errors, onError, next } = collectErrors();
    await using pool = await startPool({ workers: 1, onError });
    const before = await ask(pool.addr.port, "whoami");
    await ask(pool.addr.port, command);
    await next(1);
    assertEquals(errors.length, 1);
    assertInstanceOf(errors[0], Error);
    assertStringIncludes(
      errors[0].message,
      `worker 1 of 1 died, starting a new one: ${reason}`,
    );
    await waitFor(() => pool.workers === 1, "the new worker");
    const after = await ask(pool.addr.port, "whoami");
    assertNotEquals(after, before, "the same worker answered");
    assertEquals(await ask(pool.addr.port, "still here"), "still here\n");
  });
}

Deno.test("serveWorkers() gives up when workers keep dying, and finished rejects", async () => {
  const { errors, onError, next } = collectErrors();
  await using pool = await startPool({ workers: 1, onError });
  for (let death = 1; death <= 5; death++) {
    await waitFor(() => pool.workers === 1, `worker ${death}`);
    await ask(pool.addr.port, "crash");
    if (death < 5) await next(death);
  }
  const error = await assertRejects(
    () => pool.finished,
    Error,
    "5 workers died within 10000 ms, so the pool stopped replacing them",
  );
  assertStringIncludes(
    (error as Error).message,
    "crash requested by the client",
  );
  assertEquals(errors.length, 4);
  assertEquals(pool.workers, 0);
  await assertRefused(pool.addr.port);
});

Deno.test("serveWorkers() reports handler failures to onError and goes on serving", async () => {
  const { errors, onError, next } = collectErrors();
  await using pool = await startPool({ onError });
  using conn = await Deno.connect({ port: pool.addr.port });
  await conn.write(encoder.encode("fail\n"));
  assertEquals(await conn.read(new Uint8Array(1)), null);
  await next(1);
  assertInstanceOf(errors[0], RangeError);
  assertEquals(errors[0].message, "failure requested by the client");
  assertStringIncludes(errors[0].stack ?? "", "echo_handler.ts");
  assertEquals(pool.workers, 2);
  assertEquals(await ask(pool.addr.port, "ping"), "ping\n");
});

Deno.test("serveWorkers() rejects a module without a default export, naming it", async () => {
  const error = await assertRejects(
    () => serveWorkers(NO_DEFAULT, { hostname: "127.0.0.1", workers: 2 }),
    TypeError,
    "must export its connection handler as the default export",
  );
  assertStringIncludes((error as Error).message, NO_DEFAULT.href);
  assertStringIncludes(
    (error as Error).message,
    "it has no default export (it exports handler)",
  );
  await assertRejects(
    () =>
      serveWorkers("data:text/javascript,export default 42", {
        hostname: "127.0.0.1",
        workers: 1,
      }),
    TypeError,
    "its default export is 42",
  );
});

Deno.test("serveWorkers() rejects a module that cannot load, naming it", async () => {
  const missing = new URL("./fixtures/no_such_handler.ts", import.meta.url);
  const error = await assertRejects(
    () => serveWorkers(missing, { hostname: "127.0.0.1", workers: 1 }),
    Error,
    `serveWorkers: cannot load ${missing.href}`,
  );
  assert((error as Error).cause !== undefined);
});

Deno.test("serveWorkers() explains a port held by a listener without reusePort", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await assertRejects(
    () => startPool({ port: taken.addr.port }),
    Deno.errors.AddrInUse,
    `port ${taken.addr.port} is already in use`,
  );
});

Deno.test("serveWorkers() stops when its signal aborts", async () => {
  const controller = new AbortController();
  await using pool = await startPool({ signal: controller.signal });
  assertEquals(await ask(pool.addr.port, "ping"), "ping\n");
  controller.abort();
  await pool.finished;
  assertEquals(pool.workers, 0);
  await assertRefused(pool.addr.port);
});

Deno.test("serveWorkers() rejects with the reason of a signal aborted before it starts", async () => {
  const reason = new Error("not today");
  await assertRejects(
    () => startPool({ signal: AbortSignal.abort(reason) }),
    Error,
    "not today",
  );
});

Deno.test("serveWorkers() rejects bad arguments, naming them", async () => {
  for (const workers of [0, -1, 1.5, Infinity, NaN]) {
    await assertRejects(
      () => serveWorkers(ECHO_HANDLER, { workers }),
      RangeError,
      `options.workers must be a whole number of workers, 1 or more, got ${workers}`,
    );
  }
  await assertRejects(
    () => serveWorkers(ECHO_HANDLER, { workers: "2" as unknown as number }),
    TypeError,
    'options.workers must be a number of workers, got "2"',
  );
  await assertRejects(
    () => serveWorkers(42 as unknown as string),
    TypeError,
    "module must be a URL such as new URL(",
  );
  await assertRejects(
    () => serveWorkers("./handler.ts"),
    TypeError,
    'module must be an absolute URL such as new URL("./handler.ts", import.meta.url), got "./handler.ts"',
  );
  await assertRejects(
    () => serveWorkers(ECHO_HANDLER, { port: 65536 }),
    RangeError,
    "65536",
  );
  await assertRejects(
    () => serveWorkers(ECHO_HANDLER, { hostname: "" }),
    RangeError,
    "options.hostname must not be empty",
  );
  await assertRejects(
    () => serveWorkers(ECHO_HANDLER, { maxConnections: 0 }),
    RangeError,
    "options.maxConnections",
  );
  await assertRejects(
    () =>
      serveWorkers(ECHO_HANDLER, {
        onError: "log" as unknown as () => void,
      }),
    TypeError,
    "options.onError must be a function",
  );
  await assertRejects(
    () =>
      serveWorkers(ECHO_HANDLER, {
        signal: "stop" as unknown as AbortSignal,
      }),
    TypeError,
    "options.signal must be an AbortSignal",
  );
});

Deno.test("serveWorkers() rejects an unknown option name, naming the closest", async () => {
  await assertRejects(
    () =>
      serveWorkers(ECHO_HANDLER, {
        idleTimout: 1000,
      } as ServeWorkersOptions),
    TypeError,
    "options.idleTimout is not an option; did you mean options.idleTimeout?",
  );
  await assertRejects(
    () =>
      serveWorkers(ECHO_HANDLER, {
        worker: 2,
      } as ServeWorkersOptions),
    TypeError,
    "did you mean options.workers?",
  );
});

Deno.test("serveWorkers() rejects a wrong server option with the error serve() gives", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    for (
      const options of [
        { shutdownTimeout: -1 },
        { shutdownTimeout: "5s" },
        { idleTimeout: -1 },
        { maxConnections: 1.5 },
        { signal: "stop" },
        { onListen: 1 },
      ]
    ) {
      const expected = assertThrows(
        () => serve(listener, () => {}, options as ServeOptions),
      );
      const error = await assertRejects(() =>
        serveWorkers(ECHO_HANDLER, options as ServeWorkersOptions)
      );
      assertInstanceOf(error, Error);
      assertInstanceOf(expected, Error);
      assertEquals(error.constructor, expected.constructor);
      assertEquals(error.message, expected.message, Deno.inspect(options));
    }
  } finally {
    listener.close();
  }
});

Deno.test("serveWorkers() accepts shutdownTimeout: Infinity and still stops", async () => {
  const pool = await startPool({ shutdownTimeout: Infinity, workers: 1 });
  await pool.shutdown();
  await pool.finished;
  assertEquals(pool.workers, 0);
});

Deno.test("serveWorkers() without --unstable-net throws NotSupported naming the flag", async () => {
  const module = new URL("../workers.ts", import.meta.url).href;
  const script = `
    import { serveWorkers } from ${JSON.stringify(module)};
    try {
      await serveWorkers("data:text/javascript,export default () => {}", {
        hostname: "127.0.0.1",
        workers: 1,
      });
    } catch (error) {
      console.log(error.name + ": " + error.message);
    }
  `;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "null",
  }).output();
  const text = new TextDecoder().decode(stdout).trim();
  assertStringIncludes(text, "NotSupported: serveWorkers on 127.0.0.1:0");
  assertStringIncludes(text, "run again with --unstable-net");
});

Deno.test("serveWorkers() logs what a throwing onError throws and goes on serving", async () => {
  const logged: unknown[][] = [];
  const originalError = console.error;
  console.error = (...args: unknown[]) => logged.push(args);
  try {
    await using pool = await startPool({
      workers: 1,
      onError: () => {
        throw new Error("onError failed");
      },
    });
    using conn = await Deno.connect({ port: pool.addr.port });
    await conn.write(encoder.encode("fail\n"));
    assertEquals(await conn.read(new Uint8Array(1)), null);
    await waitFor(() => logged.length > 0, "a logged error");
    assertStringIncludes(String(logged[0][1]), "onError failed");
    assertEquals(await ask(pool.addr.port, "ping"), "ping\n");
  } finally {
    console.error = originalError;
  }
});

Deno.test("serveWorkers() checks connectionTimeout and lingerTimeout as serve() does, before any worker starts", async () => {
  for (const options of [{ connectionTimeout: 0 }, { lingerTimeout: -1 }]) {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const expected = assertThrows(() => serve(listener, () => {}, options));
    await assertRejects(
      () => serveWorkers(ECHO_HANDLER, { ...options, workers: 1 }),
      (expected as Error).constructor as ErrorConstructor,
      (expected as Error).message,
    );
  }
});

Deno.test("WorkerPool.counters sums the workers' counters: while serving, and exactly after a stop", async () => {
  const { onError, next } = collectErrors();
  const pool = await startPool({ onError });
  try {
    assertEquals(pool.counters, {
      accepted: 0,
      active: 0,
      refusedByRules: 0,
      limitReached: 0,
      timedOut: 0,
      handlerErrors: 0,
    });
    const clients = 20;
    await Promise.all(
      Array.from({ length: clients }, (_, i) => ask(pool.addr.port, `${i}`)),
    );
    {
      using failing = await Deno.connect({ port: pool.addr.port });
      await failing.write(encoder.encode("fail\n"));
      assertEquals(await failing.read(new Uint8Array(1)), null);
    }
    await next(1);
    // Sent by each worker within a second while it serves.
    await waitFor(() => pool.counters.accepted === clients + 1, "the sum");
    using held = await Deno.connect({ port: pool.addr.port });
    assertEquals(await ask(pool.addr.port, "last"), "last\n");
    held.close();
    await pool.shutdown();
    assertEquals(pool.counters.accepted, clients + 3);
    assertEquals(pool.counters.handlerErrors, 1);
    assertEquals(pool.counters.active, 0);
  } finally {
    await pool.shutdown();
  }
});

Deno.test("WorkerPool.counters keeps the counts of a worker that died", async () => {
  const { onError, next } = collectErrors();
  await using pool = await startPool({ workers: 1, onError });
  await ask(pool.addr.port, "whoami");
  await ask(pool.addr.port, "close");
  await next(1);
  await waitFor(() => pool.workers === 1, "the new worker");
  await ask(pool.addr.port, "after");
  await pool.shutdown();
  assertEquals(pool.counters.accepted, 3);
});
