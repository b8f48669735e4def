// The TLS baseline: Deno.listenTls with the loop of raw_deno.ts, a
// per-connection read/write loop on a reused 64 KiB buffer.
//
//   deno run -A --unstable-net bench/servers/tls_raw_deno.ts KIND ADDRESS CERT KEY
import { parseAddress } from "./_address.ts";

const [kind, spec, certFile, keyFile] = Deno.args;
const address = parseAddress(spec);
if (address.transport !== "tcp") {
  console.error("usage: KIND tcp:HOST:PORT CERT KEY");
  Deno.exit(2);
}
const greeting = new TextEncoder().encode("Hello, world!\n");

async function echo(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      for (let off = 0; off < n;) {
        off += await conn.write(buffer.subarray(off, n));
      }
    }
  } catch {
    // A reset by the client, or a failed handshake, ends the connection.
  } finally {
    conn.close();
  }
}

async function hello(conn: Deno.Conn): Promise<void> {
  try {
    for (let off = 0; off < greeting.length;) {
      off += await conn.write(greeting.subarray(off));
    }
  } catch {
    // A reset by the client, or a failed handshake, ends the connection.
  } finally {
    conn.close();
  }
}

const listener = Deno.listenTls({
  hostname: address.hostname,
  port: address.port,
  transport: "tcp",
  cert: Deno.readTextFileSync(certFile),
  key: Deno.readTextFileSync(keyFile),
});
console.log(`LISTENING ${listener.addr.port}`);
const serveOne = kind === "hello" ? hello : echo;
for await (const conn of listener) serveOne(conn);
