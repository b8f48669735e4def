// deno run --allow-net=127.0.0.1 --allow-read=/tmp/sockets-net/ca.pem examples/tls_echo_client.ts
/**
 * A TLS echo client: it sends its standard input to the server, closes its
 * sending side at the end of the input, and prints what comes back until the
 * server closes too. The server's certificate must be signed by the CA of
 * `--ca-file` (or by one the system trusts) and be valid for
 * `--server-name`.
 *
 * Try it with `echo hello | deno run --allow-net=127.0.0.1 --allow-read=/tmp/sockets-net/ca.pem examples/tls_echo_client.ts`
 * while `examples/tls_echo_server.ts` runs.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { copy } from "@sockets/net/io";
import { connectTls } from "@sockets/net/tls";

/** The port of `examples/tls_echo_server.ts`. */
const DEFAULT_PORT = 7443;

/** How long to wait for a connection and its handshake by default. */
const DEFAULT_TIMEOUT_MS = 5_000;

const USAGE = `Usage: tls_echo_client.ts [options]

Sends standard input to a TLS echo server and prints the echo.

  --hostname HOST      server to connect to (default 127.0.0.1)
  --port PORT          port number or service name (default ${DEFAULT_PORT})
  --ca-file PATH       PEM CA certificate to trust (default /tmp/sockets-net/ca.pem;
                       "" for the system's CAs only)
  --server-name NAME   name the certificate must be valid for (default: HOST)
  --alpn PROTOCOL      an ALPN protocol to offer (repeatable)
  --timeout MS         give up connecting after this long (default ${DEFAULT_TIMEOUT_MS})
  --help               show this help`;

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "ca-file", "server-name", "timeout"],
    collect: ["alpn"],
    boolean: ["help"],
    default: {
      hostname: "127.0.0.1",
      port: String(DEFAULT_PORT),
      "ca-file": "/tmp/sockets-net/ca.pem",
      timeout: String(DEFAULT_TIMEOUT_MS),
    },
  });
  if (flags.help) {
    console.log(USAGE);
    return;
  }
  const caFile = flags["ca-file"];
  const alpn = (flags.alpn ?? []) as string[];
  let caCerts: string[] | undefined;
  try {
    caCerts = caFile === "" ? undefined : [await Deno.readTextFile(caFile)];
  } catch (error) {
    throw error instanceof Deno.errors.NotCapable
      ? new Error(`read ${caFile}: run again with --allow-read=${caFile}`)
      : error;
  }
  using conn = await connectTls({
    hostname: flags.hostname,
    port: flags.port,
    timeout: Number(flags.timeout),
    ...(caCerts === undefined ? {} : { caCerts }),
    ...(flags["server-name"] === undefined
      ? {}
      : { serverName: flags["server-name"] }),
    ...(alpn.length === 0 ? {} : { alpnProtocols: alpn }),
  });
  const { alpnProtocol } = await conn.handshake();
  if (alpnProtocol !== null) console.error(`ALPN: ${alpnProtocol}`);
  // When the server closes first, the rest of the input has nowhere to go,
  // and the error of the receiving side already tells why.
  copy(Deno.stdin, conn).then(() => conn.closeWrite()).catch(() => {});
  await copy(conn, Deno.stdout);
}

if (import.meta.main) {
  try {
    await main(Deno.args);
    // Standard input may still be open (a terminal): the echo is over.
    Deno.exit(0);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
