// The module's TLS server, as a user would write it: serveTls with copy.
//
//   deno run -A --unstable-net bench/servers/tls_module.ts KIND ADDRESS CERT KEY
//
// KIND is echo or hello; ADDRESS is tcp:HOST:PORT; CERT and KEY are PEM
// files. Prints "LISTENING <port>" once it accepts.
import { serveTls } from "@sockets/net/tls";
import { copy, writeAll } from "@sockets/net/io";
import { parseAddress } from "./_address.ts";

const [kind, spec, certFile, keyFile] = Deno.args;
const address = parseAddress(spec);
if (address.transport !== "tcp") {
  console.error("usage: KIND tcp:HOST:PORT CERT KEY");
  Deno.exit(2);
}
const greeting = new TextEncoder().encode("Hello, world!\n");
serveTls(
  {
    hostname: address.hostname,
    port: address.port,
    certFile,
    keyFile,
    onListen: (addr) => console.log(`LISTENING ${(addr as Deno.NetAddr).port}`),
    // A client that resets its connection is expected under load.
    onError: () => {},
  },
  kind === "hello"
    ? (conn) => writeAll(conn, greeting)
    : (conn) => copy(conn, conn),
);
