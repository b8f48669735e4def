import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import {
  connectUdp,
  listenUdp,
  MAX_UDP_PAYLOAD_IPV4,
  requestUdp,
  type RequestUdpOptions,
  serveUdp,
} from "../udp.ts";
import { isMissing, waitFor, within } from "./_helpers.ts";
import { bytes, echoServer, silentPeer, text } from "./_udp.ts";

Deno.test("requestUdp() retries when the server drops the first requests", async () => {
  let requests = 0;
  await using server = serveUdp(
    { hostname: "127.0.0.1", port: 0 },
    (data) => ++requests <= 2 ? undefined : data,
  );
  const reply = await requestUdp(bytes("again?"), server.addr, {
    attemptTimeout: 50,
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
        attemptTimeout: 20,
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
      attemptTimeout: 20,
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
    attemptTimeout: 50,
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
    attemptTimeout: 200,
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
    () => requestUdp(bytes("x"), to, { attemptTimeout: 0 }),
    RangeError,
    "options.attemptTimeout",
  );
  await assertRejects(
    () => requestUdp(bytes("x"), to, { timeout: -1 }),
    RangeError,
    "options.timeout",
  );
  await assertRejects(
    () => requestUdp(bytes("x"), to, { timout: 100 } as RequestUdpOptions),
    TypeError,
    "did you mean options.timeout?",
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

const hasPython = !(await isMissing("python3"));

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
        attemptTimeout: 1_000,
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

Deno.test("requestUdp() timeout bounds every attempt together and lists the attempts made", async () => {
  await using peer = silentPeer();
  // Waits of 100 ms then 200 ms: the 250 ms deadline falls in the second.
  const error = await assertRejects(
    () =>
      requestUdp(bytes("anyone?"), peer.addr, {
        attemptTimeout: 100,
        timeout: 250,
      }),
    Deno.errors.TimedOut,
  );
  assertStringIncludes(error.message, "after 2 attempts");
  assertStringIncludes(error.message, "attempt 1: no answer in 100 ms");
  assertStringIncludes(
    error.message,
    "attempt 2: no answer before the timeout",
  );
  assertEquals(error.message.includes("attempt 3"), false);
  assertEquals(peer.received, 2);
});

Deno.test("requestUdp() to a server listening on 0.0.0.0 reaches it through loopback", async () => {
  await using server = serveUdp({ port: 0 }, (data) => data);
  assertEquals(server.addr.hostname, "0.0.0.0");
  const reply = await requestUdp(bytes("wildcard"), server.addr, {
    attemptTimeout: 200,
    retries: 2,
  });
  assertEquals(text(reply), "wildcard");
});

Deno.test("requestUdp() uses defaultPort for an unknown service name", async () => {
  await using server = echoServer();
  const reply = await requestUdp(
    bytes("by name"),
    { hostname: "127.0.0.1", port: "no-such-udp-service" },
    { defaultPort: server.addr.port, attemptTimeout: 500 },
  );
  assertEquals(text(reply), "by name");
});
