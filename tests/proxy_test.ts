import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import { crc32c } from "../_crc32c.ts";
import { V2_SIGNATURE } from "../_proxy_header.ts";
import {
  formatProxyHeader,
  parseProxyHeader,
  type ProxyHeaderInit,
  readProxyHeader,
} from "../proxy.ts";
import {
  type ConnectionHandler,
  serve,
  type ServeOptions,
  type Server,
} from "../server.ts";
import { spawnHandler } from "../spawn.ts";
import { serveWorkers } from "../workers.ts";
import { startExample } from "./_examples.ts";
import {
  closedPort,
  isMissing,
  readAll,
  tempDir,
  waitFor,
  writeAll,
} from "./_helpers.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const tcp = (hostname: string, port: number): Deno.NetAddr => ({
  transport: "tcp",
  hostname,
  port,
});

/**
 * A reader over `bytes` that returns at most the sizes in `splits` per read
 * (cycling), and records how much each read asked for, so tests can see that
 * nothing past the header was ever requested.
 */
function chunkedReader(bytes: Uint8Array, splits: number[] = [Infinity]) {
  let offset = 0;
  let call = 0;
  return {
    get offset() {
      return offset;
    },
    read(buffer: Uint8Array): Promise<number | null> {
      if (offset >= bytes.length) return Promise.resolve(null);
      const size = Math.min(
        buffer.length,
        bytes.length - offset,
        splits[call++ % splits.length],
      );
      buffer.set(bytes.subarray(offset, offset + size));
      offset += size;
      return Promise.resolve(size);
    },
  };
}

Deno.test("crc32c() gives the known CRC-32C check values", () => {
  // The check value of the CRC catalogue, and RFC 3720 appendix B.4's vectors.
  assertEquals(crc32c(encoder.encode("123456789")), 0xe3069283);
  assertEquals(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assertEquals(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assertEquals(
    crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)),
    0x46dd794e,
  );
  assertEquals(crc32c(new Uint8Array(0)), 0);
});

Deno.test("parseProxyHeader() reads v1 TCP4, TCP6 and UNKNOWN lines", () => {
  const v4 = parseProxyHeader(
    encoder.encode("PROXY TCP4 192.0.2.7 192.0.2.1 56324 443\r\n"),
  );
  assertEquals(v4, {
    version: 1,
    command: "PROXY",
    remoteAddr: tcp("192.0.2.7", 56324),
    localAddr: tcp("192.0.2.1", 443),
    tlvs: [],
    size: 42,
  });
  const v6 = parseProxyHeader(
    encoder.encode("PROXY TCP6 2001:db8::7 2001:db8::1 65535 0\r\n"),
  );
  assertEquals(v6.remoteAddr, tcp("2001:db8::7", 65535));
  assertEquals(v6.localAddr, tcp("2001:db8::1", 0));
  const unknown = parseProxyHeader(
    encoder.encode("PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 65535 65535\r\n"),
  );
  assertEquals(unknown.remoteAddr, undefined);
  assertEquals(unknown.command, "PROXY");
});

Deno.test("parseProxyHeader() refuses malformed v1 lines, naming the fault", () => {
  const bad = [
    "PROXY TCP4 192.0.2.7 192.0.2.1 56324\r\n",
    "PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n",
    "PROXY TCP6 192.0.2.7 192.0.2.1 1 2\r\n",
    "PROXY TCP4 192.0.2.7 192.0.2.1 65536 2\r\n",
    "PROXY TCP4 192.0.2.7 192.0.2.1 01 2\r\n",
    "PROXY UDP4 192.0.2.7 192.0.2.1 1 2\r\n",
    "PROXY TCP4  192.0.2.7 192.0.2.1 1 2\r\n",
    "PROXY TCP4 192.0.2.7 192.0.2.1 1 2\n",
    "proxy TCP4 192.0.2.7 192.0.2.1 1 2\r\n",
    "PROXY TCP4 192.0.2.7\r192.0.2.1 1 2\r\n",
  ];
  for (const line of bad) {
    const error = assertThrows(
      () => parseProxyHeader(encoder.encode(line)),
      Deno.errors.InvalidData,
      undefined,
      JSON.stringify(line),
    );
    assertStringIncludes(error.message, "PROXY header");
  }
});

Deno.test("formatProxyHeader() and parseProxyHeader() round-trip every v2 family", () => {
  const cases: ProxyHeaderInit[] = [
    { remoteAddr: tcp("192.0.2.7", 1), localAddr: tcp("192.0.2.1", 2) },
    { remoteAddr: tcp("2001:db8::7", 3), localAddr: tcp("2001:db8::1", 4) },
    {
      remoteAddr: { transport: "udp", hostname: "192.0.2.7", port: 53 },
      localAddr: { transport: "udp", hostname: "192.0.2.1", port: 5353 },
    },
    {
      remoteAddr: { transport: "udp", hostname: "::1", port: 53 },
      localAddr: { transport: "udp", hostname: "::2", port: 54 },
    },
    {
      remoteAddr: { transport: "unix", path: "/run/client.sock" },
      localAddr: { transport: "unix", path: "/run/haproxy.sock" },
    },
  ];
  for (const init of cases) {
    const header = parseProxyHeader(formatProxyHeader(init));
    assertEquals(header.version, 2);
    assertEquals(header.command, "PROXY");
    assertEquals(header.remoteAddr, init.remoteAddr);
    assertEquals(header.localAddr, init.localAddr);
  }
  const unspecified = parseProxyHeader(formatProxyHeader({}));
  assertEquals(unspecified.remoteAddr, undefined);
  const local = parseProxyHeader(
    formatProxyHeader({
      command: "LOCAL",
      remoteAddr: tcp("192.0.2.7", 1),
      localAddr: tcp("192.0.2.1", 2),
    }),
  );
  assertEquals(local.command, "LOCAL");
  assertEquals(
    local.remoteAddr,
    undefined,
    "LOCAL: the real addresses are the connection's",
  );
});

Deno.test("formatProxyHeader() writes the v2 layout byte for byte", () => {
  const bytes = formatProxyHeader({
    remoteAddr: tcp("192.0.2.7", 0x1234),
    localAddr: tcp("192.0.2.1", 443),
  });
  assertEquals([...bytes], [
    ...V2_SIGNATURE,
    0x21, // version 2, PROXY
    0x11, // INET, STREAM
    0x00,
    12,
    192,
    0,
    2,
    7,
    192,
    0,
    2,
    1,
    0x12,
    0x34,
    0x01,
    0xbb,
  ]);
  assertEquals(
    decoder.decode(formatProxyHeader({
      version: 1,
      remoteAddr: tcp("2001:db8::7", 1),
      localAddr: tcp("2001:db8::1", 2),
    })),
    "PROXY TCP6 2001:db8::7 2001:db8::1 1 2\r\n",
  );
  assertEquals(
    decoder.decode(formatProxyHeader({ version: 1 })),
    "PROXY UNKNOWN\r\n",
  );
});

Deno.test("parseProxyHeader() exposes TLVs with their names", () => {
  const header = parseProxyHeader(formatProxyHeader({
    remoteAddr: tcp("192.0.2.7", 1),
    localAddr: tcp("192.0.2.1", 2),
    tlvs: [
      { type: 0x01, value: encoder.encode("h2") },
      { type: 0x02, value: encoder.encode("example.com") },
      { type: 0x04, value: new Uint8Array(3) },
      { type: 0x05, value: encoder.encode("id-1") },
      { type: 0x20, value: new Uint8Array([1, 0, 0, 0, 0]) },
      { type: 0x30, value: encoder.encode("blue") },
      { type: 0xe0, value: new Uint8Array([9]) },
    ],
    crc32c: true,
  }));
  assertEquals(
    header.tlvs.map((tlv) => [tlv.type, tlv.name]),
    [
      [0x01, "ALPN"],
      [0x02, "AUTHORITY"],
      [0x04, "NOOP"],
      [0x05, "UNIQUE_ID"],
      [0x20, "SSL"],
      [0x30, "NETNS"],
      [0xe0, undefined],
      [0x03, "CRC32C"],
    ],
  );
  assertEquals(decoder.decode(header.tlvs[1].value), "example.com");
});

Deno.test("parseProxyHeader() checks a CRC32C TLV: good passes, any flipped bit fails", () => {
  const bytes = formatProxyHeader({
    remoteAddr: tcp("2001:db8::7", 50000),
    localAddr: tcp("2001:db8::1", 443),
    tlvs: [{ type: 0x05, value: encoder.encode("abc") }],
    crc32c: true,
  });
  parseProxyHeader(bytes);
  // Every byte of the addresses, ports and TLVs is covered (but the CRC32C
  // TLV's own type byte: changed, it is another TLV and there is no CRC).
  const crcType = bytes.length - 7;
  for (let i = 16; i < bytes.length; i++) {
    if (i === crcType) continue;
    const corrupt = bytes.slice();
    corrupt[i] ^= 0x01;
    let error: unknown;
    try {
      parseProxyHeader(corrupt);
    } catch (caught) {
      error = caught;
    }
    assertInstanceOf(error, Deno.errors.InvalidData, `byte ${i}`);
  }
  const flipped = bytes.slice();
  flipped[20] ^= 0x80;
  assertThrows(
    () => parseProxyHeader(flipped),
    Deno.errors.InvalidData,
    "CRC32C mismatch",
  );
});

Deno.test("parseProxyHeader() refuses malformed v2 headers", () => {
  const good = formatProxyHeader({
    remoteAddr: tcp("192.0.2.7", 1),
    localAddr: tcp("192.0.2.1", 2),
  });
  const withByte = (index: number, value: number) => {
    const copy = good.slice();
    copy[index] = value;
    return copy;
  };
  const bad: [Uint8Array, string][] = [
    [withByte(12, 0x11), "version 1"],
    [withByte(12, 0x22), "command 2"],
    [withByte(13, 0x41), "address family"],
    [withByte(15, 11).subarray(0, 27), "bytes cannot hold the addresses"],
    [
      Uint8Array.from([
        ...good.slice(0, 15),
        12 + 2,
        ...good.slice(16),
        0x05,
        0x00,
      ]),
      "a TLV is cut short",
    ],
    [
      Uint8Array.from([
        ...good.slice(0, 15),
        12 + 4,
        ...good.slice(16),
        0x05,
        0x00,
        0x09,
        0x00,
      ]),
      "overruns the header",
    ],
  ];
  for (const [bytes, fault] of bad) {
    assertThrows(() => parseProxyHeader(bytes), Deno.errors.InvalidData, fault);
  }
  assertThrows(
    () => parseProxyHeader(good.subarray(0, 20)),
    Deno.errors.InvalidData,
    "not exactly one header",
  );
});

Deno.test("readProxyHeader() reads exactly the header, never a byte of what follows", async () => {
  const headers = [
    encoder.encode("PROXY TCP4 192.0.2.7 192.0.2.1 56324 443\r\n"),
    encoder.encode("PROXY UNKNOWN\r\n"),
    encoder.encode("PROXY UNKNOWN extra words here\r\n"),
    formatProxyHeader({
      remoteAddr: tcp("192.0.2.7", 1),
      localAddr: tcp("192.0.2.1", 2),
    }),
    formatProxyHeader({ command: "LOCAL" }),
    formatProxyHeader({
      tlvs: [{ type: 5, value: new Uint8Array(300) }],
      crc32c: true,
    }),
  ];
  for (const header of headers) {
    const reader = chunkedReader(
      Uint8Array.from([...header, ...encoder.encode("HELLO")]),
    );
    const parsed = await readProxyHeader(reader);
    assertEquals(parsed.size, header.length);
    assertEquals(reader.offset, header.length, decoder.decode(header));
  }
});

Deno.test("readProxyHeader() refuses a header over maxHeaderSize before reading its body", async () => {
  const header = formatProxyHeader({
    tlvs: [{ type: 5, value: new Uint8Array(5000) }],
  });
  const reader = chunkedReader(header);
  await assertRejects(
    () => readProxyHeader(reader),
    Deno.errors.InvalidData,
    "larger than maxHeaderSize 4096",
  );
  assertEquals(reader.offset, 16, "only the fixed part was read");
  const again = chunkedReader(header);
  assertEquals(
    (await readProxyHeader(again, { maxHeaderSize: 8192 })).size,
    header.length,
  );
  await assertRejects(
    () => readProxyHeader(chunkedReader(header), { maxHeaderSize: 100 }),
    RangeError,
    "from 107 to 65551",
  );
});

Deno.test("readProxyHeader() refuses a v1 line without CRLF within 107 bytes", async () => {
  const line = encoder.encode("PROXY UNKNOWN " + "x".repeat(200) + "\r\n");
  const reader = chunkedReader(line);
  await assertRejects(
    () => readProxyHeader(reader),
    Deno.errors.InvalidData,
    "107 bytes",
  );
  assertEquals(reader.offset, 107);
});

Deno.test("readProxyHeader() rejects a truncated header with UnexpectedEof", async () => {
  await assertRejects(
    () => readProxyHeader(chunkedReader(encoder.encode("PROXY TCP4 1.2.3.4"))),
    Deno.errors.UnexpectedEof,
    "after 18 bytes",
  );
});

Deno.test("readProxyHeader() rejects when its timeout passes", async () => {
  const never = { read: () => new Promise<number | null>(() => {}) };
  await assertRejects(
    () => readProxyHeader(never, { timeout: 10 }),
    Deno.errors.TimedOut,
    "no complete header within 10 ms",
  );
  await assertRejects(
    () =>
      readProxyHeader(never, { signal: AbortSignal.abort(new Error("stop")) }),
    Error,
    "stop",
  );
  await assertRejects(
    () => readProxyHeader(never, { tiemout: 1 } as never),
    TypeError,
    "timeout",
  );
});

/** A small seeded generator (mulberry32), so a failing fuzz case can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const FUZZ_ROUNDS = 500;

function fuzzSeed(): number {
  const seed = Number(Deno.env.get("PROXY_FUZZ_SEED") ?? Date.now() % 2 ** 31);
  console.log(`fuzz seed ${seed} (replay with PROXY_FUZZ_SEED=${seed})`);
  return seed;
}

function validHeader(next: () => number): Uint8Array {
  const ip4 = () =>
    Array.from({ length: 4 }, () => Math.floor(next() * 256)).join(".");
  const ip6 = () =>
    Array.from({ length: 8 }, () => Math.floor(next() * 65536).toString(16))
      .join(":");
  const port = () => Math.floor(next() * 65536);
  const six = next() < 0.5;
  const ip = six ? ip6 : ip4;
  const init: ProxyHeaderInit = {
    version: next() < 0.3 ? 1 : 2,
    remoteAddr: tcp(ip(), port()),
    localAddr: tcp(ip(), port()),
  };
  if (init.version === 2 && next() < 0.5) {
    init.tlvs = [{ type: 5, value: new Uint8Array(Math.floor(next() * 200)) }];
    init.crc32c = next() < 0.5;
  }
  return formatProxyHeader(init);
}

Deno.test("readProxyHeader() fuzz: valid headers split at random read the same, and stop at the header", async () => {
  const next = random(fuzzSeed());
  for (let round = 0; round < FUZZ_ROUNDS; round++) {
    const header = validHeader(next);
    const splits = Array.from({ length: 8 }, () => 1 + Math.floor(next() * 20));
    const reader = chunkedReader(Uint8Array.from([...header, 1, 2, 3]), splits);
    const parsed = await readProxyHeader(reader);
    assertEquals(parsed, parseProxyHeader(header), `round ${round}`);
    assertEquals(reader.offset, header.length, `round ${round}`);
  }
});

Deno.test("readProxyHeader() fuzz: truncations, corruptions and garbage fail with a clear error, bounded", async () => {
  const next = random(fuzzSeed());
  for (let round = 0; round < FUZZ_ROUNDS; round++) {
    let bytes: Uint8Array;
    const kind = round % 3;
    if (kind === 0) {
      const header = validHeader(next);
      bytes = header.subarray(0, Math.floor(next() * header.length));
    } else if (kind === 1) {
      bytes = validHeader(next).slice();
      for (let i = 0; i < 3; i++) {
        bytes[Math.floor(next() * bytes.length)] = Math.floor(next() * 256);
      }
    } else {
      bytes = Uint8Array.from(
        { length: Math.floor(next() * 300) },
        () => Math.floor(next() * 256),
      );
      if (next() < 0.5) {
        bytes.set(V2_SIGNATURE.slice(0, Math.min(12, bytes.length)));
      }
    }
    const reader = chunkedReader(bytes, [1 + Math.floor(next() * 16)]);
    try {
      const parsed = await readProxyHeader(reader, { maxHeaderSize: 1024 });
      // A corruption may leave a valid header (a changed address); then it
      // was read exactly.
      assertEquals(reader.offset, parsed.size, `round ${round}`);
    } catch (error) {
      assert(
        error instanceof Deno.errors.InvalidData ||
          error instanceof Deno.errors.UnexpectedEof,
        `round ${round}: ${error}`,
      );
      assertStringIncludes((error as Error).message, "PROXY header");
      assert(
        reader.offset <= 1024,
        `round ${round}: read ${reader.offset} bytes`,
      );
    }
  }
});

// The engine's `proxy` option.

interface Served {
  addrs: { remote: Deno.Addr; local: Deno.Addr; data: string }[];
  errors: unknown[];
  server: Server<Deno.NetAddr>;
}

function serveProxied(
  proxy: ServeOptions["proxy"],
  handler?: ConnectionHandler,
): Served & AsyncDisposable {
  const addrs: Served["addrs"] = [];
  const errors: unknown[] = [];
  const server = serve(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    handler ?? (async (conn) => {
      const data = new Uint8Array(64);
      const n = await conn.read(data);
      addrs.push({
        remote: conn.remoteAddr,
        local: conn.localAddr,
        data: decoder.decode(data.subarray(0, n ?? 0)),
      });
      await conn.write(encoder.encode("done"));
    }),
    { proxy, onError: (error) => errors.push(error), lingerTimeout: 0 },
  );
  return {
    addrs,
    errors,
    server,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

const CLIENT = tcp("203.0.113.7", 50123);
const FRONT = tcp("198.51.100.1", 443);

Deno.test("serve() with proxy: a trusted proxy's header becomes remoteAddr and localAddr, and the bytes after it reach the handler", async () => {
  await using served = serveProxied({ trusted: ["127.0.0.0/8"] });
  for (const version of [1, 2] as const) {
    using conn = await Deno.connect({ port: served.server.addr.port });
    await writeAll(
      conn,
      Uint8Array.from([
        ...formatProxyHeader({ version, remoteAddr: CLIENT, localAddr: FRONT }),
        ...encoder.encode("hello"),
      ]),
    );
    assertEquals(await readAll(conn), "done");
  }
  assertEquals(served.addrs.map((seen) => seen.remote), [CLIENT, CLIENT]);
  assertEquals(served.addrs.map((seen) => seen.local), [FRONT, FRONT]);
  assertEquals(served.addrs.map((seen) => seen.data), ["hello", "hello"]);
  assertEquals(served.errors, []);
});

Deno.test("serve() with proxy: an untrusted peer's header is never read nor believed", async () => {
  await using served = serveProxied({ trusted: ["10.0.0.0/8", "::1"] });
  using conn = await Deno.connect({ port: served.server.addr.port });
  const line = "PROXY TCP4 203.0.113.7 198.51.100.1 50123 443\r\n";
  await writeAll(conn, line);
  assertEquals(await readAll(conn), "done");
  const [seen] = served.addrs;
  assertEquals((seen.remote as Deno.NetAddr).hostname, "127.0.0.1");
  assertEquals(
    (seen.remote as Deno.NetAddr).port,
    (conn.localAddr as Deno.NetAddr).port,
  );
  assertEquals(seen.data, line, "the handler sees the would-be header as data");
});

Deno.test("serve() with proxy.required: an untrusted peer is closed before its handler runs, and reported", async () => {
  await using served = serveProxied({
    trusted: ["10.0.0.0/8"],
    required: true,
  });
  using conn = await Deno.connect({ port: served.server.addr.port });
  assertEquals(await readAll(conn), "");
  await waitFor(() => served.errors.length === 1, "the refusal reported");
  assertInstanceOf(served.errors[0], Deno.errors.PermissionDenied);
  assertStringIncludes(String(served.errors[0]), "not a trusted proxy");
  assertEquals(served.addrs, []);
});

Deno.test("serve() with proxy: a LOCAL header (a health check) is closed without running the handler", async () => {
  await using served = serveProxied({ trusted: ["127.0.0.1"] });
  using conn = await Deno.connect({ port: served.server.addr.port });
  await writeAll(conn, formatProxyHeader({ command: "LOCAL" }));
  assertEquals(await readAll(conn), "");
  await waitFor(() => served.server.connections === 0, "the check closed");
  assertEquals(served.addrs, []);
  assertEquals(served.errors, []);
});

Deno.test("serve() with proxy: a trusted proxy that sends no header within proxy.timeout is closed and reported", async () => {
  await using served = serveProxied({
    trusted: ["127.0.0.1"],
    timeout: 50,
  });
  using conn = await Deno.connect({ port: served.server.addr.port });
  assertEquals(await readAll(conn), "");
  await waitFor(() => served.errors.length === 1, "the timeout reported");
  assertInstanceOf(served.errors[0], Deno.errors.TimedOut);
  assertStringIncludes(String(served.errors[0]), "from 127.0.0.1:");
  assertEquals(served.addrs, []);
});

Deno.test("serve() with proxy: a trusted proxy's bad header is closed and reported", async () => {
  await using served = serveProxied({ trusted: ["127.0.0.1"] });
  using conn = await Deno.connect({ port: served.server.addr.port });
  await writeAll(conn, "GET / HTTP/1.1\r\n\r\n");
  assertEquals(await readAll(conn), "");
  await waitFor(() => served.errors.length === 1, "the bad header reported");
  assertInstanceOf(served.errors[0], Deno.errors.InvalidData);
  assertEquals(served.addrs, []);
});

Deno.test("serve() with proxy: spawnHandler's TCPREMOTEIP is the real client's", async () => {
  if (await isMissing("sh")) return;
  await using served = serveProxied(
    { trusted: ["127.0.0.1"] },
    spawnHandler([
      "sh",
      "-c",
      'echo "$TCPREMOTEIP $TCPREMOTEPORT $TCPLOCALIP $TCPLOCALPORT"',
    ]),
  );
  using conn = await Deno.connect({ port: served.server.addr.port });
  await writeAll(
    conn,
    formatProxyHeader({ remoteAddr: CLIENT, localAddr: FRONT }),
  );
  assertEquals(await readAll(conn), "203.0.113.7 50123 198.51.100.1 443\n");
});

Deno.test("serve() with proxy: a forced shutdown while a header is awaited reports nothing", async () => {
  const errors: unknown[] = [];
  const server = serve(
    Deno.listen({ hostname: "127.0.0.1", port: 0 }),
    () => {},
    {
      proxy: { trusted: ["127.0.0.1"] },
      shutdownTimeout: 0,
      onError: (error) => errors.push(error),
    },
  );
  using conn = await Deno.connect({ port: server.addr.port });
  await waitFor(() => server.connections === 1, "the connection accepted");
  await server.shutdown();
  assertEquals(await readAll(conn), "");
  assertEquals(errors, []);
});

Deno.test("serve() checks the proxy option", () => {
  const listener = () => Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const cases: [unknown, ErrorConstructor | RangeErrorConstructor, string][] = [
    [
      { trusted: "127.0.0.1" },
      TypeError,
      "options.proxy.trusted must be an array",
    ],
    [
      { trusted: ["127.0.0.1/40"] },
      TypeError,
      "options.proxy.trusted[0] must be an IP address or a CIDR range",
    ],
    [{ trusted: [], tiemout: 5 }, TypeError, "timeout"],
    [{ trusted: [], timeout: -1 }, RangeError, "options.proxy.timeout"],
    [{ trusted: [], required: "yes" }, TypeError, "options.proxy.required"],
    [{ trusted: [], maxHeaderSize: 10 }, RangeError, "maxHeaderSize"],
    [true, TypeError, "options.proxy must be an object"],
  ];
  for (const [proxy, type, message] of cases) {
    using l = listener();
    assertThrows(
      () => serve(l, () => {}, { proxy } as ServeOptions),
      type,
      message,
    );
  }
});

const haproxyMissing = await isMissing("haproxy");

/** How many clients go through HAProxy: two rounds of its round robin over two servers. */
const HAPROXY_CLIENTS = 4;

Deno.test({
  name:
    "examples/haproxy.cfg: HAProxy's send-proxy-v2 gives two tcp_echo_server.ts instances the real client, in turn",
  ignore: haproxyMissing,
  async fn() {
    await using dir = await tempDir("sockets-net-haproxy");
    const echoArgs = ["--port", "0", "--proxy-from", "127.0.0.1"];
    await using first = await startExample("tcp_echo_server.ts", echoArgs);
    await using second = await startExample("tcp_echo_server.ts", echoArgs);
    const front = closedPort();
    const example = await Deno.readTextFile(
      new URL("../examples/haproxy.cfg", import.meta.url),
    );
    const config = example
      .replace("bind 127.0.0.1:7000", `bind 127.0.0.1:${front}`)
      .replace("127.0.0.1:7007", `127.0.0.1:${first.port}`)
      .replace("127.0.0.1:7008", `127.0.0.1:${second.port}`);
    assertEquals(
      config.split("\n").filter((line, i) => line !== example.split("\n")[i])
        .length,
      3,
      "the test substitutes the frontend's and both servers' ports",
    );
    const path = `${dir.path}/haproxy.cfg`;
    await Deno.writeTextFile(path, config);
    // In the foreground (-db), so that the test owns it and ends it.
    const haproxy = new Deno.Command("haproxy", {
      args: ["-db", "-f", path],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const clientPorts: number[] = [];
    let log = "";
    const logged = (async () => {
      for await (
        const text of haproxy.stderr.pipeThrough(new TextDecoderStream())
      ) {
        log += text;
      }
    })();
    try {
      // The LOCAL headers of check-send-proxy pass as HAProxy's "Layer4
      // check passed"; and only with both servers checked does the round
      // robin run over both from the first client.
      await waitFor(
        () =>
          ["echo1", "echo2"].every((server) =>
            log.includes(`echo_servers/${server} succeeded`)
          ),
        "HAProxy's first health check of both servers",
      );
      for (let i = 0; i < HAPROXY_CLIENTS; i++) {
        using conn = await Deno.connect({ hostname: "127.0.0.1", port: front });
        clientPorts.push((conn.localAddr as Deno.NetAddr).port);
        await writeAll(conn, `ping ${i}\n`);
        await conn.closeWrite();
        assertEquals(await readAll(conn), `ping ${i}\n`);
      }
    } catch (error) {
      console.log(`haproxy's stderr:\n${log}`);
      throw error;
    } finally {
      haproxy.kill("SIGTERM");
      await haproxy.status;
      await logged;
    }
    const seen = async (server: typeof first) =>
      (await server.stop()).stdout.split("\n")
        .filter((line) => line.startsWith("client "))
        .map((line) => line.slice("client ".length));
    const [byFirst, bySecond] = [await seen(first), await seen(second)];
    // The first connection, HAProxy's own probe for readiness, is there too.
    const real = (ports: string[]) =>
      ports.filter((addr) =>
        clientPorts.some((port) => addr === `127.0.0.1:${port}`)
      );
    assertEquals(
      [...real(byFirst), ...real(bySecond)].sort(),
      clientPorts.map((port) => `127.0.0.1:${port}`).sort(),
      "every client's own address reached a handler",
    );
    assertEquals(real(byFirst).length, HAPROXY_CLIENTS / 2, "round robin");
    assertEquals(real(bySecond).length, HAPROXY_CLIENTS / 2, "round robin");
  },
});

Deno.test("serveWorkers() passes the proxy option to every worker's engine", async () => {
  await using pool = await serveWorkers(
    new URL("./fixtures/echo_handler.ts", import.meta.url),
    {
      hostname: "127.0.0.1",
      port: 0,
      workers: 1,
      proxy: { trusted: ["127.0.0.1"] },
    },
  );
  using conn = await Deno.connect({ port: pool.addr.port });
  await writeAll(
    conn,
    Uint8Array.from([
      ...formatProxyHeader({ remoteAddr: CLIENT, localAddr: FRONT }),
      ...encoder.encode("hello\n"),
    ]),
  );
  await conn.closeWrite();
  assertEquals(
    await readAll(conn),
    "hello\n",
    "the worker read the header, not the handler",
  );
  await assertRejects(
    () =>
      serveWorkers(new URL("./fixtures/echo_handler.ts", import.meta.url), {
        proxy: { trusted: "x" } as never,
      }),
    TypeError,
    "options.proxy.trusted",
  );
});
