import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  connectUdp,
  type DatagramHandler,
  listenUdp,
  MAX_UDP_PAYLOAD_IPV4,
  requestUdp,
  serveUdp,
  type ServeUdpOptions,
} from "../udp.ts";
import { isMissing, waitFor, within } from "./_helpers.ts";
import { bytes, echoServer, heldEcho, text } from "./_udp.ts";

const decoder = new TextDecoder();

for (const hostname of ["127.0.0.1", "::1"]) {
  Deno.test(`serveUdp() and requestUdp() round trip over ${hostname}`, async () => {
    await using server = echoServer(hostname);
    const reply = await requestUdp(bytes("ping"), server.addr, {
      attemptTimeout: 1_000,
    });
    assertEquals(text(reply), "ping");
  });
}

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
  const handler: DatagramHandler<Deno.NetAddr> = async (data) => {
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

Deno.test("serveUdp() rejects bad options before binding", () => {
  const options = { hostname: "127.0.0.1", port: 0 };
  assertThrows(
    () => serveUdp(options, "echo" as unknown as DatagramHandler<Deno.NetAddr>),
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

// --- Interoperability with peers written by others. ---

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

Deno.test("serveUdp() accepts shutdownTimeout: Infinity and waits for the handler", async () => {
  await using held = await heldEcho({ shutdownTimeout: Infinity });
  await held.client.send(bytes("slow"));
  await within(held.entered, "the handler to start");
  const stopped = held.server.shutdown();
  held.release();
  await within(stopped, "the shutdown");
  // The handler was waited for: its reply went out before the socket closed.
  assertEquals(text(await within(held.client.receive(), "the reply")), "slow");
});

Deno.test("serveUdp() takes defaultPort and rejects unknown options", async () => {
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: "no-such-udp-service", defaultPort: 0 },
    (data) => data,
  );
  assert(server.addr.port > 0);
  assertThrows(
    () =>
      serveUdp(
        { port: 0, maxConcurency: 2 } as ServeUdpOptions,
        () => {},
      ),
    TypeError,
    "did you mean options.maxConcurrency?",
  );
  assertThrows(
    () => serveUdp({ port: 0, reuseAdress: true } as ServeUdpOptions, () => {}),
    TypeError,
    "did you mean options.reuseAddress?",
  );
});

Deno.test("serveUdp() gives handlers a context", async () => {
  let signal: AbortSignal | undefined;
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0 },
    (data, _from, context) => {
      signal = context.signal;
      return data;
    },
  );
  await requestUdp(bytes("x"), server.addr, { attemptTimeout: 500 });
  assert(signal instanceof AbortSignal);
});

Deno.test("serveUdp() keeps answering after maxConcurrency handlers never settle, giving them up at handlerTimeout", async () => {
  const errors: [unknown, number | undefined][] = [];
  const reasons: unknown[] = [];
  await using server = serveUdp(
    {
      hostname: "127.0.0.1",
      port: 0,
      maxConcurrency: 16,
      handlerTimeout: 50,
      shutdownTimeout: 0,
      onError: (error, from) => errors.push([error, from?.port]),
    },
    (data, _from, { signal }) => {
      if (text(data) !== "stuck") return data;
      signal.addEventListener("abort", () => reasons.push(signal.reason));
      // Never settles, even when its signal aborts.
      return new Promise<never>(() => {});
    },
  );
  using client = await connectUdp(server.addr);
  for (let i = 0; i < 16; i++) await client.send(bytes("stuck"));
  await waitFor(() => server.timedOut === 16, "16 handlers given up");
  await client.send(bytes("still here"));
  assertEquals(text(await within(client.receive(), "echo")), "still here");
  assertEquals(server.busy, 0);
  assertEquals(errors.length, 16);
  for (const [error, port] of errors) {
    assertInstanceOf(error, Deno.errors.TimedOut);
    assertStringIncludes(error.message, "handlerTimeout (50 ms)");
    assertEquals(port, client.addr.port);
  }
  assertEquals(reasons.length, 16);
  for (const reason of reasons) assertInstanceOf(reason, Deno.errors.TimedOut);
});
