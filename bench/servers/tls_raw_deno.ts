// The TLS baseline: Deno.listenTls with the loop of raw_deno.ts, a
// per-connection read/write loop on a reused 64 KiB buffer.
//
//   deno run -A --unstable-net bench/servers/tls_raw_deno.ts KIND ADDRESS CERT KEY
import { parseAddress } from "./_address.ts";
import { echo, hello } from "./_raw_loops.ts";

const [kind, spec, certFile, keyFile] = Deno.args;
const address = parseAddress(spec);
if (address.transport !== "tcp") {
  console.error("usage: KIND tcp:HOST:PORT CERT KEY");
  Deno.exit(2);
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
