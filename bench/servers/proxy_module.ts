// The module's greeting server behind a trusted proxy: serveTcp with
// `proxy: { trusted: ["127.0.0.1"] }`, so that it reads a PROXY header (v1 or
// v2, whichever comes) before the handler writes the greeting.
//
//   deno run -A --unstable-net bench/servers/proxy_module.ts KIND ADDRESS
import { serveTcp } from "@sockets/net/tcp";
import { copy, writeAll } from "@sockets/net/io";
import { parseAddress } from "./_address.ts";

const [kind, spec] = Deno.args;
const address = parseAddress(spec);
if (address.transport !== "tcp") {
  console.error("usage: KIND tcp:HOST:PORT");
  Deno.exit(2);
}
const greeting = new TextEncoder().encode("Hello, world!\n");
serveTcp(
  {
    ...address,
    proxy: { trusted: ["127.0.0.1"] },
    onListen: (addr) => console.log(`LISTENING ${(addr as Deno.NetAddr).port}`),
    // A client that resets its connection is expected under load.
    onError: () => {},
  },
  kind === "hello"
    ? (conn) => writeAll(conn, greeting)
    : (conn) => copy(conn, conn),
);
