import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  type ConnectedUdpSocket,
  connectUdp,
  listenUdp,
  MAX_UDP_PAYLOAD_IPV4,
  MAX_UDP_PAYLOAD_IPV6,
  requestUdp,
  serveUdp,
  type ServeUdpOptions,
  type UdpHandler,
  type UdpServer,
  type UdpSocket,
} from "../udp.ts";
import { isMissing, tempDir, waitFor, within } from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const text = (data: Uint8Array) => decoder.decode(data);
const bytes = (value: string) => encoder.encode(value);

/** An echo server on loopback, for `await using`. */
function echoServer(hostname = "127.0.0.1"): UdpServer {
  return serveUdp({ hostname, port: 0 }, (data) => data);
}

/** An echo server whose handler answers once released, and a client of it. */
interface HeldEcho extends AsyncDisposable {
  server: UdpServer;
  client: ConnectedUdpSocket;
  /** Resolves when the handler has been entered. */
  entered: Promise<void>;
  /** Lets every handler answer. */
  release(): void;
}

/**
 * An echo server on loopback whose handler answers only once released, and
 * a client connected to it; disposing closes the client, releases the
 * handler and shuts the server down.
 */
async function heldEcho(
  options: Omit<ServeUdpOptions, "hostname" | "port"> = {},
): Promise<HeldEcho> {
  const entered = Promise.withResolvers<void>();
  const released = Promise.withResolvers<void>();
  const server = serveUdp(
    { ...options, hostname: "127.0.0.1", port: 0 },
    async (data) => {
      entered.resolve();
      await released.promise;
      return data;
    },
  );
  const client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  return {
    server,
    client,
    entered: entered.promise,
    release: () => released.resolve(),
    async [Symbol.asyncDispose]() {
      client.close();
      released.resolve();
      await server.shutdown();
    },
  };
}

/** A socket that receives and counts datagrams but never answers: a server that has gone silent. */
function silentPeer(hostname = "127.0.0.1"): UdpSocket & { received: number } {
  const socket = listenUdp({ hostname, port: 0 }) as UdpSocket & {
    received: number;
  };
  socket.received = 0;
  (async () => {
    for await (const _ of socket) socket.received++;
  })();
  return socket;
}

for (const hostname of ["127.0.0.1", "::1"]) {
  Deno.test(`listenUdp() sends and receives datagrams over ${hostname}`, async () => {
    using a = listenUdp({ hostname, port: 0 });
    using b = listenUdp({ hostname, port: 0 });
    assert(a.addr.port > 0);
    assertEquals(a.addr.hostname, hostname);
    await a.send(bytes("one"), b.addr);
    await a.send(bytes("two"), { hostname, port: String(b.addr.port) });
    const first = await within(b.receive(), "first datagram");
    const second = await within(b.receive(), "second datagram");
    assertEquals(
      [text(first.data), text(second.data)].sort(),
      ["one", "two"],
    );
    assertEquals(first.from.port, a.addr.port);
    assertEquals(first.from.hostname, hostname);
  });

  Deno.test(`serveUdp() and requestUdp() round trip over ${hostname}`, async () => {
    await using server = echoServer(hostname);
    const reply = await requestUdp(bytes("ping"), server.addr, {
      timeout: 1_000,
    });
    assertEquals(text(reply), "ping");
  });

  Deno.test(`connectUdp() round trips over ${hostname}`, async () => {
    await using server = echoServer(hostname);
    await using client = await connectUdp({
      hostname: hostname === "::1" ? "[::1]" : hostname,
      port: server.addr.port,
    });
    assertEquals(client.addr.hostname, hostname);
    assertEquals(client.remoteAddr.port, server.addr.port);
    await client.send(bytes("hello"));
    assertEquals(text(await within(client.receive(), "echo")), "hello");
  });
}

Deno.test("listenUdp() keeps datagram boundaries and never truncates the largest datagrams", async () => {
  for (
    const [hostname, size] of [
      ["127.0.0.1", MAX_UDP_PAYLOAD_IPV4],
      ["::1", MAX_UDP_PAYLOAD_IPV6],
    ] as const
  ) {
    using a = listenUdp({ hostname, port: 0 });
    using b = listenUdp({ hostname, port: 0 });
    const big = new Uint8Array(size).map((_, i) => i % 251);
    await a.send(big, b.addr);
    await a.send(new Uint8Array([1]), b.addr);
    await a.send(new Uint8Array(0), b.addr);
    const sizes = [];
    for (let i = 0; i < 3; i++) {
      const { data } = await within(b.receive(), `datagram ${i}`);
      sizes.push(data.length);
      if (data.length === size) assertEquals(data, big);
    }
    assertEquals(sizes.sort((x, y) => x - y), [0, 1, size]);
  }
});

Deno.test("UdpSocket.receive() returns copies that the next receive does not overwrite", async () => {
  using a = listenUdp({ hostname: "127.0.0.1", port: 0 });
  using b = listenUdp({ hostname: "127.0.0.1", port: 0 });
  await a.send(bytes("first"), b.addr);
  const first = await within(b.receive(), "first");
  await a.send(bytes("SECOND"), b.addr);
  await within(b.receive(), "second");
  assertEquals(text(first.data), "first");
  assertEquals(first.data.buffer.byteLength, 5);
});

Deno.test("UdpSocket.close() rejects waiting receives and ends iteration", async () => {
  const socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
  const waiting = socket.receive();
  const iterated: Uint8Array[] = [];
  const iteration = (async () => {
    for await (const { data } of socket) iterated.push(data);
  })();
  socket.close();
  const error = await assertRejects(() => waiting, Deno.errors.BadResource);
  assertStringIncludes(error.message, "the socket is closed");
  await iteration;
  assertEquals(iterated, []);
  await assertRejects(() => socket.receive(), Deno.errors.BadResource);
  await assertRejects(
    () => socket.send(bytes("x"), { hostname: "127.0.0.1", port: 9 }),
    Deno.errors.BadResource,
  );
  socket.close();
});

Deno.test("UdpSocket disposes asynchronously after its receives settle", async () => {
  let waiting: Promise<unknown>;
  {
    await using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
    waiting = socket.receive().catch((error) => error);
  }
  assertInstanceOf(await waiting, Deno.errors.BadResource);
});

Deno.test("connectUdp() drops datagrams from other peers and counts them", async () => {
  using server = listenUdp({ hostname: "127.0.0.1", port: 0 });
  using stranger = listenUdp({ hostname: "127.0.0.1", port: 0 });
  using client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await stranger.send(bytes("spoofed 1"), client.addr);
  await stranger.send(bytes("spoofed 2"), client.addr);
  // Loopback keeps one sender's order, and these come after the stranger's.
  await server.send(bytes("genuine"), client.addr);
  assertEquals(text(await within(client.receive(), "genuine")), "genuine");
  assertEquals(client.dropped, 2);
});

Deno.test("connectUdp() resolves a host name once and binds the peer's family", async () => {
  await using server = echoServer();
  await using client = await connectUdp({
    hostname: "localhost",
    port: String(server.addr.port),
  });
  assertEquals(client.remoteAddr.hostname, "127.0.0.1");
  assertEquals(client.addr.hostname, "127.0.0.1");
  await client.send(bytes("by name"));
  assertEquals(text(await within(client.receive(), "echo")), "by name");
});

Deno.test("connectUdp() iteration ends when the socket closes", async () => {
  using server = listenUdp({ hostname: "127.0.0.1", port: 0 });
  const client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await server.send(bytes("a"), client.addr);
  const seen: string[] = [];
  for await (const data of client) {
    seen.push(text(data));
    client.close();
  }
  assertEquals(seen, ["a"]);
});

Deno.test("requestUdp() retries when the server drops the first requests", async () => {
  let requests = 0;
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0 },
    (data) => ++requests <= 2 ? undefined : data,
  );
  const reply = await requestUdp(bytes("again?"), server.addr, {
    timeout: 50,
    retries: 5,
  });
  assertEquals(text(reply), "again?");
  assertEquals(requests, 3);
});

Deno.test("requestUdp() lists every attempt after the last one", async () => {
  await using peer = silentPeer();
  const error = await assertRejects(
    () =>
      requestUdp(bytes("anyone?"), peer.addr, {
        timeout: 20,
        retries: 2,
        backoff: 2,
      }),
    Deno.errors.TimedOut,
  );
  assertStringIncludes(error.message, "no answer after 3 attempts");
  assertStringIncludes(error.message, "attempt 1: no answer in 20 ms");
  assertStringIncludes(error.message, "attempt 2: no answer in 40 ms");
  assertStringIncludes(error.message, "attempt 3: no answer in 80 ms");
  assertStringIncludes(error.message, `127.0.0.1:${peer.addr.port}`);
  assertEquals(peer.received, 3);
});

Deno.test("requestUdp() stops at the overall deadline with attempts left", async () => {
  await using peer = silentPeer();
  const error = await assertRejects(() =>
    requestUdp(bytes("anyone?"), peer.addr, {
      timeout: 20,
      retries: 1_000,
      backoff: 1,
      signal: AbortSignal.timeout(150),
    })
  );
  assertInstanceOf(error, DOMException);
  assertEquals(error.name, "TimeoutError");
  assert(peer.received >= 1 && peer.received < 1_000);
});

Deno.test("requestUdp() skips answers that accept() refuses", async () => {
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0 },
    async (data, from) => {
      // A stale answer first, then the real one.
      using side = listenUdp({ hostname: "127.0.0.1", port: 0 });
      await side.send(bytes("from elsewhere"), from);
      return data[0] === 1 ? new Uint8Array([0]) : data;
    },
  );
  let judged = 0;
  const reply = await requestUdp(new Uint8Array([1]), server.addr, {
    timeout: 50,
    retries: 3,
    accept: (data) => {
      judged++;
      return data[0] === 2;
    },
  }).catch((error) => error);
  // Every answer is [0]: refused, so the request times out after its attempts.
  assertInstanceOf(reply, Deno.errors.TimedOut);
  assert(judged >= 1);
  const accepted = await requestUdp(new Uint8Array([2]), server.addr, {
    timeout: 200,
    accept: (data) => data[0] === 2,
  });
  assertEquals(accepted, new Uint8Array([2]));
});

Deno.test("requestUdp() with an aborted signal sends nothing", async () => {
  await using peer = silentPeer();
  const controller = new AbortController();
  controller.abort(new Error("not now"));
  await assertRejects(
    () => requestUdp(bytes("x"), peer.addr, { signal: controller.signal }),
    Error,
    "not now",
  );
  assertEquals(peer.received, 0);
});

Deno.test("serveUdp() reports handler failures to onError and keeps serving", async () => {
  const errors: [unknown, number | undefined][] = [];
  await using server = serveUdp(
    {
      hostname: "127.0.0.1",
      port: 0,
      onError: (error, from) => errors.push([error, from?.port]),
    },
    (data) => {
      if (text(data) === "fail") throw new Error("handler failed");
      if (text(data) === "bad reply") {
        return "not bytes" as unknown as Uint8Array;
      }
      return data;
    },
  );
  using client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await client.send(bytes("fail"));
  await client.send(bytes("bad reply"));
  await client.send(bytes("still here"));
  assertEquals(text(await within(client.receive(), "echo")), "still here");
  assertEquals(errors.length, 2);
  const messages = errors.map(([error, port]) => {
    assertEquals(port, client.addr.port);
    return (error as Error).message;
  }).sort();
  assertEquals(messages[0], "handler failed");
  assertStringIncludes(messages[1], "reply must be a Uint8Array");
});

Deno.test("serveUdp() reports oversized replies instead of sending them", async () => {
  const errors: unknown[] = [];
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0, onError: (error) => errors.push(error) },
    (data) =>
      text(data) === "big" ? new Uint8Array(MAX_UDP_PAYLOAD_IPV4 + 1) : data,
  );
  using client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  await client.send(bytes("big"));
  await client.send(bytes("small"));
  assertEquals(text(await within(client.receive(), "echo")), "small");
  assertEquals(errors.length, 1);
  assertInstanceOf(errors[0], RangeError);
});

Deno.test("serveUdp() runs at most maxConcurrency handlers at once", async () => {
  let running = 0;
  let peak = 0;
  const release = Promise.withResolvers<void>();
  let started = 0;
  const allStarted = Promise.withResolvers<void>();
  const handler: UdpHandler = async (data) => {
    running++;
    peak = Math.max(peak, running);
    if (++started === 2) allStarted.resolve();
    await release.promise;
    running--;
    return data;
  };
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0, maxConcurrency: 2 },
    handler,
  );
  assertEquals(server.busy, 0);
  using client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  for (let i = 0; i < 5; i++) await client.send(new Uint8Array([i]));
  await within(allStarted.promise, "two handlers");
  assertEquals(server.busy, 2);
  release.resolve();
  const replies = [];
  for (let i = 0; i < 5; i++) {
    replies.push((await within(client.receive(), `reply ${i}`))[0]);
  }
  assertEquals(replies.sort(), [0, 1, 2, 3, 4]);
  assertEquals(peak, 2);
});

Deno.test("serveUdp() keeps receiving while every earlier handler waits", async () => {
  const count = 16;
  const release = Promise.withResolvers<void>();
  const allStarted = Promise.withResolvers<void>();
  let started = 0;
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0 },
    async (data) => {
      if (++started === count) allStarted.resolve();
      await release.promise;
      return data;
    },
  );
  using client = await connectUdp({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  for (let i = 0; i < count; i++) await client.send(new Uint8Array([i]));
  await within(allStarted.promise, `${count} handlers`);
  assertEquals(server.busy, count);
  release.resolve();
  const replies = [];
  for (let i = 0; i < count; i++) {
    replies.push((await within(client.receive(), `reply ${i}`))[0]);
  }
  assertEquals(
    replies.sort((a, b) => a - b),
    Array.from({ length: count }, (_, i) => i),
  );
});

Deno.test("serveUdp() shutdown lets running handlers reply, then stops", async () => {
  await using held = await heldEcho();
  const { server, client } = held;
  await client.send(bytes("last"));
  await within(held.entered, "handler");
  const stopped = server.shutdown();
  assertEquals(server.shutdown(), stopped);
  held.release();
  assertEquals(text(await within(client.receive(), "reply")), "last");
  await stopped;
  await server.finished;
});

Deno.test("serveUdp() closes the socket after shutdownTimeout", async () => {
  const errors: unknown[] = [];
  await using held = await heldEcho({
    shutdownTimeout: 10,
    onError: (error) => errors.push(error),
  });
  const { server, client } = held;
  await client.send(bytes("too late"));
  await within(held.entered, "handler");
  const stopped = server.shutdown();
  // At the timeout the socket closes, though the handler still runs: its
  // port can be bound again.
  const { port } = server.addr;
  await waitFor(() => {
    try {
      listenUdp({ hostname: "127.0.0.1", port }).close();
      return true;
    } catch {
      return false;
    }
  }, "the socket to close at shutdownTimeout");
  assertEquals(server.busy, 1);
  // The late reply is dropped, without an error.
  held.release();
  await within(stopped, "shutdown");
  assertEquals(errors, []);
});

Deno.test("serveUdp() stops when its signal aborts", async () => {
  const controller = new AbortController();
  const listening: Deno.NetAddr[] = [];
  const server = serveUdp({
    hostname: "127.0.0.1",
    port: 0,
    signal: controller.signal,
    onListen: (addr) => listening.push(addr),
  }, (data) => data);
  assertEquals(listening, [server.addr]);
  controller.abort();
  await server.finished;
  // The port is free again.
  using again = listenUdp({ hostname: "127.0.0.1", port: server.addr.port });
  assertEquals(again.addr.port, server.addr.port);
});

Deno.test("serveUdp() with an already aborted signal finishes without calling onListen", async () => {
  const listened: Deno.NetAddr[] = [];
  const server = serveUdp({
    hostname: "127.0.0.1",
    port: 0,
    signal: AbortSignal.abort(),
    onListen: (addr) => listened.push(addr),
  }, () => {});
  await within(server.finished, "the server to finish");
  assertEquals(listened, [], "onListen was called after the abort");
  // The socket is closed: its port can be bound again.
  using again = listenUdp({ hostname: "127.0.0.1", port: server.addr.port });
  assertEquals(again.addr.port, server.addr.port);
});

Deno.test("serveUdp() closes the socket when onListen throws", () => {
  let port = 0;
  assertThrows(
    () =>
      serveUdp({
        hostname: "127.0.0.1",
        port: 0,
        onListen: (addr) => {
          port = addr.port;
          throw new Error("no");
        },
      }, () => {}),
    Error,
    "no",
  );
  using again = listenUdp({ hostname: "127.0.0.1", port });
  assertEquals(again.addr.port, port);
});

Deno.test("listenUdp() rejects bad options before binding", () => {
  assertThrows(() => listenUdp({ port: 70_000 }), RangeError, "70000");
  assertThrows(() => listenUdp({ port: -1 }), RangeError);
  assertThrows(() => listenUdp({ port: "no-such-service" }), RangeError);
  assertThrows(() => listenUdp({ port: 1.5 }), RangeError);
  assertThrows(
    () => listenUdp({ port: true as unknown as number }),
    TypeError,
  );
  assertThrows(() => listenUdp({ hostname: "" }), RangeError, "hostname");
  assertThrows(
    () => listenUdp({ hostname: 127 as unknown as string }),
    TypeError,
    "hostname",
  );
  assertThrows(
    () => listenUdp({ reuseAddress: "yes" as unknown as boolean }),
    TypeError,
    "reuseAddress",
  );
  assertThrows(
    () => listenUdp("127.0.0.1" as unknown as Record<string, never>),
    TypeError,
  );
});

Deno.test("listenUdp() says when the port is in use", () => {
  using first = listenUdp({ hostname: "127.0.0.1", port: 0 });
  const error = assertThrows(
    () => listenUdp({ hostname: "127.0.0.1", port: first.addr.port }),
    Deno.errors.AddrInUse,
  );
  assertStringIncludes(
    error.message,
    `listen udp 127.0.0.1:${first.addr.port}: port ${first.addr.port} is already in use`,
  );
});

Deno.test("listenUdp() with reuseAddress shares a port", () => {
  using first = listenUdp({
    hostname: "127.0.0.1",
    port: 0,
    reuseAddress: true,
  });
  using second = listenUdp({
    hostname: "127.0.0.1",
    port: first.addr.port,
    reuseAddress: true,
  });
  assertEquals(second.addr.port, first.addr.port);
});

Deno.test("UdpSocket.send() rejects bad payloads and addresses before sending anything", async () => {
  using sender = listenUdp({ hostname: "127.0.0.1", port: 0 });
  using receiver = listenUdp({ hostname: "127.0.0.1", port: 0 });
  const to = receiver.addr;
  await assertRejects(
    () => sender.send("text" as unknown as Uint8Array, to),
    TypeError,
    "data must be a Uint8Array",
  );
  await assertRejects(
    () => sender.send(new ArrayBuffer(4) as unknown as Uint8Array, to),
    TypeError,
  );
  await assertRejects(
    () => sender.send(new Uint8Array(MAX_UDP_PAYLOAD_IPV4 + 1), to),
    RangeError,
    "65508 bytes, more than the 65507 bytes",
  );
  await assertRejects(
    () => sender.send(bytes("x"), { hostname: "127.0.0.1", port: 0 }),
    RangeError,
    "to.port",
  );
  await assertRejects(
    () => sender.send(bytes("x"), { hostname: "127.0.0.1", port: 65_536 }),
    RangeError,
  );
  await assertRejects(
    () => sender.send(bytes("x"), { hostname: "", port: to.port }),
    RangeError,
    "to.hostname",
  );
  await assertRejects(
    () => sender.send(bytes("x"), { hostname: "::1", port: to.port }),
    RangeError,
    "IPv6 address, but the socket is IPv4",
  );
  await assertRejects(
    () => sender.send(bytes("x"), null as unknown as Deno.NetAddr),
    TypeError,
    "to must be an address",
  );
  // Nothing got through: the first datagram to arrive is this one.
  await sender.send(bytes("sentinel"), to);
  assertEquals(
    text((await within(receiver.receive(), "sentinel")).data),
    "sentinel",
  );
});

Deno.test("UdpSocket.send() over IPv6 allows up to 65527 bytes", async () => {
  using sender = listenUdp({ hostname: "::1", port: 0 });
  await assertRejects(
    () => sender.send(new Uint8Array(MAX_UDP_PAYLOAD_IPV6 + 1), sender.addr),
    RangeError,
    "65527 bytes a UDP datagram carries over IPv6",
  );
  await assertRejects(
    () => sender.send(bytes("x"), { hostname: "127.0.0.1", port: 9 }),
    RangeError,
    'bind the socket to "0.0.0.0"',
  );
});

Deno.test("connectUdp() and requestUdp() reject bad input before sending anything", async () => {
  await using peer = silentPeer();
  const to = peer.addr;
  await assertRejects(
    () => connectUdp(undefined as unknown as { port: number }),
    TypeError,
  );
  await assertRejects(() => connectUdp({ port: 0 }), RangeError);
  await assertRejects(
    () => connectUdp({ hostname: "127.0.0.1:53", port: 53 }),
    RangeError,
    "without a port",
  );
  await assertRejects(
    () =>
      connectUdp({
        hostname: "127.0.0.1",
        port: to.port,
        localHostname: "::1",
      }),
    RangeError,
  );
  await using client = await connectUdp({
    hostname: "127.0.0.1",
    port: to.port,
  });
  await assertRejects(
    () => client.send([1, 2] as unknown as Uint8Array),
    TypeError,
  );
  await assertRejects(
    () => client.send(new Uint8Array(MAX_UDP_PAYLOAD_IPV4 + 1)),
    RangeError,
  );
  await assertRejects(
    () => requestUdp("x" as unknown as Uint8Array, to),
    TypeError,
  );
  await assertRejects(
    () => requestUdp(new Uint8Array(MAX_UDP_PAYLOAD_IPV4 + 1), to),
    RangeError,
  );
  await assertRejects(
    () => requestUdp(bytes("x"), { hostname: "127.0.0.1", port: 0 }),
    RangeError,
  );
  await assertRejects(
    () => requestUdp(bytes("x"), to, { timeout: 0 }),
    RangeError,
    "options.timeout",
  );
  await assertRejects(
    () => requestUdp(bytes("x"), to, { retries: -1 }),
    RangeError,
    "options.retries",
  );
  await assertRejects(
    () => requestUdp(bytes("x"), to, { retries: "3" as unknown as number }),
    TypeError,
    "options.retries",
  );
  await assertRejects(
    () => requestUdp(bytes("x"), to, { backoff: 0.5 }),
    RangeError,
    "options.backoff",
  );
  await assertRejects(
    () =>
      requestUdp(bytes("x"), to, { signal: "soon" as unknown as AbortSignal }),
    TypeError,
    "options.signal",
  );
  await assertRejects(
    () =>
      requestUdp(bytes("x"), to, { accept: true as unknown as () => boolean }),
    TypeError,
    "options.accept",
  );
  await client.send(bytes("sentinel"));
  await waitFor(() => peer.received > 0, "the sentinel datagram");
  assertEquals(peer.received, 1);
});

Deno.test("serveUdp() rejects bad options before binding", () => {
  const options = { hostname: "127.0.0.1", port: 0 };
  assertThrows(
    () => serveUdp(options, "echo" as unknown as UdpHandler),
    TypeError,
    "handler",
  );
  assertThrows(
    () => serveUdp({ ...options, maxConcurrency: 0 }, () => {}),
    RangeError,
    "maxConcurrency",
  );
  assertThrows(
    () => serveUdp({ ...options, shutdownTimeout: -1 }, () => {}),
    RangeError,
    "shutdownTimeout",
  );
  assertThrows(
    () =>
      serveUdp({ ...options, onError: 1 as unknown as () => void }, () => {}),
    TypeError,
    "onError",
  );
  assertThrows(
    () => serveUdp(undefined as unknown as typeof options, () => {}),
    TypeError,
  );
});

Deno.test("UdpSocket.joinMulticast() rejects addresses that are not groups of the socket's family", async () => {
  using socket = listenUdp({ hostname: "127.0.0.1", port: 0 });
  await assertRejects(
    () => socket.joinMulticast("127.0.0.1"),
    RangeError,
    "not an IPv4 multicast address",
  );
  await assertRejects(() => socket.joinMulticast("ff15::1"), RangeError);
  await assertRejects(
    () => socket.joinMulticast(239 as unknown as string),
    TypeError,
  );
  await assertRejects(
    () => socket.joinMulticast("239.255.0.1", { interface: 1 }),
    TypeError,
    "options.interface",
  );
});

Deno.test("UdpSocket.joinMulticast() delivers IPv4 group datagrams on this machine", async () => {
  const group = "239.255.42.99";
  using receiver = listenUdp({ hostname: group, port: 0 });
  const joined = await receiver.joinMulticast(group, {
    interface: "127.0.0.1",
  });
  assertEquals(joined.group, group);
  using sender = listenUdp({ hostname: "127.0.0.1", port: 0, loopback: true });
  // TTL 0 keeps the datagrams on this machine.
  const membership = await sender.joinMulticast(group, {
    interface: "127.0.0.1",
  });
  await membership.setTTL(0);
  await membership.setLoopback(true);
  await assertRejects(() => membership.setTTL(256), RangeError, "ttl");
  await sender.send(bytes("to the group"), {
    hostname: group,
    port: receiver.addr.port,
  });
  const { data, from } = await within(receiver.receive(), "group datagram");
  assertEquals(text(data), "to the group");
  assertEquals(from.port, sender.addr.port);
  await joined.leave();
  await membership.leave();
});

Deno.test("UdpSocket.joinMulticast() delivers IPv6 interface-local group datagrams", async () => {
  // ff01::/16 is interface-local scope (RFC 4291 section 2.7): such
  // datagrams never leave the machine. Deno cannot choose the sending
  // interface, so both sockets use the system's choice (interface 0).
  const group = "ff01::4242";
  using receiver = listenUdp({ hostname: "::", port: 0 });
  let membership;
  try {
    membership = await receiver.joinMulticast(group);
  } catch (error) {
    console.log(
      `IPv6 multicast check skipped: this system refuses to join ${group}: ${error}`,
    );
    return;
  }
  await assertRejects(
    () => membership.setTTL(0),
    Deno.errors.NotSupported,
    "hop limit",
  );
  using sender = listenUdp({ hostname: "::", port: 0, loopback: true });
  await sender.send(bytes("to the v6 group"), {
    hostname: group,
    port: receiver.addr.port,
  });
  const { data } = await within(receiver.receive(), "group datagram");
  assertEquals(text(data), "to the v6 group");
  await membership.leave();
});

// --- Runs under other flags, in a child process. ---

const udpModule = new URL("../udp.ts", import.meta.url).href;

async function runScript(
  source: string,
  flags: string[],
): Promise<{ code: number; stderr: string; stdout: string }> {
  await using dir = await tempDir("udp_test_");
  const script = dir.file("script.ts");
  await Deno.writeTextFile(script, source);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-lock", ...flags, script],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code,
    stdout: decoder.decode(stdout),
    stderr: decoder.decode(stderr),
  };
}

Deno.test("listenUdp() without --unstable-net says to add the flag", async () => {
  const { stdout, stderr } = await runScript(
    `import { listenUdp } from "${udpModule}";
try {
  listenUdp({ hostname: "127.0.0.1", port: 0 });
} catch (error) {
  console.log(error.name + ": " + error.message);
}`,
    ["--allow-net=127.0.0.1"],
  );
  assertEquals(stderr, "");
  assertStringIncludes(stdout, "NotSupported: listen udp 127.0.0.1:0:");
  assertStringIncludes(stdout, "run again with --unstable-net");
});

Deno.test("listenUdp() and send() without net permission name the exact flag", async () => {
  const { stdout, stderr } = await runScript(
    `import { listenUdp } from "${udpModule}";
try {
  listenUdp({ hostname: "127.0.0.1", port: 0 });
} catch (error) {
  console.log(error.name + ": " + error.message);
}
const socket = listenUdp({ hostname: "127.0.0.2", port: 0 });
try {
  await socket.send(new Uint8Array(1), { hostname: "127.0.0.3", port: 5353 });
} catch (error) {
  console.log(error.name + ": " + error.message);
}
socket.close();`,
    ["--unstable-net", "--allow-net=127.0.0.2"],
  );
  assertEquals(stderr, "");
  assertStringIncludes(
    stdout,
    "NotCapable: listen udp 127.0.0.1:0: permission denied; run again with --allow-net=127.0.0.1:0",
  );
  assertStringIncludes(
    stdout,
    "NotCapable: send udp 127.0.0.3:5353: permission denied; run again with --allow-net=127.0.0.3:5353",
  );
});

// --- Interoperability with peers written by others. ---

const PYTHON_ECHO_SERVER = `
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
print(s.getsockname()[1], flush=True)
s.settimeout(10)
data, peer = s.recvfrom(65535)
s.sendto(data[::-1], peer)
`;

const PYTHON_CLIENT = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(10)
s.sendto(sys.argv[2].encode(), ("127.0.0.1", int(sys.argv[1])))
data, peer = s.recvfrom(65535)
print(data.decode(), peer[1] == int(sys.argv[1]))
`;

const hasPython = !(await isMissing("python3"));
const hasSocat = !(await isMissing("socat"));

for (const hostname of ["127.0.0.1", "::1"]) {
  Deno.test({
    name: `requestUdp() talks to a Python socket server over ${hostname}`,
    ignore: !hasPython,
    async fn() {
      const child = new Deno.Command("python3", {
        args: ["-c", PYTHON_ECHO_SERVER, hostname],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const lines = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      const { value } = await within(lines.read(), "python's port");
      const port = Number(value);
      const reply = await requestUdp(bytes("python"), { hostname, port }, {
        timeout: 1_000,
        retries: 2,
      });
      assertEquals(text(reply), "nohtyp");
      const status = await child.status;
      await lines.cancel();
      await child.stderr.cancel();
      assertEquals(status.code, 0);
    },
  });
}

Deno.test({
  name: "serveUdp() answers a Python socket client",
  ignore: !hasPython,
  async fn() {
    await using server = serveUdp(
      { hostname: "127.0.0.1", port: 0 },
      (data) => bytes(text(data).toUpperCase()),
    );
    const { code, stdout, stderr } = await new Deno.Command("python3", {
      args: ["-c", PYTHON_CLIENT, String(server.addr.port), "from python"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(decoder.decode(stderr), "");
    assertEquals(code, 0);
    assertEquals(decoder.decode(stdout), "FROM PYTHON True\n");
  },
});

Deno.test({
  name: "serveUdp() answers socat, one datagram per line",
  ignore: !hasSocat,
  async fn() {
    const received: string[] = [];
    await using server = serveUdp(
      { hostname: "127.0.0.1", port: 0 },
      (data) => {
        received.push(text(data));
        return bytes(`got ${data.length} bytes\n`);
      },
    );
    const child = new Deno.Command("socat", {
      args: ["-t", "0.5", "-", `UDP:127.0.0.1:${server.addr.port}`],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(bytes("hello from socat\n"));
    const reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    const { value } = await within(reader.read(), "socat's output");
    assertEquals(value, "got 17 bytes\n");
    await writer.close();
    await reader.cancel();
    await child.stderr.cancel();
    await child.status;
    assertEquals(received, ["hello from socat\n"]);
  },
});
