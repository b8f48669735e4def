// The baseline's per-connection loops, shared by the plain and the TLS
// baseline servers: the simplest fast loop, as in Deno's manual.

/** Echoes on a reused 64 KiB buffer until the client closes or resets. */
export async function echo(conn: Deno.Conn): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  try {
    while (true) {
      const n = await conn.read(buffer);
      if (n === null) break;
      for (let off = 0; off < n;) {
        off += await conn.write(buffer.subarray(off, n));
      }
    }
  } catch {
    // A reset by the client, or a failed TLS handshake, ends the connection.
  } finally {
    conn.close();
  }
}

const GREETING = new TextEncoder().encode("Hello, world!\n");

/** Writes the 14-byte greeting and closes. */
export async function hello(conn: Deno.Conn): Promise<void> {
  try {
    for (let off = 0; off < GREETING.length;) {
      off += await conn.write(GREETING.subarray(off));
    }
  } catch {
    // A reset by the client, or a failed TLS handshake, ends the connection.
  } finally {
    conn.close();
  }
}
