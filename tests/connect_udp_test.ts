import { assertEquals, assertRejects } from "@std/assert";
import {
  type ConnectedUdpSocket,
  connectUdp,
  type ConnectUdpOptions,
  listenUdp,
  requestUdp,
  serveUdp,
} from "../udp.ts";
import { within } from "./_helpers.ts";
import { bytes, echoServer, text } from "./_udp.ts";

for (const hostname of ["127.0.0.1", "::1"]) {
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

Deno.test("connectUdp() to a wildcard address talks to this host's loopback", async () => {
  await using server = serveUdp({ port: 0 }, (data) => data);
  await using client = await connectUdp(server.addr);
  assertEquals(client.remoteAddr.hostname, "127.0.0.1");
  assertEquals(client.addr.hostname, "127.0.0.1");
  assertEquals(await client.send(bytes("any")), 3);
  assertEquals(text(await within(client.receive(), "echo")), "any");
});

Deno.test("connectUdp() passes its signal to the name lookup", async () => {
  await using server = echoServer();
  const controller = new AbortController();
  const connecting = connectUdp({
    hostname: "localhost",
    port: server.addr.port,
    signal: controller.signal,
  });
  controller.abort(new Error("changed my mind"));
  await assertRejects(() => connecting, Error, "changed my mind");
});

Deno.test("connectUdp() takes defaultPort and timeout, and rejects unknown options", async () => {
  await using server = echoServer();
  await using client = await connectUdp({
    hostname: "127.0.0.1",
    port: "no-such-udp-service",
    defaultPort: server.addr.port,
    timeout: 5_000,
  });
  assertEquals(client.remoteAddr.port, server.addr.port);
  await assertRejects(
    () =>
      connectUdp({ port: server.addr.port, timout: 5 } as ConnectUdpOptions),
    TypeError,
    "did you mean options.timeout?",
  );
  await assertRejects(
    () => connectUdp({ port: server.addr.port, timeout: -1 }),
    RangeError,
    "options.timeout",
  );
});

Deno.test("ConnectedUdpSocket closes with using and with await using", async () => {
  await using server = echoServer();
  let sync: ConnectedUdpSocket;
  {
    using client = await connectUdp(server.addr);
    sync = client;
    assertEquals(client.closed, false);
  }
  assertEquals(sync.closed, true);
  let async: ConnectedUdpSocket;
  {
    await using client = await connectUdp(server.addr);
    async = client;
  }
  assertEquals(async.closed, true);
  await assertRejects(() => async.receive(), Deno.errors.BadResource);
});

Deno.test("serveUdp() and connectUdp() take an address spread into their options, and refuse another transport", async () => {
  await using server = serveUdp(
    { transport: "udp", hostname: "127.0.0.1", port: 0 },
    (data) => data,
  );
  await using client = await connectUdp(server.addr);
  await client.send(bytes("spread"));
  assertEquals(text(await within(client.receive(), "the echo")), "spread");
  await assertRejects(
    () => connectUdp({ ...server.addr, transport: "tcp" }),
    TypeError,
    'options.transport must be "udp"',
  );
});

Deno.test("connectUdp() under a flood from another sender returns only its peer's datagrams, in order", async () => {
  using peer = listenUdp({ hostname: "127.0.0.1", port: 0 });
  using flooder = listenUdp({ hostname: "127.0.0.1", port: 0 });
  const client = await connectUdp(peer.addr);
  const count = 100;
  let flooding = true;
  const flood = (async () => {
    for (let i = 0; i < 100_000 && flooding; i++) {
      await flooder.send(bytes("flood"), client.addr);
    }
  })();
  for (let i = 0; i < count; i++) {
    await peer.send(bytes(`peer ${i}`), client.addr);
  }
  await peer.send(bytes("end"), client.addr);
  // The flood may cost some of the peer's datagrams (see tests/RELIABILITY.md); never a flood datagram.
  const got: number[] = [];
  const quiet = setTimeout(() => client.close(), 2_000);
  try {
    for await (const data of client) {
      const message = text(data);
      if (message === "end") break;
      assertEquals(message.startsWith("peer "), true, message);
      got.push(Number(message.slice(5)));
    }
  } finally {
    clearTimeout(quiet);
    flooding = false;
    await flood;
    client.close();
  }
  assertEquals(got, [...got].sort((a, b) => a - b));
  assertEquals(got.length <= count, true);
  assertEquals(client.dropped > 0, true, "the flood was read and dropped");
});

Deno.test("connectUdp() and requestUdp() refuse timeout: 0, which would fail at once", async () => {
  await assertRejects(
    () => connectUdp({ hostname: "127.0.0.1", port: 9, timeout: 0 }),
    RangeError,
    "options.timeout must be more than 0 ms",
  );
  await assertRejects(
    () =>
      requestUdp(bytes("ping"), { hostname: "127.0.0.1", port: 9 }, {
        timeout: 0,
      }),
    RangeError,
    "options.timeout must be more than 0 ms",
  );
});
