// deno run --allow-net=127.0.0.1 --allow-read=/tmp/sockets-net/ca.pem examples/starttls_client.ts
/**
 * A STARTTLS client for a line protocol in the manner of SMTP: it reads the
 * server's greeting in plain text, sends `STARTTLS`, waits for the go-ahead
 * (a `2xx` reply), upgrades the same connection to TLS, then sends its
 * standard input and prints the reply until the server closes.
 *
 * Against a real mail server (`--port 587 --hostname mail.example.com`) it
 * shows the upgrade; the server's own protocol then follows.
 *
 * @module
 */

import { parseArgs } from "@std/cli";
import { copy, lines, writeAll } from "@sockets/net/io";
import { connectTcp } from "@sockets/net/tcp";
import { startTls } from "@sockets/net/tls";

/** The port of the line server this example is tested against. */
const DEFAULT_PORT = 7025;

/** How long the connect, and then the handshake, may take by default. */
const DEFAULT_TIMEOUT_MS = 5_000;

/** The longest reply line read before the upgrade, as SMTP's 512 octets (RFC 5321, 4.5.3.1.5). */
const MAX_REPLY_BYTES = 512;

const USAGE = `Usage: starttls_client.ts [options]

Greets a line server in plain text, upgrades to TLS with STARTTLS, then
sends standard input and prints the reply.

  --hostname HOST      server to connect to (default 127.0.0.1)
  --port PORT          port number or service name (default ${DEFAULT_PORT})
  --ca-file PATH       PEM CA certificate to trust (default /tmp/sockets-net/ca.pem;
                       "" for the system's CAs only)
  --server-name NAME   name the certificate must be valid for (default: HOST)
  --timeout MS         for the connect, and again for the handshake
                       (default ${DEFAULT_TIMEOUT_MS})
  --help               show this help`;

/** Reads one reply line and fails unless it is a 2xx reply. */
async function expectOk(
  replies: AsyncIterator<string>,
  what: string,
): Promise<string> {
  const { value, done } = await replies.next();
  if (done) throw new Error(`${what}: the server closed the connection`);
  if (!/^2\d\d[ -]/.test(value)) {
    throw new Error(`${what}: the server answered ${JSON.stringify(value)}`);
  }
  return value;
}

async function main(args: string[]): Promise<void> {
  const flags = parseArgs(args, {
    string: ["hostname", "port", "ca-file", "server-name", "timeout"],
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
  const timeout = Number(flags.timeout);
  let caCerts: string[] | undefined;
  try {
    caCerts = caFile === "" ? undefined : [await Deno.readTextFile(caFile)];
  } catch (error) {
    throw error instanceof Deno.errors.NotCapable
      ? new Error(`read ${caFile}: run again with --allow-read=${caFile}`)
      : error;
  }
  const plain = await connectTcp({
    hostname: flags.hostname,
    port: flags.port,
    timeout,
  });
  const replies = lines(plain, { maxLineLength: MAX_REPLY_BYTES });
  let upgraded = false;
  try {
    console.error(await expectOk(replies, "greeting"));
    await writeAll(plain, new TextEncoder().encode("STARTTLS\r\n"));
    console.error(await expectOk(replies, "STARTTLS"));
    // Stop reading in plain text before the upgrade: the next bytes are TLS.
    await replies.return?.();
    using conn = await startTls(plain, {
      timeout,
      ...(caCerts === undefined ? {} : { caCerts }),
      serverName: flags["server-name"] ?? flags.hostname,
    });
    upgraded = true;
    console.error("TLS started");
    copy(Deno.stdin, conn).then(() => conn.closeWrite()).catch(() => {});
    await copy(conn, Deno.stdout);
  } finally {
    if (!upgraded) {
      await replies.return?.();
      plain.close();
    }
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
    Deno.exit(0);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    Deno.exit(1);
  }
}
