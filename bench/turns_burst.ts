// The minimal reproduction of the cap on reads per turn of Deno's event
// loop: N connections each have 64 bytes waiting in the kernel before the
// server posts one read on each; the server counts how many reads complete in
// each turn (a setImmediate callback marks a turn, as bench/servers/turns.ts).
// With Deno.listen every read could complete in the first turn; they come
// 128 per turn. node:net inside Deno, for comparison, on the same sockets'
// kind of load (its "data" events per turn).
//
//   deno run -A bench/turns_burst.ts [deno|node] [N]
//
// The client is a second Deno process, so that its own operations do not
// share the server's event loop.
import net from "node:net";
import { setImmediate } from "node:timers";

const api = Deno.args[0] ?? "deno";
const conns = Number(Deno.args[1] ?? 512);
/** Time for every request to reach the server's socket buffers. */
const SETTLE_MS = 500;

const counts: number[] = [0];
let marked = false;
function completed(): void {
  counts[counts.length - 1]++;
  if (!marked) {
    marked = true;
    setImmediate(() => {
      marked = false;
      counts.push(0);
    });
  }
}

const client = (port: number) =>
  new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const all = [];
      for (let i = 0; i < ${conns}; i++) {
        all.push(await Deno.connect({ hostname: "127.0.0.1", port: ${port} }));
      }
      for (const c of all) await c.write(new Uint8Array(64));
      console.log("SENT");
      setInterval(() => {}, 1000);`,
    ],
    stdout: "piped",
  }).spawn();

async function sent(child: Deno.ChildProcess): Promise<void> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (let text = ""; !text.includes("SENT");) {
    const { value, done } = await reader.read();
    if (done) throw new Error("client ended early");
    text += value;
  }
  reader.releaseLock();
}

let child: Deno.ChildProcess;
if (api === "deno") {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  child = client((listener.addr as Deno.NetAddr).port);
  const accepted: Deno.Conn[] = [];
  for await (const conn of listener) {
    accepted.push(conn);
    if (accepted.length === conns) break;
  }
  await sent(child);
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const buffer = new Uint8Array(64 * 1024);
  counts[0] = 0;
  await Promise.all(accepted.map(async (conn) => {
    await conn.read(buffer.subarray(0, 64 * 1024));
    completed();
  }));
  // Leaving the for-await loop closed the listener.
  for (const conn of accepted) conn.close();
} else {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    socket.pause();
    sockets.push(socket);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  child = client((server.address() as net.AddressInfo).port);
  await sent(child);
  while (sockets.length < conns) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  counts[0] = 0;
  await Promise.all(sockets.map((socket) =>
    new Promise<void>((resolve) => {
      socket.once("data", () => {
        completed();
        resolve();
      });
      socket.resume();
    })
  ));
  for (const socket of sockets) socket.destroy();
  server.close();
}
child.kill("SIGKILL");
await child.status;
console.log(
  `${api}, ${conns} connections with a request waiting: reads per turn ${
    counts.filter((c) => c > 0).join(", ")
  }`,
);
