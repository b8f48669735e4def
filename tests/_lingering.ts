// The lingering-close check that the engine's tests and the adopted
// connections' tests share: a reply larger than the socket buffers, sent
// after input the handler never reads, must reach the client whole.

import { serve } from "../server.ts";
import { delay, within } from "./_helpers.ts";

/** The reply of the lingering tests: larger than the socket buffers, so that most of it is still in flight when the handler returns. */
export const LARGE_REPLY_BYTES = 4 * 1024 * 1024;

/** Input that the handler of the lingering tests never reads. */
export const UNREAD_BYTES = 64 * 1024;

/**
 * Serves a handler that writes a 4 MiB reply without reading the 64 KiB its
 * client sent first, and returns how many bytes of the reply the client
 * read before the end of the stream or a reset. The client reads slowly, so
 * that much of the reply is still in flight when the handler returns: a
 * reset then drops it.
 */
export async function replyAfterUnreadInput(
  listener: Deno.Listener,
  dial: (addr: Deno.Addr) => Promise<Deno.Conn>,
): Promise<number> {
  const sent = Promise.withResolvers<void>();
  const reply = new Uint8Array(LARGE_REPLY_BYTES).fill(42);
  await using server = serve(listener, async (conn) => {
    await sent.promise;
    for (let offset = 0; offset < reply.length;) {
      offset += await conn.write(reply.subarray(offset));
    }
  });
  using client = await dial(server.addr);
  const unread = new Uint8Array(UNREAD_BYTES).fill(7);
  for (let offset = 0; offset < unread.length;) {
    offset += await client.write(unread.subarray(offset));
  }
  sent.resolve();
  const buffer = new Uint8Array(64 * 1024);
  let received = 0;
  for (let i = 0; i <= LARGE_REPLY_BYTES; i++) {
    let n: number | null;
    try {
      n = await within(client.read(buffer), "the reply");
    } catch (error) {
      if (error instanceof Deno.errors.ConnectionReset) break;
      throw error;
    }
    if (n === null) break;
    received += n;
    await delay(2);
  }
  return received;
}
