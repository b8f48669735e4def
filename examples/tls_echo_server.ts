// deno run --allow-net=127.0.0.1 --allow-read=/tmp/sockets-net/cert.pem,/tmp/sockets-net/key.pem examples/tls_echo_server.ts
/**
 * A TLS echo server: every byte a client sends comes back, encrypted, until
 * the client closes its side. A client that does not complete the TLS
 * handshake within `--handshake-timeout` is dropped without holding a slot.
 *
 * Make a CA and a certificate for localhost with openssl, for instance:
 *
 *     cd /tmp/sockets-net
 *     openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
 *       -days 30 -subj "/CN=demo CA" -keyout ca-key.pem -out ca.pem
 *     openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
 *       -subj /CN=localhost -keyout key.pem -out cert.csr
 *     echo "subjectAltName=DNS:localhost,IP:127.0.0.1" > cert.ext
 *     openssl x509 -req -in cert.csr -CA ca.pem -CAkey ca-key.pem \
 *       -days 30 -extfile cert.ext -out cert.pem
 *
 * Then try it with `examples/tls_echo_client.ts`, or with
 * `openssl s_client -connect 127.0.0.1:7443 -CAfile /tmp/sockets-net/ca.pem`.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { formatAddress } from "@sockets/net/resolve";
import { copy } from "@sockets/net/io";
import { serveTls } from "@sockets/net/tls";

/** The TCP echo example's port, 7007, in the 7xxx range of the examples. */
const DEFAULT_PORT = 7443;

const USAGE = `Usage: tls_echo_server.ts [options]

Sends every byte back to the client that sent it, over TLS.

  --hostname HOST            address to listen on (default 127.0.0.1)
  --port PORT                port number or service name (default ${DEFAULT_PORT})
  --cert-file PATH           PEM certificate chain (default /tmp/sockets-net/cert.pem)
  --key-file PATH            PEM private key (default /tmp/sockets-net/key.pem)
  --alpn PROTOCOL            an ALPN protocol to accept (repeatable)
  --handshake-timeout MS     drop a client that has not completed the handshake by then
  --help                     show this help`;

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "cert-file", "key-file", "handshake-timeout"],
    collect: ["alpn"],
    boolean: ["help"],
    default: {
      hostname: "127.0.0.1",
      port: String(DEFAULT_PORT),
      "cert-file": "/tmp/sockets-net/cert.pem",
      "key-file": "/tmp/sockets-net/key.pem",
    },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const timeout = flags["handshake-timeout"];
  const alpn = (flags.alpn ?? []) as string[];
  const controller = new AbortController();
  const stop = () => controller.abort();
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const server = serveTls({
      hostname: flags.hostname,
      port: flags.port,
      certFile: flags["cert-file"],
      keyFile: flags["key-file"],
      ...(alpn.length === 0 ? {} : { alpnProtocols: alpn }),
      ...(timeout === undefined ? {} : { handshakeTimeout: Number(timeout) }),
      signal: controller.signal,
      onError: (error) =>
        console.error(error instanceof Error ? error.message : error),
    }, (conn) => copy(conn, conn));
    console.log(`listening on ${formatAddress(server.addr)}`);
    await server.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
