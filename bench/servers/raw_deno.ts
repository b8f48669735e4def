// The baseline: Deno's own APIs with the simplest fast loop, as in Deno's
// manual: a per-connection read/write loop on a reused 64 KiB buffer.
//
//   deno run -A --unstable-net bench/servers/raw_deno.ts KIND ADDRESS
import { parseAddress } from "./_address.ts";
import { echo, hello } from "./_raw_loops.ts";

const [kind, spec] = Deno.args;
const address = parseAddress(spec);

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
