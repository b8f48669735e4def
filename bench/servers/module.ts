// The module's own servers, as a user would write them.
//
//   deno run -A --unstable-net bench/servers/module.ts KIND ADDRESS [nolinger]
//
// nolinger serves with lingerTimeout: 0 (close at once when the handler
// settles), to measure what lingering close costs.
// KIND is echo or hello; ADDRESS is tcp:HOST:PORT, unix:PATH or udp:HOST:PORT
// (udp serves echo only). Prints "LISTENING <port or path>" once it accepts.
import { serveTcp } from "@sockets/net/tcp";
import { serveUnix } from "@sockets/net/unix";
import { serveUdp } from "@sockets/net/udp";
import { copy, writeAll } from "@sockets/net/io";
import { parseAddress } from "./_address.ts";

const [kind, spec, variant] = Deno.args;
const address = parseAddress(spec);
const greeting = new TextEncoder().encode("Hello, world!\n");
const handler = kind === "hello"
  ? (conn: Deno.Conn) => writeAll(conn, greeting)
  : (conn: Deno.Conn) => copy(conn, conn);
const onListen = (addr: Deno.Addr) =>
  console.log(`LISTENING ${"port" in addr ? addr.port : addr.path}`);
// A client that resets its connection is expected under load.
const onError = () => {};
const lingerTimeout = variant === "nolinger" ? 0 : undefined;

if (address.transport === "tcp") {
  serveTcp({ ...address, onListen, onError, lingerTimeout }, handler);
} else if (address.transport === "unix") {
  await serveUnix(
    { path: address.path, onListen, onError, lingerTimeout },
    handler,
  );
} else {
  serveUdp({ ...address, onListen }, (data) => data);
}
