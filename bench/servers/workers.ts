// The module's prefork pool (serveWorkers) serving echo or a greeting.
//
//   deno run -A --unstable-net bench/servers/workers.ts KIND tcp:HOST:PORT WORKERS
import { serveWorkers } from "@sockets/net/workers";
import { parseAddress } from "./_address.ts";

const [kind, spec, workers] = Deno.args;
const address = parseAddress(spec);
if (address.transport !== "tcp") throw new Error("serveWorkers is TCP only");
const handler = kind === "hello" ? "./hello_handler.ts" : "./echo_handler.ts";
await serveWorkers(new URL(handler, import.meta.url), {
  hostname: address.hostname,
  port: address.port,
  workers: Number(workers),
  onListen: (addr) => console.log(`LISTENING ${addr.port}`),
  // A client that resets its connection is expected under load.
  onError: () => {},
});
