/**
 * A scenario for `serveTls` against clients that open a connection and
 * never start the TLS handshake: the handshake deadline must free their
 * slots of `maxConnections` so that a real client is served. It also counts
 * the sockets Deno keeps open for them after the deadline.
 *
 * @module
 */

import { assertEquals } from "@std/assert";
import { connectTls, serveTls } from "../../tls.ts";
import { makeCertificates, waitFor, within } from "../_helpers.ts";
import { countOwnDescriptors, type Figures } from "./scenarios.ts";

/** The sizes of the TLS scenario. */
export interface TlsSizes {
  /** Silent clients against maxConnections, and the handshake deadline in ms. */
  silent: { clients: number; maxConnections: number; handshakeTimeout: number };
}

/** The sizes that `deno task test` runs. */
export const TLS_REDUCED: TlsSizes = {
  silent: { clients: 20, maxConnections: 10, handshakeTimeout: 200 },
};

/** The sizes of `deno task soak`. */
export const TLS_FULL: TlsSizes = {
  silent: { clients: 300, maxConnections: 100, handshakeTimeout: 1_000 },
};

/** Bound on the wait for the real client: every wave of silent clients must time out first. */
const WAIT_MS = 60_000;

const encoder = new TextEncoder();

/**
 * Descriptors the runtime may open for itself on the first TLS server
 * (measured: 2 on Deno 2.9.6), beside the sockets this scenario counts.
 */
const RUNTIME_SLACK = 2;

/** TCP state 01 of `/proc/net/tcp`: ESTABLISHED. */
const ESTABLISHED = "01";

/**
 * The established TCP connections whose local port is `port`: the server's
 * side of each connection, whoever holds it open.
 */
async function establishedAt(port: number): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, "0");
  const table = await Deno.readTextFile("/proc/net/tcp");
  let count = 0;
  for (const line of table.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1]?.endsWith(`:${hex}`) && fields[3] === ESTABLISHED) count++;
  }
  return count;
}

/**
 * `clients` silent TCP connections to a TLS server with `maxConnections`
 * and `handshakeTimeout`, then a real TLS client asking for a reply.
 */
export async function silentTlsClients(
  size: TlsSizes["silent"],
): Promise<Figures> {
  const dir = await Deno.makeTempDir({ prefix: "soak_tls_" });
  try {
    const { ca, cert, key } = await makeCertificates(dir);
    const baseline = await countOwnDescriptors();
    const errors: unknown[] = [];
    let served = 0;
    const server = serveTls({
      hostname: "127.0.0.1",
      port: 0,
      cert,
      key,
      maxConnections: size.maxConnections,
      handshakeTimeout: size.handshakeTimeout,
      lingerTimeout: 0,
      onError: (error) => errors.push(error),
    }, async (conn) => {
      served++;
      await conn.write(encoder.encode("pong"));
    });
    const port = server.addr.port;
    const silent: Deno.Conn[] = [];
    try {
      for (let i = 0; i < size.clients; i++) {
        silent.push(await Deno.connect({ hostname: "127.0.0.1", port }));
      }
      const start = performance.now();
      const conn = await within(
        connectTls({ hostname: "localhost", port, caCerts: [ca] }),
        "the real client, once the silent ones' slots are free",
        WAIT_MS,
      );
      const reply = new Uint8Array(4);
      const n = await conn.read(reply);
      const answered = performance.now() - start;
      conn.close();
      assertEquals(n, 4, "the real client's reply");
      await waitFor(
        () => server.connections === 0,
        "every slot to be free",
      );
      const held = await establishedAt(port);
      for (const conn of silent.splice(0)) conn.close();
      await server.shutdown();
      await waitFor(
        async () => (await establishedAt(port)) === 0,
        "Deno to close the server's sockets once the clients leave",
      );
      await waitFor(
        async () => (await countOwnDescriptors()) <= baseline + RUNTIME_SLACK,
        "the descriptors to come back to the baseline",
      );
      assertEquals(served, 1, "only the real client reached the handler");
      assertEquals(errors, [], "nothing reported to onError");
      return {
        "silent clients":
          `${size.clients} against maxConnections ${size.maxConnections}`,
        "handshakeTimeout": `${size.handshakeTimeout} ms`,
        "real client's connect-to-reply time (behind every wave)": `${
          answered.toFixed(0)
        } ms`,
        "server sockets Deno keeps open while the silent clients stay":
          `${held} of ${size.clients}`,
        "server sockets left once the silent clients leave": 0,
        "errors reported": errors.length,
      };
    } finally {
      for (const conn of silent) conn.close();
      await server.shutdown();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
