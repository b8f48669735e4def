import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  connectTcp,
  type ConnectTcpOptions,
  type Resolver,
  serveTcp,
  type ServeTcpOptions,
} from "../tcp.ts";
import {
  closedPort,
  echo,
  isMissing,
  output,
  readAll,
  readLine,
  within,
  writeAll,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const ssMissing = await isMissing("ss", "iproute2");

function hello(conn: Deno.Conn): Promise<number> {
  return conn.write(encoder.encode("Hello World\n"));
}

/** A resolver that answers with fixed addresses, as /etc/hosts cannot here. */
function fixedResolver(...addresses: string[]): Resolver {
  return () => Promise.resolve(addresses);
}

/**
 * A listener whose backlog is full, so that a connect to it hangs: the kernel
 * drops its SYN, as it does for a host that does not answer.
 */
async function unresponsive(
  hostname: string,
  port = 0,
): Promise<{ port: number } & Disposable> {
  const listener = Deno.listen({ hostname, port, tcpBacklog: 1 });
  const queued: Deno.Conn[] = [];
  const BACKLOG_FILL_ATTEMPTS = 8;
  for (let i = 0; i < BACKLOG_FILL_ATTEMPTS; i++) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 200);
    try {
      queued.push(
        await Deno.connect({
          hostname,
          port: listener.addr.port,
          signal: controller.signal,
        }),
      );
    } catch {
      break;
    } finally {
      clearTimeout(timer);
    }
  }
  return {
    port: listener.addr.port,
    [Symbol.dispose]() {
      for (const conn of queued) conn.close();
      listener.close();
    },
  };
}

Deno.test("serveTcp() listens on port 0 and reports the real port", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, hello);
  assertEquals(server.addr.transport, "tcp");
  assertEquals(server.addr.hostname, "127.0.0.1");
  assertNotEquals(server.addr.port, 0);
  using conn = await Deno.connect({ port: server.addr.port });
  assertEquals(await readAll(conn), "Hello World\n");
});

Deno.test("serveTcp() takes the port as a numeric string", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: "0" }, hello);
  assertNotEquals(server.addr.port, 0);
});

Deno.test("serveTcp() uses defaultPort for an unknown service name", async () => {
  const free = closedPort();
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: "no-such-service", defaultPort: free },
    hello,
  );
  assertEquals(server.addr.port, free);
});

Deno.test("serveTcp() listens on IPv6 loopback, brackets or not", async () => {
  for (const hostname of ["::1", "[::1]"]) {
    await using server = serveTcp({ hostname, port: 0 }, hello);
    assertEquals(server.addr.hostname, "::1");
    using conn = await Deno.connect({
      hostname: "::1",
      port: server.addr.port,
    });
    assertEquals(await readAll(conn), "Hello World\n");
  }
});

Deno.test("serveTcp() passes maxConnections to the engine: a second client is served only after the first ends", async () => {
  let handlers = 0;
  await using server = serveTcp(
    { hostname: "127.0.0.1", port: 0, maxConnections: 1 },
    async (conn) => {
      await writeAll(conn, `hello ${++handlers}\n`);
      await echo(conn);
    },
  );
  using first = await Deno.connect({ port: server.addr.port });
  assertEquals(await readLine(first), "hello 1\n");
  // The second client's handshake completes in the kernel's backlog, whether
  // or not the server accepts it.
  using second = await Deno.connect({ port: server.addr.port });
  let greeted = false;
  const greeting = readLine(second).then((line) => {
    greeted = true;
    return line;
  });
  // Awaited below; a failed assertion first closes the connection under it.
  greeting.catch(() => {});
  // A round trip through the first handler gives an unbounded server the
  // turns it needs to accept and greet the second client.
  await writeAll(first, "ping\n");
  assertEquals(await readLine(first), "ping\n");
  assertEquals(server.connections, 1);
  assertEquals(handlers, 1);
  assertEquals(greeted, false, "the second client was greeted");

  first.close();
  assertEquals(await greeting, "hello 2\n");
  assertEquals(handlers, 2);
  await second.closeWrite();
  assertEquals(await readAll(second), "");
});

/** The line `ss` prints for the one TCP socket in `state` at local port `port`. */
async function ssLine(
  state: "listening" | "established",
  port: number,
): Promise<string> {
  const printed = await output("ss", [
    "-tnoeH",
    "state",
    state,
    "sport",
    "=",
    `:${port}`,
  ]);
  const lines = printed.split("\n").filter((line) => line.trim() !== "");
  assertEquals(lines.length, 1, `${state} at port ${port}:\n${printed}`);
  return lines[0];
}

/** A serveTcp server whose handlers hold their connection until released. */
interface HoldingServer extends AsyncDisposable {
  port: number;
  /** Connects a client and waits until the server's handler holds its connection. */
  connect(): Promise<Deno.TcpConn>;
}

function holdingServer(options: Omit<ServeTcpOptions, "port">): HoldingServer {
  const released = Promise.withResolvers<void>();
  const held: PromiseWithResolvers<void>[] = [];
  const server = serveTcp({ port: 0, ...options }, async () => {
    held.shift()?.resolve();
    await released.promise;
  });
  return {
    port: server.addr.port,
    async connect() {
      const entered = Promise.withResolvers<void>();
      held.push(entered);
      const conn = await Deno.connect({ port: server.addr.port });
      try {
        await within(entered.promise, "the handler to hold the connection");
      } catch (error) {
        conn.close();
        throw error;
      }
      return conn;
    },
    async [Symbol.asyncDispose]() {
      released.resolve();
      await server.shutdown();
    },
  };
}

Deno.test({
  name: "serveTcp() applies keepAlive and backlog, as ss shows them",
  ignore: ssMissing,
  async fn() {
    await using tuned = holdingServer({
      hostname: "127.0.0.1",
      keepAlive: true,
      backlog: 16,
    });
    await using plain = holdingServer({ hostname: "127.0.0.1" });
    // ss shows a listener's backlog in the Send-Q column.
    const listening = await ssLine("listening", tuned.port);
    assertEquals(listening.trim().split(/\s+/)[1], "16", listening);
    using _tuned = await tuned.connect();
    using _plain = await plain.connect();
    const accepted = await ssLine("established", tuned.port);
    assertStringIncludes(accepted, "timer:(keepalive,");
    // Without keepAlive, the accepted connection has no keepalive timer.
    const untuned = await ssLine("established", plain.port);
    assert(!untuned.includes("keepalive"), untuned);
  },
});

Deno.test("serveTcp() turns noDelay on for each accepted connection, and leaves it off with noDelay: false", async () => {
  // Deno cannot read a socket option back (it has no getsockopt): the call
  // on the accepted connection is the only observable, so it is recorded.
  const proto = await (async () => {
    using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    using conn = await Deno.connect({ port: listener.addr.port });
    return Object.getPrototypeOf(conn) as Deno.TcpConn;
  })();
  const original = proto.setNoDelay;
  const calls: [Deno.TcpConn, boolean | undefined][] = [];
  proto.setNoDelay = function (this: Deno.TcpConn, noDelay?: boolean) {
    calls.push([this, noDelay]);
    return original.call(this, noDelay);
  };
  try {
    for (const noDelay of [undefined, false]) {
      calls.length = 0;
      const served = Promise.withResolvers<Deno.TcpConn>();
      await using server = serveTcp(
        { hostname: "127.0.0.1", port: 0, noDelay },
        (conn) => served.resolve(conn),
      );
      using client = await Deno.connect({ port: server.addr.port });
      const conn = await within(served.promise, "the handler");
      assertEquals(
        calls,
        noDelay === false ? [] : [[conn, true]],
        `noDelay: ${noDelay}`,
      );
      assertEquals(await readAll(client), "");
    }
  } finally {
    proto.setNoDelay = original;
  }
});

Deno.test("serveTcp() shares a port between listeners with reusePort", async () => {
  await using first = serveTcp(
    { hostname: "127.0.0.1", port: 0, reusePort: true },
    hello,
  );
  await using second = serveTcp(
    { hostname: "127.0.0.1", port: first.addr.port, reusePort: true },
    hello,
  );
  assertEquals(second.addr.port, first.addr.port);
});

Deno.test("serveTcp() says which port is in use", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, hello);
  const { port } = server.addr;
  const error = assertThrows(
    () => serveTcp({ hostname: "127.0.0.1", port }, hello),
    Deno.errors.AddrInUse,
  );
  assertStringIncludes(
    error.message,
    `listen tcp 127.0.0.1:${port}: port ${port} is already in use`,
  );
  assertInstanceOf(error.cause, Deno.errors.AddrInUse);
});

Deno.test({
  name: "serveTcp() names the --allow-net flag when net is denied",
  permissions: { net: false },
  fn() {
    const error = assertThrows(
      () => serveTcp({ hostname: "127.0.0.1", port: 5432 }, hello),
      Deno.errors.NotCapable,
    );
    assertStringIncludes(error.message, "--allow-net=127.0.0.1:5432");
    assertInstanceOf(error.cause, Deno.errors.NotCapable);
  },
});

Deno.test("serveTcp() rejects bad input, naming the argument and the value", () => {
  const cases: [unknown, ErrorConstructor | RangeErrorConstructor, string][] = [
    [{ port: -1 }, RangeError, "-1"],
    [{ port: 65536 }, RangeError, "65536"],
    [{ port: 1.5 }, RangeError, "1.5"],
    [{ port: NaN }, RangeError, "NaN"],
    [{ port: "" }, RangeError, 'port ""'],
    [{ port: "no-such-service" }, RangeError, '"no-such-service"'],
    [{ port: "80x" }, RangeError, '"80x"'],
    [{ port: true }, TypeError, "true"],
    [{ hostname: "" }, RangeError, "options.hostname"],
    [{ hostname: 1 }, TypeError, "options.hostname"],
    [{ reusePort: "yes" }, TypeError, "options.reusePort"],
    [{ backlog: 0 }, RangeError, "options.backlog"],
    [{ maxConnections: 0 }, RangeError, "maxConnections"],
    [null, TypeError, "options"],
    [undefined, TypeError, "options"],
  ];
  for (const [options, ErrorClass, text] of cases) {
    const error = assertThrows(
      () => serveTcp(options as { port: number }, hello),
      ErrorClass,
    );
    assertStringIncludes(error.message, text, Deno.inspect(options));
  }
  const error = assertThrows(
    () => serveTcp({ port: 0 }, "hello" as unknown as () => void),
    TypeError,
  );
  assertStringIncludes(
    error.message,
    "handler must be a function",
  );
});

Deno.test("connectTcp() connects to a host name", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, hello);
  using conn = await connectTcp({
    hostname: "localhost",
    port: server.addr.port,
  });
  assertEquals(conn.remoteAddr.hostname, "127.0.0.1");
  assertEquals(await readAll(conn), "Hello World\n");
});

Deno.test("connectTcp() takes the port as a string or a service name", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, hello);
  const { port } = server.addr;
  using byString = await connectTcp({ port: String(port) });
  assertEquals(await readAll(byString), "Hello World\n");
  using byDefault = await connectTcp({
    port: "no-such-service",
    defaultPort: port,
  });
  assertEquals(await readAll(byDefault), "Hello World\n");
});

Deno.test("connectTcp() falls back to the next address when one is refused", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, hello);
  const { port } = server.addr;
  using conn = await connectTcp({
    hostname: "dual-stack.test",
    port,
    resolve: fixedResolver("::1", "127.0.0.1"),
  });
  assertEquals(conn.remoteAddr.hostname, "127.0.0.1");
  assertEquals(await readAll(conn), "Hello World\n");
});

Deno.test("connectTcp() races the next address while one hangs", async () => {
  await using server = serveTcp({ hostname: "::1", port: 0 }, hello);
  using _stalled = await unresponsive("127.0.0.1", server.addr.port);
  using conn = await connectTcp({
    hostname: "dual-stack.test",
    port: server.addr.port,
    resolve: fixedResolver("127.0.0.1", "::1"),
    attemptDelay: 50,
  });
  assertEquals(conn.remoteAddr.hostname, "::1");
  assertEquals(await readAll(conn), "Hello World\n");
});

Deno.test("connectTcp() lists every address and its error when all fail", async () => {
  const port = closedPort();
  const error = await assertRejects(
    () =>
      connectTcp({
        hostname: "dual-stack.test",
        port,
        resolve: fixedResolver("::1", "127.0.0.1"),
      }),
    AggregateError,
  );
  assertEquals(error.errors.length, 2);
  assertStringIncludes(error.message, `connect tcp dual-stack.test:${port}`);
  assertStringIncludes(error.message, `[::1]:${port}`);
  assertStringIncludes(error.message, `127.0.0.1:${port}`);
  for (const each of error.errors) {
    assertInstanceOf(each, Deno.errors.ConnectionRefused);
    assertInstanceOf(each.cause, Deno.errors.ConnectionRefused);
  }
});

Deno.test("connectTcp() reports a refused single address as itself", async () => {
  const port = closedPort();
  const error = await assertRejects(
    () => connectTcp({ hostname: "127.0.0.1", port }),
    Deno.errors.ConnectionRefused,
  );
  assertStringIncludes(
    error.message,
    `connect tcp 127.0.0.1:${port}: connection refused`,
  );
});

Deno.test("connectTcp() gives up at the overall timeout", async () => {
  using stalled = await unresponsive("127.0.0.1");
  const error = await assertRejects(
    () => connectTcp({ port: stalled.port, timeout: 100 }),
    Deno.errors.TimedOut,
  );
  assertStringIncludes(error.message, `127.0.0.1:${stalled.port}`);
  assertStringIncludes(error.message, "100 ms");
});

Deno.test("connectTcp() counts the lookup in the timeout", async () => {
  const hanging: Resolver = () => new Promise(() => {});
  await assertRejects(
    () =>
      connectTcp({
        hostname: "slow.test",
        port: 80,
        timeout: 50,
        resolve: hanging,
      }),
    Deno.errors.TimedOut,
  );
});

Deno.test("connectTcp() stops when its signal aborts", async () => {
  using stalled = await unresponsive("127.0.0.1");
  const controller = new AbortController();
  const connecting = connectTcp({
    port: stalled.port,
    signal: controller.signal,
  });
  const reason = new Error("stop");
  setTimeout(() => controller.abort(reason), 20);
  assertEquals(await connecting.catch((error) => error), reason);

  const aborted = AbortSignal.abort(reason);
  assertEquals(
    await connectTcp({ port: stalled.port, signal: aborted }).catch((e) => e),
    reason,
  );
});

Deno.test("connectTcp() reports a resolver that finds nothing", async () => {
  const error = await assertRejects(
    () =>
      connectTcp({
        hostname: "empty.test",
        port: 80,
        resolve: fixedResolver(),
      }),
    Deno.errors.NotFound,
  );
  assertStringIncludes(error.message, '"empty.test"');
});

Deno.test({
  name: "connectTcp() names the --allow-net flag when net is denied",
  permissions: { net: false },
  async fn() {
    const error = await assertRejects(
      () => connectTcp({ hostname: "127.0.0.1", port: 5432 }),
      Deno.errors.NotCapable,
    );
    assertStringIncludes(error.message, "--allow-net=127.0.0.1:5432");
  },
});

Deno.test("connectTcp() rejects bad input, naming the argument and the value", async () => {
  const cases: [unknown, ErrorConstructor | RangeErrorConstructor, string][] = [
    [{}, TypeError, "options.port is required"],
    [{ port: -1 }, RangeError, "-1"],
    [{ port: 65536 }, RangeError, "65536"],
    [{ port: 1.5 }, RangeError, "1.5"],
    [{ port: NaN }, RangeError, "NaN"],
    [{ port: "" }, RangeError, 'port ""'],
    [{ port: "no-such-service" }, RangeError, '"no-such-service"'],
    [{ port: 80, hostname: "" }, RangeError, "options.hostname"],
    [{ port: 80, timeout: -1 }, RangeError, "options.timeout"],
    [{ port: 80, timeout: "1s" }, TypeError, "options.timeout"],
    [{ port: 80, signal: {} }, TypeError, "options.signal"],
    [{ port: 80, resolve: "dns" }, TypeError, "options.resolve"],
    [{ port: 80, noDelay: 1 }, TypeError, "options.noDelay"],
    [null, TypeError, "options"],
    [undefined, TypeError, "options"],
  ];
  for (const [options, ErrorClass, text] of cases) {
    const error = await assertRejects(
      () => connectTcp(options as { port: number }),
      ErrorClass,
    );
    assertStringIncludes(error.message, text, Deno.inspect(options));
  }
  assert(true);
});

Deno.test("connectTcp() dials a wildcard address as this host's loopback, as Go does", async () => {
  for (
    const [hostname, loopback] of [["0.0.0.0", "127.0.0.1"], ["::", "::1"]]
  ) {
    await using server = serveTcp(
      { hostname, port: 0 },
      (conn) => conn.write(new TextEncoder().encode("here")),
    );
    const asked: string[] = [];
    using conn = await connectTcp({
      hostname: server.addr.hostname,
      port: server.addr.port,
      timeout: 5_000,
      resolve: (name) => {
        asked.push(name);
        return Promise.resolve([name]);
      },
    });
    assertEquals(asked, [loopback]);
    assertEquals(await new Response(conn.readable).text(), "here");
  }
});

Deno.test("serveTcp() and connectTcp() reject an unknown option name, naming the closest", async () => {
  const serveError = assertThrows(
    () =>
      serveTcp(
        { port: 0, idleTimout: 1000 } as ServeTcpOptions,
        hello,
      ),
    TypeError,
  );
  assertStringIncludes(
    serveError.message,
    "options.idleTimout is not an option; did you mean options.idleTimeout?",
  );
  const reuseError = assertThrows(
    () => serveTcp({ port: 0, reuseport: true } as ServeTcpOptions, hello),
    TypeError,
  );
  assertStringIncludes(reuseError.message, "did you mean options.reusePort?");
  await assertRejects(
    () => connectTcp({ port: 80, timeOut: 100 } as ConnectTcpOptions),
    TypeError,
    "options.timeOut is not an option; did you mean options.timeout?",
  );
});

Deno.test("serveTcp() with reusePort but without --unstable-net throws NotSupported naming the flag", async () => {
  const module = new URL("../tcp.ts", import.meta.url).href;
  const script = `
    import { serveTcp } from ${JSON.stringify(module)};
    try {
      serveTcp({ hostname: "127.0.0.1", port: 0, reusePort: true }, () => {});
    } catch (error) {
      console.log(error.name + ": " + error.message);
    }
  `;
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "null",
  }).output();
  assertEquals(
    new TextDecoder().decode(stdout).trim(),
    "NotSupported: listen tcp 127.0.0.1:0: options.reusePort: needs Deno's unstable net API; run again with --unstable-net",
  );
});

Deno.test("connectTcp() with attemptDelay: Infinity waits for a failure before the next address", async () => {
  await using server = serveTcp({ hostname: "::1", port: 0 }, hello);
  using _stalled = await unresponsive("127.0.0.1", server.addr.port);
  // The first address hangs, so the second is never tried: the deadline ends the call.
  await assertRejects(
    () =>
      connectTcp({
        hostname: "dual-stack.test",
        port: server.addr.port,
        resolve: fixedResolver("127.0.0.1", "::1"),
        attemptDelay: Infinity,
        timeout: 300,
      }),
    Deno.errors.TimedOut,
  );
  assertEquals(server.connections, 0);
  // A refused first address starts the next one at once.
  await using second = serveTcp({ hostname: "::1", port: 0 }, hello);
  using conn = await connectTcp({
    hostname: "dual-stack.test",
    port: second.addr.port,
    resolve: fixedResolver("127.0.0.1", "::1"),
    attemptDelay: Infinity,
    timeout: 5_000,
  });
  assertEquals(conn.remoteAddr.hostname, "::1");
  assertEquals(await readAll(conn), "Hello World\n");
});

Deno.test("serveTcp() and connectTcp() check a hostname as lookupHost() does", async () => {
  for (
    const [hostname, fix] of [
      ["local host", "remove the spaces and control characters"],
      ["local\0host", "remove the spaces and control characters"],
      ["127.0.0.1:80", "give the host without a port"],
      ["127.0.0.1:8080", "give the host without a port"],
      ["[127.0.0.1]", "brackets only enclose IPv6 addresses"],
      ["[::1", "brackets only enclose IPv6 addresses"],
    ]
  ) {
    const error = assertThrows(
      () => serveTcp({ hostname, port: 0 }, hello),
      RangeError,
    );
    assertStringIncludes(
      error.message,
      `Invalid options.hostname ${JSON.stringify(hostname)}: ${fix}`,
    );
    await assertRejects(
      () => connectTcp({ hostname, port: 80 }),
      RangeError,
      `Invalid options.hostname ${JSON.stringify(hostname)}: ${fix}`,
    );
  }
});

Deno.test("serveTcp() and connectTcp() take an address spread into their options, and refuse another transport", async () => {
  await using server = serveTcp(
    { transport: "tcp", hostname: "127.0.0.1", port: 0 },
    (conn) => conn.write(new TextEncoder().encode("spread")),
  );
  using conn = await connectTcp(server.addr);
  assertEquals(await new Response(conn.readable).text(), "spread");
  assertThrows(
    () =>
      serveTcp({ transport: "udp", hostname: "127.0.0.1", port: 0 }, () => {}),
    TypeError,
    'options.transport must be "tcp"',
  );
  await assertRejects(
    () => connectTcp({ ...server.addr, transport: "udp" }),
    TypeError,
    'options.transport must be "tcp"',
  );
});

Deno.test("serveTcp() passes on what onListen throws, not an error from closing twice", () => {
  const mine = new Error("onListen failed");
  let port = 0;
  const error = assertThrows(() =>
    serveTcp({
      hostname: "127.0.0.1",
      port: 0,
      onListen(addr) {
        port = (addr as Deno.NetAddr).port;
        throw mine;
      },
    }, hello)
  );
  assertEquals(error, mine);
  // The listener is closed: the port can be bound again.
  Deno.listen({ hostname: "127.0.0.1", port }).close();
});

Deno.test("serveTcp() refuses a backlog listen(2) cannot take, instead of wrapping it to 0", () => {
  for (const backlog of [2 ** 31, 2 ** 32, 2 ** 32 + 5, 0, -1, 1.5]) {
    assertThrows(
      () => serveTcp({ hostname: "127.0.0.1", port: 0, backlog }, hello),
      RangeError,
      `options.backlog must be a positive integer, at most 2147483647 (listen(2) takes an int), got ${backlog}; Linux caps it at net.core.somaxconn`,
    );
  }
});

Deno.test("connectTcp() refuses timeout: 0, saying to leave it out for no limit", async () => {
  await using server = serveTcp({ hostname: "127.0.0.1", port: 0 }, hello);
  await assertRejects(
    () => connectTcp({ ...server.addr, timeout: 0 }),
    RangeError,
    "options.timeout must be more than 0 ms, got 0, which would fail at once; leave it out (or pass Infinity) for no limit",
  );
  using conn = await connectTcp({ ...server.addr, timeout: Infinity });
  assertStringIncludes(await readLine(conn), "Hello World");
});
