/**
 * Messages with descriptors over a Unix stream socket this module owns:
 * `sendmsg(2)` and `recvmsg(2)` with `SCM_RIGHTS` control data, waiting on
 * the one poller (`_poller.ts`) when the socket would block.
 *
 * A message is a 4-byte big-endian length, the payload, and the
 * descriptors, attached to the first byte of the length: a reader that
 * reads the length first gets the descriptors with it, and never those of
 * the next message (the kernel stops a read at a socket buffer that carries
 * descriptors).
 *
 * @module
 */

import {
  addressOf,
  closeQuietly,
  EAGAIN,
  EINTR,
  errno,
  type Libc,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  osError,
  POLLIN,
  POLLOUT,
  SCM_RIGHTS,
  SOL_SOCKET,
} from "./_libc.ts";
import { ready } from "./_poller.ts";

/**
 * The most descriptors in one message: Linux's `SCM_MAX_FD`.
 *
 * @example Send many descriptors in batches the kernel accepts
 * ```ts
 * import { DescriptorChannel, MAX_DESCRIPTORS, socketPair } from "@sockets/net/fd";
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals(MAX_DESCRIPTORS, 253);
 * using channel = DescriptorChannel.pair();
 * const [a, b] = socketPair();
 * const many = Array.from({ length: MAX_DESCRIPTORS + 1 }, () => a);
 * for (let i = 0; i < many.length; i += MAX_DESCRIPTORS) {
 *   await channel[0].send(new Uint8Array([i]), many.slice(i, i + MAX_DESCRIPTORS));
 * }
 * a.close();
 * b.close();
 * let received = 0;
 * while (received < many.length) {
 *   const message = await channel[1].receive();
 *   received += message!.descriptors.length;
 *   for (const descriptor of message!.descriptors) descriptor.close();
 * }
 * assertEquals(received, MAX_DESCRIPTORS + 1);
 * ```
 */
export const MAX_DESCRIPTORS = 253;
/**
 * The largest payload a message may carry: 16 MiB, as a bound on what a
 * peer can make a reader buffer, far above any control message.
 *
 * @example A payload over the limit is refused before anything is sent
 * ```ts
 * import { DescriptorChannel, MAX_PAYLOAD_BYTES } from "@sockets/net/fd";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * assertEquals(MAX_PAYLOAD_BYTES, 16 * 1024 * 1024);
 * using channel = DescriptorChannel.pair();
 * await assertRejects(() => channel[0].send(new Uint8Array(MAX_PAYLOAD_BYTES + 1)));
 * ```
 */
export const MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;
/** The length of a message's header: a 32-bit big-endian payload length. */
export const HEADER_BYTES = 4;

/** `sizeof(struct msghdr)` on 64-bit Linux. */
const MSGHDR_SIZE = 56;
/** `sizeof(struct iovec)` on 64-bit Linux: `void *base; size_t len`. */
const IOVEC_SIZE = 16;
/** `sizeof(struct cmsghdr)` on 64-bit Linux: `size_t len; int level; int type`. */
const CMSGHDR_SIZE = 16;
/** `CMSG_SPACE` for the most descriptors: the header, then the ints, 8-aligned. */
const CONTROL_SIZE = CMSGHDR_SIZE + Math.ceil((MAX_DESCRIPTORS * 4) / 8) * 8;

/**
 * A `struct msghdr` over one buffer, with room for control data. Its
 * `struct iovec` lives in the same allocation, after it: the header holds
 * only the iovec's address, so a separate iovec could be collected before
 * the call that reads it.
 */
function header(
  c: Libc,
  data: Uint8Array<ArrayBuffer>,
  control: Uint8Array<ArrayBuffer> | undefined,
): Uint8Array {
  const msg = new Uint8Array(MSGHDR_SIZE + IOVEC_SIZE);
  const view = new DataView(msg.buffer);
  view.setBigUint64(
    MSGHDR_SIZE,
    data.byteLength === 0 ? 0n : addressOf(c, data),
    true,
  );
  view.setBigUint64(MSGHDR_SIZE + 8, BigInt(data.byteLength), true);
  view.setBigUint64(16, addressOf(c, msg) + BigInt(MSGHDR_SIZE), true);
  view.setBigUint64(24, 1n, true);
  if (control !== undefined) {
    view.setBigUint64(32, addressOf(c, control), true);
    view.setBigUint64(40, BigInt(control.byteLength), true);
  }
  return msg;
}

/**
 * Sends `payload` with `descriptors` (duplicated by the kernel: the caller
 * keeps its own).
 */
export async function sendMessage(
  c: Libc,
  fd: number,
  payload: Uint8Array,
  descriptors: readonly number[],
  what: string,
): Promise<void> {
  if (descriptors.length > MAX_DESCRIPTORS) {
    throw new RangeError(
      `${what}: ${descriptors.length} descriptors in one message, more than Linux's limit of ${MAX_DESCRIPTORS} (SCM_MAX_FD); send them in several messages`,
    );
  }
  if (payload.byteLength > MAX_PAYLOAD_BYTES) {
    throw new RangeError(
      `${what}: a payload of ${payload.byteLength} bytes, more than the limit of ${MAX_PAYLOAD_BYTES}; split it`,
    );
  }
  const frame = new Uint8Array(HEADER_BYTES + payload.byteLength);
  new DataView(frame.buffer).setUint32(0, payload.byteLength);
  frame.set(payload, HEADER_BYTES);
  let control: Uint8Array<ArrayBuffer> | undefined;
  if (descriptors.length > 0) {
    const length = CMSGHDR_SIZE + 4 * descriptors.length;
    control = new Uint8Array(Math.ceil(length / 8) * 8);
    const view = new DataView(control.buffer);
    view.setBigUint64(0, BigInt(length), true);
    view.setInt32(8, SOL_SOCKET, true);
    view.setInt32(12, SCM_RIGHTS, true);
    descriptors.forEach((descriptor, index) =>
      view.setInt32(CMSGHDR_SIZE + 4 * index, descriptor, true)
    );
  }
  let sent = 0;
  while (sent < frame.byteLength) {
    const rest = frame.subarray(sent);
    const msg = header(c, rest, control);
    const result = Number(
      c.sendmsg(fd, msg, MSG_DONTWAIT | MSG_NOSIGNAL),
    );
    if (result >= 0) {
      sent += result;
      control = undefined;
      continue;
    }
    const code = errno(c);
    if (code === EINTR) continue;
    if (code !== EAGAIN) throw osError(`${what}: sendmsg`, code);
    await ready(fd, POLLOUT);
  }
}

/** A message as received: the payload and the descriptors it carried. */
export interface RawMessage {
  payload: Uint8Array;
  /** Open descriptors, close-on-exec, now owned by the receiver. */
  descriptors: number[];
}

/** Reads into `data` once, collecting descriptors; 0 at the end of the stream. */
async function receiveSome(
  c: Libc,
  fd: number,
  data: Uint8Array<ArrayBuffer>,
  descriptors: number[],
  what: string,
  signal: AbortSignal | undefined,
  progress: ReceiveProgress,
): Promise<number> {
  const control = new Uint8Array(CONTROL_SIZE);
  for (;;) {
    const msg = header(c, data, control);
    const result = Number(
      c.recvmsg(fd, msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC),
    );
    if (result < 0) {
      const code = errno(c);
      if (code === EINTR) continue;
      if (code !== EAGAIN) throw osError(`${what}: recvmsg`, code);
      // On an error or hang-up too, the next recvmsg reports what happened.
      await ready(fd, POLLIN, signal);
      continue;
    }
    // Counted before any check: the bytes are gone from the socket.
    progress.bytes += result;
    const view = new DataView(msg.buffer);
    const controlLength = Number(view.getBigUint64(40, true));
    const flags = view.getInt32(48, true);
    const controlView = new DataView(control.buffer);
    let offset = 0;
    while (offset + CMSGHDR_SIZE <= controlLength) {
      const length = Number(controlView.getBigUint64(offset, true));
      if (length < CMSGHDR_SIZE) break;
      const level = controlView.getInt32(offset + 8, true);
      const type = controlView.getInt32(offset + 12, true);
      if (level === SOL_SOCKET && type === SCM_RIGHTS) {
        for (let at = CMSGHDR_SIZE; at + 4 <= length; at += 4) {
          descriptors.push(controlView.getInt32(offset + at, true));
        }
      }
      offset += Math.ceil(length / 8) * 8;
    }
    if ((flags & MSG_CTRUNC) !== 0) {
      for (const descriptor of descriptors) closeQuietly(c, descriptor);
      const count = descriptors.length;
      descriptors.length = 0;
      throw new Deno.errors.InvalidData(
        `${what}: recvmsg: the control data was truncated (MSG_CTRUNC): the peer sent more than ${MAX_DESCRIPTORS} descriptors or other control data, and some were lost; the ${count} received were closed`,
      );
    }
    return result;
  }
}

/** How far a receive got into its message, for a caller to tell when it fails. */
export interface ReceiveProgress {
  /** The bytes of the message taken from the socket so far. */
  bytes: number;
}

/**
 * Receives one message, or `null` at the end of the stream between
 * messages. On any error, the descriptors received so far are closed; if
 * `progress.bytes` is then above 0, the stream is no longer at the start
 * of a message.
 */
export async function receiveMessage(
  c: Libc,
  fd: number,
  what: string,
  signal?: AbortSignal,
  progress: ReceiveProgress = { bytes: 0 },
): Promise<RawMessage | null> {
  const descriptors: number[] = [];
  try {
    const head = new Uint8Array(HEADER_BYTES);
    let got = 0;
    while (got < HEADER_BYTES) {
      const n = await receiveSome(
        c,
        fd,
        head.subarray(got),
        descriptors,
        what,
        signal,
        progress,
      );
      if (n === 0) {
        if (got === 0 && descriptors.length === 0) return null;
        throw new Deno.errors.UnexpectedEof(
          `${what}: the peer closed in the middle of a message header`,
        );
      }
      got += n;
    }
    const length = new DataView(head.buffer).getUint32(0);
    if (length > MAX_PAYLOAD_BYTES) {
      throw new Deno.errors.InvalidData(
        `${what}: a message announces ${length} bytes, more than the limit of ${MAX_PAYLOAD_BYTES}; the peer does not speak this framing (a 4-byte big-endian length, then the payload)`,
      );
    }
    const payload = new Uint8Array(length);
    got = 0;
    while (got < length) {
      const n = await receiveSome(
        c,
        fd,
        payload.subarray(got),
        descriptors,
        what,
        signal,
        progress,
      );
      if (n === 0) {
        throw new Deno.errors.UnexpectedEof(
          `${what}: the peer closed after ${got} of a message's ${length} bytes`,
        );
      }
      got += n;
    }
    return { payload, descriptors };
  } catch (error) {
    for (const descriptor of descriptors) closeQuietly(c, descriptor);
    throw error;
  }
}
