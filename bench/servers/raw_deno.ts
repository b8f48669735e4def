// The baseline: Deno's own APIs with the simplest fast loop, as in Deno's
// manual: a per-connection read/write loop on a reused 64 KiB buffer.
//
//   deno run -A --unstable-net bench/servers/raw_deno.ts KIND ADDRESS
import { parseAddress } from "./_address.ts";

const [kind, spec] = Deno.args;
const address = parseAddress(spec);
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
    // A reset by the client ends the connection.
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
    // A reset by the client ends the connection.
  } finally {
    conn.close();
  }
}

if (address.transport === "udp") {
  const socket = Deno.listenDatagram({ ...address, transport: "udp" });
  console.log(`LISTENING ${(socket.addr as Deno.NetAddr).port}`);
  const buffer = new Uint8Array(64 * 1024);
  while (true) {
    const [data, from] = await socket.receive(buffer);
    await socket.send(data, from);
  }
} else {
  let listener: Deno.Listener;
  if (address.transport === "unix") {
    try {
      Deno.removeSync(address.path);
    } catch {
      // Not there: nothing to clear.
    }
    listener = Deno.listen({ transport: "unix", path: address.path });
  } else {
    listener = Deno.listen({ ...address, transport: "tcp" });
  }
  const addr = listener.addr;
  console.log(`LISTENING ${"port" in addr ? addr.port : addr.path}`);
  const serveOne = kind === "hello" ? hello : echo;
  for await (const conn of listener) serveOne(conn);
}
