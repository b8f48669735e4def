import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  listenUdp,
  type ListenUdpOptions,
  MAX_UDP_PAYLOAD_IPV4,
  MAX_UDP_PAYLOAD_IPV6,
  type UdpSocket,
} from "../udp.ts";
import { tempDir, within } from "./_helpers.ts";
import { bytes, text } from "./_udp.ts";

const decoder = new TextDecoder();

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

Deno.test("UdpSocket.send() to a wildcard address goes to this host's loopback, and counts bytes", async () => {
  // Only 127.0.0.1 may be sent to: a send to 0.0.0.0 itself would be denied.
  const { stdout, stderr } = await runScript(
    `import { listenUdp } from "${udpModule}";
using receiver = listenUdp({ port: 0 });
using sender = listenUdp({ hostname: "127.0.0.1", port: 0 });
const sent = await sender.send(new TextEncoder().encode("hello"), receiver.addr);
const { data, from } = await receiver.receive();
console.log(receiver.addr.hostname, sent, new TextDecoder().decode(data), from.port === sender.addr.port);`,
    ["--unstable-net", "--allow-net=127.0.0.1,0.0.0.0:0"],
  );
  assertEquals(stderr, "");
  assertEquals(stdout, "0.0.0.0 5 hello true\n");
});

Deno.test("listenUdp() takes defaultPort and rejects unknown options", () => {
  using socket = listenUdp({
    hostname: "127.0.0.1",
    port: "no-such-udp-service",
    defaultPort: 0,
  });
  assert(socket.addr.port > 0);
  assertThrows(
    () => listenUdp({ hostname: "127.0.0.1", prot: 0 } as ListenUdpOptions),
    TypeError,
    "did you mean options.port?",
  );
});

Deno.test("UdpSocket closes with await using after its receives settle", async () => {
  let socket: UdpSocket;
  let receiving: Promise<unknown>;
  {
    await using bound = listenUdp({ hostname: "127.0.0.1", port: 0 });
    socket = bound;
    receiving = bound.receive().catch((error) => error);
  }
  assertEquals(socket.closed, true);
  assert((await receiving) instanceof Deno.errors.BadResource);
});
