// Echo servers that differ by one part each, to measure what an idle
// connection costs part by part (bench/idle_parts.ts). Each echoes the first
// read (the load generator waits for one echo per connection), then:
//
//   deno run -A --unstable-net --v8-flags=--expose-gc \
//     bench/servers/idle_parts.ts VARIANT tcp:HOST:PORT
//
// On SIGUSR2 (SIGUSR1 would start Deno's inspector) it collects garbage and prints "HEAP used external rss", in
// bytes (Deno.memoryUsage()), so that the JavaScript heap, the backing stores
// of ArrayBuffers and the rest (Deno's own) can be told apart.
//
//   raw-hold        Deno.listen; holds the connection with no read pending
//   raw-read64      Deno.listen; a read pending into its own 64-byte buffer
//   raw-read1k      Deno.listen; a read pending into its own 1 KiB buffer
//   module-hold     serveTcp; the handler holds the connection, no read pending
//   module-read64   serveTcp; the handler's own loop on a 64-byte buffer
//   module-read1k   serveTcp; the handler's own loop on a 1 KiB buffer
//   module-copy     serveTcp with copy(): the benchmark's echo server
import { serveTcp } from "@sockets/net/tcp";
import { copy } from "@sockets/net/io";
import { parseAddress } from "./_address.ts";

const [variant, spec] = Deno.args;
const address = parseAddress(spec);
if (address.transport !== "tcp") throw new Error("TCP only");
const forever = new Promise<never>(() => {});

async function echoOnce(conn: Deno.Conn, buffer: Uint8Array): Promise<void> {
  const n = await conn.read(buffer);
  if (n !== null) await conn.write(buffer.subarray(0, n));
}

async function loop(conn: Deno.Conn, size: number): Promise<void> {
  const buffer = new Uint8Array(size);
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) return;
    await conn.write(buffer.subarray(0, n));
  }
}

const handlers: Record<string, (conn: Deno.Conn) => Promise<unknown>> = {
  "raw-hold": async (conn) => {
    await echoOnce(conn, new Uint8Array(64));
    await forever;
  },
  "raw-read64": (conn) => loop(conn, 64),
  "raw-read1k": (conn) => loop(conn, 1024),
  "module-hold": async (conn) => {
    await echoOnce(conn, new Uint8Array(64));
    await forever;
  },
  "module-read64": (conn) => loop(conn, 64),
  "module-read1k": (conn) => loop(conn, 1024),
  "module-copy": (conn) => copy(conn, conn),
};
const handler = handlers[variant];
if (!handler) throw new Error(`unknown variant ${variant}`);
Deno.addSignalListener("SIGUSR2", () => {
  (globalThis as { gc?: () => void }).gc?.();
  const { heapUsed, external, rss } = Deno.memoryUsage();
  console.log(`HEAP ${heapUsed} ${external} ${rss}`);
});

const onListen = (addr: Deno.Addr) =>
  console.log(`LISTENING ${"port" in addr ? addr.port : addr.path}`);

if (variant.startsWith("raw-")) {
  const listener = Deno.listen({ ...address, transport: "tcp" });
  onListen(listener.addr);
  for await (const conn of listener) handler(conn).catch(() => {});
} else {
  serveTcp({ ...address, onListen, onError: () => {} }, handler);
}
