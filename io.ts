/**
 * Helpers for byte streams such as a `Deno.Conn`: the loops that every
 * socket program writes, with the edge cases and the limits done once.
 *
 * - {@linkcode writeAll} writes a whole buffer, however few bytes each
 *   `write()` takes.
 * - {@linkcode readExactly} reads exactly _n_ bytes, or says how many came
 *   before the stream ended.
 * - {@linkcode copy} moves everything from a reader to a writer through a
 *   buffer that stays small while the stream idles and grows to 64 KiB while
 *   it carries bulk data.
 * - {@linkcode lines} yields text lines (`"\n"` or `"\r\n"`), and
 *   {@linkcode frames} / {@linkcode writeFrame} read and write
 *   length-prefixed messages; both have a size limit, so a peer can never
 *   make them buffer without bound.
 *
 * They take any object with the right method ({@linkcode Reader},
 * {@linkcode Writer}): a `Deno.Conn`, a `Deno.FsFile`, `Deno.stdin`, or a
 * fake in a test.
 *
 * Errors tell whose fault they are: a bad argument is a `TypeError` or a
 * `RangeError`; a stream that ends in the middle of something is
 * `Deno.errors.UnexpectedEof`; a peer that exceeds a limit is
 * `Deno.errors.InvalidData`; a writer that accepts nothing is
 * `Deno.errors.WriteZero`.
 *
 * ```ts
 * import { lines, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeAll(client, new TextEncoder().encode("PING\r\nQUIT\r\n"));
 * await client.closeWrite();
 *
 * const replies: string[] = [];
 * for await (const line of lines(server)) replies.push(`+${line}`);
 * assertEquals(replies, ["+PING", "+QUIT"]);
 * ```
 *
 * @module
 */

// First, so that an older Deno stops here with the version it needs.
import "./_deno_version.ts";

import { AdaptiveBuffer, MAX_BUFFER_SIZE } from "./_buffer.ts";
import { markInputEnded } from "./_input_end.ts";
import {
  assertCount,
  assertKnownOptions,
  assertOptions,
  assertSignal,
  show,
} from "./_validate.ts";

/**
 * A source of bytes, as a `Deno.Conn`, a `Deno.FsFile` or `Deno.stdin`:
 * `read(p)` puts up to `p.length` bytes into `p` and resolves to how many,
 * or to `null` at the end of the stream.
 *
 * @example A reader over bytes in memory, as a test would fake one
 * ```ts
 * import { type Reader, readExactly } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * function readerOf(data: Uint8Array): Reader {
 *   let offset = 0;
 *   return {
 *     read(p) {
 *       if (offset === data.length) return Promise.resolve(null);
 *       const n = Math.min(p.length, data.length - offset);
 *       p.set(data.subarray(offset, offset + n));
 *       offset += n;
 *       return Promise.resolve(n);
 *     },
 *   };
 * }
 *
 * const reader = readerOf(new Uint8Array([1, 2, 3]));
 * assertEquals(await readExactly(reader, 3), new Uint8Array([1, 2, 3]));
 * assertEquals(await readExactly(reader, 3), null);
 * ```
 */
export interface Reader {
  /**
   * Reads up to `p.length` bytes into `p`.
   *
   * @param p The buffer to fill.
   * @returns How many bytes were read, or `null` at the end of the stream.
   */
  read(p: Uint8Array): Promise<number | null>;
}

/**
 * A sink for bytes, as a `Deno.Conn`, a `Deno.FsFile` or `Deno.stdout`:
 * `write(p)` writes some of `p`, at least one byte, and resolves to how
 * many. Use {@linkcode writeAll} to write all of it.
 *
 * @example A writer that collects bytes in memory, as a test would fake one
 * ```ts
 * import { type Writer, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * const chunks: Uint8Array[] = [];
 * const writer: Writer = {
 *   write(p) {
 *     chunks.push(p.slice(0, 2)); // takes at most two bytes a call
 *     return Promise.resolve(Math.min(p.length, 2));
 *   },
 * };
 *
 * await writeAll(writer, new Uint8Array([1, 2, 3, 4, 5]));
 * assertEquals(chunks.length, 3);
 * ```
 */
export interface Writer {
  /**
   * Writes some of `p`.
   *
   * @param p The bytes to write.
   * @returns How many bytes of `p` were written, from 1 to `p.length`.
   */
  write(p: Uint8Array): Promise<number>;
}

/**
 * The default of {@linkcode LinesOptions.maxLineLength}: 64 KiB, as Go's
 * `bufio.Scanner` (`MaxScanTokenSize`); far above any line-based protocol's
 * own limit (SMTP: 1000 bytes, HTTP/1.1 request lines: 8 KiB in practice).
 */
const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

/**
 * The default of {@linkcode FrameOptions.maxFrameSize}: 8 MiB, the default
 * of tokio-util's `LengthDelimitedCodec`.
 */
const DEFAULT_MAX_FRAME_SIZE = 8 * 1024 * 1024;

/**
 * The default of {@linkcode ReadExactlyOptions.maxLength}: 8 MiB, the same
 * as {@linkcode FrameOptions.maxFrameSize} (tokio-util's
 * `LengthDelimitedCodec`), since a length read from the peer is a frame
 * header by another name.
 */
const DEFAULT_MAX_LENGTH = DEFAULT_MAX_FRAME_SIZE;

/** A frame header is the payload length as a 4-byte big-endian unsigned integer. */
const FRAME_HEADER_SIZE = 4;

/** The largest length a 4-byte header can declare. */
const MAX_FRAME_LENGTH = 0xffff_ffff;

/**
 * Payloads up to this size are copied behind their header and written with
 * one `write()`: copying 64 KiB costs less than a second system call, and a
 * header sent alone can hold the payload back by a delayed ACK (Nagle).
 */
const COALESCE_LIMIT = MAX_BUFFER_SIZE;

/**
 * Reads in a row that may return 0 bytes before a reader counts as stuck:
 * the limit of Go's `bufio.Reader` (`maxConsecutiveEmptyReads`).
 */
const MAX_EMPTY_READS = 100;

const LF = 0x0a;
const CR = 0x0d;

function assertReader(reader: unknown): asserts reader is Reader {
  if (typeof (reader as Partial<Reader> | null)?.read !== "function") {
    throw new TypeError(
      `Invalid reader ${
        show(reader)
      }: pass an object with a read(buffer) method, such as a Deno.Conn`,
    );
  }
}

function assertWriter(writer: unknown): asserts writer is Writer {
  if (typeof (writer as Partial<Writer> | null)?.write !== "function") {
    throw new TypeError(
      `Invalid writer ${
        show(writer)
      }: pass an object with a write(bytes) method, such as a Deno.Conn`,
    );
  }
}

function assertBytes(
  value: unknown,
  name: string,
): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw new TypeError(
      `Invalid ${name} ${
        show(value)
      }: pass a Uint8Array (encode text with new TextEncoder().encode(text))`,
    );
  }
}

/** Throws unless a reader's result is a byte count that fits the buffer. */
function checkRead(n: unknown, offered: number): asserts n is number {
  if (typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= offered) {
    return;
  }
  throw new RangeError(
    `reader.read() returned ${
      show(n)
    } for a ${offered}-byte buffer: a Reader resolves to the number of bytes it put in the buffer (0 to ${offered}), or to null at the end of the stream`,
  );
}

function noProgress(): Error {
  return new Error(
    `reader.read() returned 0 bytes ${MAX_EMPTY_READS} times in a row: a Reader waits until it has at least one byte, or resolves to null at the end of the stream`,
  );
}

/** Throws unless a writer's result is a byte count from 1 to `offered`. */
function checkWrite(n: unknown, offered: number): asserts n is number {
  if (typeof n === "number" && Number.isInteger(n) && n >= 1 && n <= offered) {
    return;
  }
  if (n === 0) {
    throw new Deno.errors.WriteZero(
      `writer.write() accepted 0 of ${offered} bytes: a Writer writes at least one byte or throws`,
    );
  }
  throw new RangeError(
    `writer.write() returned ${
      show(n)
    } for ${offered} bytes: a Writer resolves to the number of bytes it wrote, 1 to ${offered}`,
  );
}

/** One read that made progress: at least one byte, or `null` at the end. */
async function readSome(reader: Reader, p: Uint8Array): Promise<number | null> {
  for (let empty = 0; empty < MAX_EMPTY_READS; empty++) {
    const n = await reader.read(p);
    if (n === null) {
      markInputEnded(reader);
      return null;
    }
    checkRead(n, p.length);
    if (n > 0) return n;
  }
  throw noProgress();
}

/** Writes `data` from offset `written` on, with {@linkcode writeAll}'s checks. */
async function writeFrom(
  writer: Writer,
  data: Uint8Array,
  written: number,
): Promise<void> {
  while (written < data.length) {
    const rest = written === 0 ? data : data.subarray(written);
    const n = await writer.write(rest);
    checkWrite(n, rest.length);
    written += n;
  }
}

/**
 * Writes all of `data`, calling `writer.write()` until every byte is taken:
 * a single `write()` on a socket may take only part of a buffer.
 *
 * A writer that takes no bytes is an error, never an endless loop.
 *
 * @param writer Where to write, such as a `Deno.Conn`.
 * @param data The bytes to write.
 * @returns A promise that resolves once every byte is written.
 * @throws {TypeError} If `writer` has no `write()` method or `data` is not a
 * `Uint8Array`.
 * @throws {Deno.errors.WriteZero} If `writer.write()` takes 0 bytes.
 * @throws {RangeError} If `writer.write()` returns something other than a
 * byte count from 1 to the length it was given.
 *
 * @example Sending a message over TCP
 * ```ts
 * import { readExactly, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * const message = new TextEncoder().encode("hello, world");
 * await writeAll(client, message);
 * assertEquals(await readExactly(server, message.length), message);
 * ```
 */
export function writeAll(writer: Writer, data: Uint8Array): Promise<void> {
  // Not async: one suspended frame per reply (writeFrom's), not two.
  try {
    assertWriter(writer);
    assertBytes(data, "data");
  } catch (error) {
    return Promise.reject(error);
  }
  return writeFrom(writer, data, 0);
}

/**
 * Options for {@linkcode readExactly} with a length.
 *
 * @example A length prefix read from the peer, with a bound
 * ```ts
 * import { readExactly, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeAll(client, new Uint8Array([0, 0, 0, 3, 7, 8, 9]));
 * const header = await readExactly(server, 4);
 * const length = new DataView(header!.buffer).getUint32(0);
 * const body = await readExactly(server, length, { maxLength: 64 * 1024 });
 * assertEquals(body, new Uint8Array([7, 8, 9]));
 * ```
 */
export interface ReadExactlyOptions {
  /**
   * The largest `length` accepted, in bytes; a larger one is rejected before
   * anything is read. `Infinity` accepts any length.
   *
   * @default {8 * 1024 * 1024}
   */
  maxLength?: number;
}

/**
 * Reads exactly `length` bytes into a new buffer, calling `reader.read()`
 * until they are all there. To fill a buffer you already have, pass it in
 * place of the length.
 *
 * When the stream ends before the first byte, the result is `null`, as
 * `reader.read()` itself reports the end: a loop that reads fixed-size
 * records ends cleanly on it. When the stream ends after some bytes but
 * before all of them, that is an error which says how many came. Reading 0
 * bytes returns an empty buffer at once, without a read.
 *
 * The length is often read from the peer, so it is never trusted with an
 * allocation: the buffer grows as bytes arrive (a peer that claims 4 GiB and
 * sends 10 bytes costs about 64 KiB), and a length above `maxLength` is
 * refused before anything is read.
 *
 * @param reader Where to read from, such as a `Deno.Conn`.
 * @param length The number of bytes to read.
 * @param options The largest length accepted.
 * @returns A new buffer of `length` bytes, or `null` if the stream ended
 * before the first byte.
 * @throws {TypeError} If `reader` has no `read()` method, or `length` is
 * neither a number nor a `Uint8Array`.
 * @throws {RangeError} If `length` is not an integer of 0 or more, if
 * `maxLength` is not a positive integer or `Infinity`, or if `reader.read()`
 * returns something other than a byte count or `null`.
 * @throws {Deno.errors.InvalidData} If `length` is more than `maxLength`.
 * @throws {Deno.errors.UnexpectedEof} If the stream ends after the first byte
 * and before the last.
 *
 * @example Reading a fixed-size header
 * ```ts
 * import { readExactly, writeAll } from "@sockets/net/io";
 * import { assertEquals, assertRejects } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeAll(client, new Uint8Array([0xca, 0xfe, 1, 2, 3]));
 * await client.closeWrite();
 *
 * assertEquals(await readExactly(server, 2), new Uint8Array([0xca, 0xfe]));
 * // Only 3 of the 4 bytes asked for arrive before the end of the stream.
 * await assertRejects(
 *   () => readExactly(server, new Uint8Array(4)),
 *   Deno.errors.UnexpectedEof,
 *   "after 3 of 4 bytes",
 * );
 * ```
 *
 * @example Reading records until the end of the stream
 * ```ts
 * import { readExactly, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeAll(client, new Uint8Array([1, 1, 2, 2, 3, 3]));
 * await client.closeWrite();
 *
 * const records: number[][] = [];
 * let record;
 * while ((record = await readExactly(server, 2)) !== null) {
 *   records.push([...record]);
 * }
 * assertEquals(records, [[1, 1], [2, 2], [3, 3]]);
 * ```
 *
 * @example Refusing a length the peer claims
 * ```ts
 * import { readExactly, writeAll } from "@sockets/net/io";
 * import { assertRejects } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * // The peer claims a body of 4 GiB - 1 bytes.
 * await writeAll(client, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
 * const header = await readExactly(server, 4);
 * const length = new DataView(header!.buffer).getUint32(0);
 * await assertRejects(
 *   () => readExactly(server, length, { maxLength: 1024 * 1024 }),
 *   Deno.errors.InvalidData,
 *   "4294967295 bytes, more than maxLength (1048576 bytes)",
 * );
 * ```
 */
export function readExactly(
  reader: Reader,
  length: number,
  options?: ReadExactlyOptions,
): Promise<Uint8Array<ArrayBuffer> | null>;
/**
 * Fills `buffer` from `reader`, as {@linkcode readExactly} with a length does
 * with a new buffer.
 *
 * @typeParam T The type of the buffer, which the result keeps.
 * @param reader Where to read from, such as a `Deno.Conn`.
 * @param buffer The buffer to fill.
 * @returns `buffer`, filled, or `null` if the stream ended before the first
 * byte.
 * @throws {TypeError} If `reader` has no `read()` method.
 * @throws {RangeError} If `reader.read()` returns something other than a
 * byte count or `null`.
 * @throws {Deno.errors.UnexpectedEof} If the stream ends after the first byte
 * and before the last.
 *
 * @example Filling a buffer that is reused for every record
 * ```ts
 * import { readExactly, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeAll(client, new Uint8Array([1, 2, 3, 4]));
 * await client.closeWrite();
 *
 * const record = new Uint8Array(2);
 * let sum = 0;
 * while (await readExactly(server, record) !== null) sum += record[0] * record[1];
 * assertEquals(sum, 1 * 2 + 3 * 4);
 * ```
 */
export function readExactly<T extends Uint8Array>(
  reader: Reader,
  buffer: T,
): Promise<T | null>;
export async function readExactly(
  reader: Reader,
  buffer: Uint8Array | number,
  options: ReadExactlyOptions = {},
): Promise<Uint8Array | null> {
  assertReader(reader);
  if (buffer instanceof Uint8Array) return await fill(reader, buffer);
  if (typeof buffer !== "number") {
    throw new TypeError(
      `Invalid buffer ${
        show(buffer)
      }: pass a Uint8Array to fill, or the number of bytes to read`,
    );
  }
  if (!(Number.isSafeInteger(buffer) && buffer >= 0)) {
    throw new RangeError(
      `Invalid length ${buffer}: pass a whole number of bytes, 0 or more`,
    );
  }
  assertOptions(options);
  assertKnownOptions(options, ["maxLength"]);
  const { maxLength = DEFAULT_MAX_LENGTH } = options;
  assertCount(maxLength, "maxLength");
  if (buffer > maxLength) {
    throw new Deno.errors.InvalidData(
      `readExactly(): a length of ${buffer} bytes, more than maxLength (${maxLength} bytes), was refused before reading; raise maxLength if lengths this large are expected`,
    );
  }
  return await grow(
    reader,
    buffer,
    new Uint8Array(),
    (filled) => filled === 0 ? null : endedEarly(filled, buffer),
  );
}

function endedEarly(filled: number, length: number): Error {
  return new Deno.errors.UnexpectedEof(
    `readExactly(): the stream ended after ${filled} of ${length} bytes`,
  );
}

async function fill<T extends Uint8Array>(
  reader: Reader,
  target: T,
): Promise<T | null> {
  let filled = 0;
  while (filled < target.length) {
    const n = await readSome(reader, target.subarray(filled));
    if (n === null) {
      if (filled === 0) return null;
      throw endedEarly(filled, target.length);
    }
    filled += n;
  }
  return target;
}

/**
 * Reads `length` bytes into a buffer that doubles as bytes arrive, from the
 * bytes already at hand (`first`) or 64 KiB up to `length`: a length the peer
 * claims never reserves memory that the peer has not filled. At the end of
 * the stream, `ended(filled)` says what to throw, or `null` to return `null`.
 */
async function grow(
  reader: Reader,
  length: number,
  first: Uint8Array,
  ended: (filled: number) => Error | null,
): Promise<Uint8Array<ArrayBuffer> | null> {
  let target = new Uint8Array(
    Math.min(length, Math.max(first.length, MAX_BUFFER_SIZE)),
  );
  target.set(first);
  let filled = first.length;
  while (filled < length) {
    if (filled === target.length) {
      const grown = new Uint8Array(Math.min(target.length * 2, length));
      grown.set(target);
      target = grown;
    }
    const n = await readSome(reader, target.subarray(filled));
    if (n === null) {
      const error = ended(filled);
      if (error === null) return null;
      throw error;
    }
    filled += n;
  }
  return target;
}

/**
 * Options for {@linkcode copy}.
 *
 * @example A copy bounded by the connection's lifetime
 * ```ts
 * import { copy, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * const controller = new AbortController();
 * await writeAll(client, new TextEncoder().encode("ping"));
 * await client.closeWrite();
 * const copied = await copy(server, server, { signal: controller.signal });
 * assertEquals(copied, 4);
 * await server.closeWrite();
 * assertEquals(await new Response(client.readable).text(), "ping");
 * ```
 */
export interface CopyOptions {
  /**
   * Stops the copy: it is checked before every read, and the copy rejects
   * with the signal's reason. A read already waiting for a silent peer
   * finishes first (its bytes are written); close the reader to stop at
   * once.
   *
   * @default {undefined}
   */
  signal?: AbortSignal;
}

/**
 * Copies everything from `reader` to `writer` until the reader's end, and
 * returns how many bytes it copied. It does not close either side: call
 * `closeWrite()` or `close()` after it as the protocol needs.
 *
 * The copy reads into one reused buffer that starts at 128 bytes, doubles after
 * each read that fills it, up to 64 KiB, and shrinks back after a few small
 * reads: an idle connection holds little memory, and a bulk transfer gets
 * large reads. Each read is written in full before the next read.
 *
 * @param reader Where to read from, such as a `Deno.Conn`.
 * @param writer Where to write, such as another `Deno.Conn`.
 * @param options Options for the copy.
 * @returns The number of bytes copied.
 * @throws {TypeError} If `reader` has no `read()` method, `writer` has no
 * `write()` method, or `options.signal` is not an `AbortSignal`.
 * @throws {Deno.errors.WriteZero} If `writer.write()` takes 0 bytes.
 * @throws {RangeError} If `reader.read()` or `writer.write()` returns
 * something other than a byte count that fits.
 *
 * @example An echo server's connection handler
 * ```ts
 * import { copy, readExactly, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * // The server sends back everything until the client closes its side.
 * const echoed = copy(server, server);
 *
 * const message = new TextEncoder().encode("ping");
 * await writeAll(client, message);
 * assertEquals(await readExactly(client, message.length), message);
 * await client.closeWrite();
 * assertEquals(await echoed, message.length);
 * ```
 *
 * @example Stopping a copy with a signal
 * ```ts
 * import { copy } from "@sockets/net/io";
 * import { assertRejects } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await assertRejects(
 *   () => copy(server, client, { signal: AbortSignal.abort() }),
 *   DOMException,
 *   "aborted",
 * );
 * ```
 */
export async function copy(
  reader: Reader,
  writer: Writer,
  options: CopyOptions = {},
): Promise<number> {
  assertReader(reader);
  assertWriter(writer);
  assertOptions(options);
  assertKnownOptions(options, ["signal"]);
  const { signal } = options;
  assertSignal(signal);

  // The hot path of proxies and servers: nothing is allocated per read
  // except the read itself. A short read is written through a view of the
  // buffer, kept while reads keep that length, so a steady stream of
  // equal-sized messages (an echo, a request-reply protocol) makes no new
  // view per read.
  const policy = new AdaptiveBuffer();
  let view: Uint8Array<ArrayBuffer> = policy.buffer;
  let copied = 0;
  let emptyReads = 0;
  while (true) {
    signal?.throwIfAborted();
    const buffer = policy.buffer;
    const n = await reader.read(buffer);
    if (n === null) {
      markInputEnded(reader);
      return copied;
    }
    checkRead(n, buffer.length);
    if (n === 0) {
      if (++emptyReads === MAX_EMPTY_READS) throw noProgress();
      continue;
    }
    emptyReads = 0;
    let chunk = buffer;
    if (n < buffer.length) {
      // Each buffer size has its own ArrayBuffer, so this also sees a resize.
      if (view.length !== n || view.buffer !== buffer.buffer) {
        view = buffer.subarray(0, n);
      }
      chunk = view;
    }
    const written = await writer.write(chunk);
    checkWrite(written, n);
    if (written < n) await writeFrom(writer, chunk, written);
    copied += n;
    policy.record(n);
  }
}

/**
 * Options for {@linkcode lines}.
 *
 * @example Short command lines, as SMTP's 512-byte limit
 * ```ts
 * import { lines, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeAll(client, new TextEncoder().encode("NOOP\r\nQUIT\r\n"));
 * await client.closeWrite();
 * const commands = [];
 * for await (const line of lines(server, { maxLineLength: 512 })) {
 *   commands.push(line);
 * }
 * assertEquals(commands, ["NOOP", "QUIT"]);
 * ```
 */
export interface LinesOptions {
  /**
   * The longest line accepted, in bytes of UTF-8, not counting its `"\n"` or
   * `"\r\n"`. A longer line is an error as soon as it is seen, so the
   * buffer never holds more than this or 64 KiB, whichever is larger.
   * `Infinity` removes the limit, and with it the bound on memory.
   *
   * @default {65536}
   */
  maxLineLength?: number;
}

function lineTooLong(max: number): Error {
  return new Deno.errors.InvalidData(
    `lines(): a line is longer than maxLineLength (${max} bytes); raise maxLineLength if lines this long are expected`,
  );
}

/**
 * Reads text lines from `reader` as they arrive. A line ends with `"\n"` or
 * `"\r\n"`, which is not part of it; a last line without a newline is
 * yielded too; a lone `"\r"` inside a line is kept. Bytes are decoded as
 * UTF-8 (a character split across reads is put together; invalid bytes
 * become U+FFFD).
 *
 * Lines are read ahead: after breaking out of the loop, the reader has
 * consumed bytes past the last line yielded. After an error the stream is
 * out of step; close it.
 *
 * @param reader Where to read from, such as a `Deno.Conn`.
 * @param options Options for reading lines.
 * @returns The lines, in order, without their line endings.
 * @throws {TypeError} If `reader` has no `read()` method or an option has
 * the wrong type.
 * @throws {RangeError} If `maxLineLength` is not a positive integer or
 * `Infinity`.
 * @throws {Deno.errors.InvalidData} While iterating, if a line is longer
 * than `maxLineLength`.
 *
 * @example A line-based protocol
 * ```ts
 * import { lines, writeAll } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * const text = "HELO example.com\r\nNOOP\nQUIT";
 * await writeAll(client, new TextEncoder().encode(text));
 * await client.closeWrite();
 *
 * const commands: string[] = [];
 * for await (const line of lines(server)) commands.push(line);
 * assertEquals(commands, ["HELO example.com", "NOOP", "QUIT"]);
 * ```
 *
 * @example A peer that sends a line too long
 * ```ts
 * import { lines, writeAll } from "@sockets/net/io";
 * import { assertRejects } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeAll(client, new TextEncoder().encode("x".repeat(2000) + "\n"));
 * await client.closeWrite();
 *
 * await assertRejects(
 *   async () => {
 *     for await (const _ of lines(server, { maxLineLength: 1000 })) {
 *       // never reached
 *     }
 *   },
 *   Deno.errors.InvalidData,
 *   "maxLineLength (1000 bytes)",
 * );
 * ```
 */
export function lines(
  reader: Reader,
  options: LinesOptions = {},
): AsyncIterableIterator<string> {
  assertReader(reader);
  assertOptions(options);
  assertKnownOptions(options, ["maxLineLength"]);
  const { maxLineLength = DEFAULT_MAX_LINE_LENGTH } = options;
  assertCount(maxLineLength, "maxLineLength");
  return readLines(reader, maxLineLength);
}

async function* readLines(
  reader: Reader,
  max: number,
): AsyncGenerator<string, void, undefined> {
  // Network text has no byte-order mark to strip: keep every byte's meaning.
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true });
  // Reads go into the adaptive buffer, which grows while lines stream in
  // bulk; a part-line too long for it moves to a buffer of its own, which
  // doubles (so a long line costs linear time) up to the longest line, its
  // "\r" and its "\n".
  const policy = new AdaptiveBuffer();
  const capacity = max + 2;
  let buffer = policy.buffer;
  let start = 0;
  let end = 0;
  while (true) {
    const pending = end - start;
    let next = policy.buffer;
    if (pending >= next.length) {
      // At most max + 1 bytes are pending (checked below), so the capacity
      // always leaves room for one more byte.
      next = buffer.length > pending
        ? buffer
        : new Uint8Array(Math.min(pending * 2, capacity));
    }
    if (next !== buffer) {
      next.set(buffer.subarray(start, end));
    } else if (start > 0) {
      buffer.copyWithin(0, start, end);
    }
    buffer = next;
    start = 0;
    end = pending;
    const offered = buffer.length - end;
    const n = await readSome(reader, buffer.subarray(end));
    if (n === null) break;
    policy.record(n, offered);
    // "\n" is never part of a multi-byte UTF-8 character, so splitting bytes
    // at it never splits a character; the bytes before `end` hold no "\n".
    let from = end;
    end += n;
    const filled = buffer.subarray(0, end);
    let newline: number;
    while ((newline = filled.indexOf(LF, from)) !== -1) {
      const lineEnd = newline > start && filled[newline - 1] === CR
        ? newline - 1
        : newline;
      if (lineEnd - start > max) throw lineTooLong(max);
      yield decoder.decode(filled.subarray(start, lineEnd));
      start = from = newline + 1;
    }
    // Even if the next byte is "\n", the line before it is too long.
    if (end - start > max + 1) throw lineTooLong(max);
  }
  if (end > start) {
    if (end - start > max) throw lineTooLong(max);
    yield decoder.decode(buffer.subarray(start, end));
  }
}

/**
 * Options for {@linkcode frames} and {@linkcode writeFrame}.
 *
 * @example Both ends agree on a 64 KiB limit
 * ```ts
 * import { type FrameOptions, frames, writeFrame } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * const options: FrameOptions = { maxFrameSize: 64 * 1024 };
 * await writeFrame(client, new Uint8Array(1000), options);
 * await client.closeWrite();
 * const sizes = [];
 * for await (const payload of frames(server, options)) sizes.push(payload.length);
 * assertEquals(sizes, [1000]);
 * ```
 */
export interface FrameOptions {
  /**
   * The largest payload, in bytes. {@linkcode frames} rejects a frame that
   * declares more before reading its payload; {@linkcode writeFrame} refuses
   * to write one. Both ends should agree on it. The 4-byte header cannot
   * declare more than 4 GiB − 1 whatever the limit.
   *
   * @default {8388608}
   */
  maxFrameSize?: number;
}

function frameLimit(options: FrameOptions): number {
  assertOptions(options);
  assertKnownOptions(options, ["maxFrameSize"]);
  const { maxFrameSize = DEFAULT_MAX_FRAME_SIZE } = options;
  assertCount(maxFrameSize, "maxFrameSize");
  return Math.min(maxFrameSize, MAX_FRAME_LENGTH);
}

/**
 * Reads length-prefixed frames from `reader`: each is a 4-byte big-endian
 * unsigned length, then that many bytes of payload (the framing of
 * {@linkcode writeFrame}, tokio's `LengthDelimitedCodec` and many RPC
 * protocols). The stream may end between frames, which ends the iteration;
 * ending inside a frame is an error.
 *
 * Each payload is a new `Uint8Array`, safe to keep. A frame that declares
 * more than `maxFrameSize` is rejected before its payload is read, and the
 * memory for a large payload grows as its bytes arrive, so a peer cannot
 * make the reader allocate more than it sends. Frames are read ahead: after
 * breaking out of the loop, the reader has consumed bytes past the last
 * frame yielded. After an error the stream is out of step; close it.
 *
 * @param reader Where to read from, such as a `Deno.Conn`.
 * @param options Options for reading frames.
 * @returns The payloads, in order.
 * @throws {TypeError} If `reader` has no `read()` method or an option has
 * the wrong type.
 * @throws {RangeError} If `maxFrameSize` is not a positive integer or
 * `Infinity`.
 * @throws {Deno.errors.InvalidData} While iterating, if a frame declares a
 * payload larger than `maxFrameSize`.
 * @throws {Deno.errors.UnexpectedEof} While iterating, if the stream ends
 * inside a header or a payload.
 *
 * @example Messages over TCP
 * ```ts
 * import { frames, writeFrame } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * const encoder = new TextEncoder();
 * await writeFrame(client, encoder.encode('{"op":"get","key":"a"}'));
 * await writeFrame(client, encoder.encode('{"op":"get","key":"b"}'));
 * await client.closeWrite();
 *
 * const requests = [];
 * for await (const payload of frames(server)) {
 *   requests.push(JSON.parse(new TextDecoder().decode(payload)));
 * }
 * assertEquals(requests, [{ op: "get", key: "a" }, { op: "get", key: "b" }]);
 * ```
 *
 * @example A frame larger than the limit
 * ```ts
 * import { frames, writeFrame } from "@sockets/net/io";
 * import { assertRejects } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * await writeFrame(client, new Uint8Array(2048));
 * await assertRejects(
 *   async () => {
 *     for await (const _ of frames(server, { maxFrameSize: 1024 })) {
 *       // never reached
 *     }
 *   },
 *   Deno.errors.InvalidData,
 *   "maxFrameSize (1024 bytes)",
 * );
 * ```
 */
export function frames(
  reader: Reader,
  options: FrameOptions = {},
): AsyncIterableIterator<Uint8Array<ArrayBuffer>> {
  assertReader(reader);
  return readFrames(reader, frameLimit(options));
}

function readLength(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) |
    bytes[at + 3]) >>> 0;
}

async function* readFrames(
  reader: Reader,
  max: number,
): AsyncGenerator<Uint8Array<ArrayBuffer>, void, undefined> {
  // Frames that fit are staged in an adaptive buffer, so a stream of small
  // frames costs one read per buffer, not one per frame; larger ones are
  // read straight into their own payload.
  const policy = new AdaptiveBuffer();
  let buffer = policy.buffer;
  let start = 0;
  let end = 0;

  /** Reads more bytes, keeping `need` bytes from `start` in one buffer. */
  const fill = async (need: number): Promise<boolean> => {
    const next = policy.buffer.length >= need ? policy.buffer : buffer;
    if (next !== buffer) {
      next.set(buffer.subarray(start, end));
    } else if (start > 0) {
      buffer.copyWithin(0, start, end);
    }
    buffer = next;
    end -= start;
    start = 0;
    const offered = buffer.length - end;
    const n = await readSome(reader, buffer.subarray(end));
    if (n === null) return false;
    end += n;
    policy.record(n, offered);
    return true;
  };

  while (true) {
    while (end - start < FRAME_HEADER_SIZE) {
      if (await fill(FRAME_HEADER_SIZE)) continue;
      if (end === start) return;
      throw new Deno.errors.UnexpectedEof(
        `frames(): the stream ended inside a frame header, after ${
          end - start
        } of ${FRAME_HEADER_SIZE} bytes`,
      );
    }
    const length = readLength(buffer, start);
    if (length > max) {
      throw new Deno.errors.InvalidData(
        `frames(): a frame declares ${length} bytes, more than maxFrameSize (${max} bytes); raise maxFrameSize if frames this large are expected`,
      );
    }
    const size = FRAME_HEADER_SIZE + length;
    if (size <= buffer.length) {
      while (end - start < size) {
        if (await fill(size)) continue;
        throw truncatedPayload(end - start - FRAME_HEADER_SIZE, length);
      }
      const payload = buffer.slice(start + FRAME_HEADER_SIZE, start + size);
      start += size;
      yield payload;
      continue;
    }

    // Grow the payload as bytes arrive rather than trust the header with
    // an allocation of up to maxFrameSize.
    const first = buffer.subarray(start + FRAME_HEADER_SIZE, end);
    start = end = 0;
    yield (await grow(
      reader,
      length,
      first,
      (filled) => truncatedPayload(filled, length),
    ))!;
  }
}

function truncatedPayload(got: number, length: number): Error {
  return new Deno.errors.UnexpectedEof(
    `frames(): the stream ended inside a frame payload, after ${got} of ${length} bytes`,
  );
}

/**
 * Writes `payload` as one length-prefixed frame, a 4-byte big-endian
 * unsigned length and then the payload, for {@linkcode frames} to read.
 *
 * Payloads up to 64 KiB go out with their header in a single `write()`;
 * every byte is written as by {@linkcode writeAll}.
 *
 * @param writer Where to write, such as a `Deno.Conn`.
 * @param payload The bytes of the frame.
 * @param options Options for the frame.
 * @returns A promise that resolves once the whole frame is written.
 * @throws {TypeError} If `writer` has no `write()` method, `payload` is not a
 * `Uint8Array`, or an option has the wrong type.
 * @throws {RangeError} If `payload` is larger than `maxFrameSize` (nothing is
 * written then), or `maxFrameSize` is not a positive integer or `Infinity`.
 * @throws {Deno.errors.WriteZero} If `writer.write()` takes 0 bytes.
 *
 * @example Writing a request and reading the reply
 * ```ts
 * import { frames, writeFrame } from "@sockets/net/io";
 * import { assertEquals } from "@std/assert";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using client = await Deno.connect({
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * using server = await listener.accept();
 *
 * // The server answers each frame with its length.
 * const answering = (async () => {
 *   for await (const request of frames(server)) {
 *     await writeFrame(server, new TextEncoder().encode(`${request.length}`));
 *   }
 * })();
 *
 * await writeFrame(client, new Uint8Array(1000));
 * const replies = frames(client);
 * const reply = await replies.next();
 * assertEquals(new TextDecoder().decode(reply.value!), "1000");
 *
 * await client.closeWrite();
 * await answering;
 * ```
 *
 * @example A payload over the limit is refused before anything is written
 * ```ts
 * import { type Writer, writeFrame } from "@sockets/net/io";
 * import { assertRejects } from "@std/assert";
 *
 * let writes = 0;
 * const writer: Writer = {
 *   write(p) {
 *     writes++;
 *     return Promise.resolve(p.length);
 *   },
 * };
 * await assertRejects(
 *   () => writeFrame(writer, new Uint8Array(2048), { maxFrameSize: 1024 }),
 *   RangeError,
 *   "maxFrameSize",
 * );
 * if (writes !== 0) throw new Error("nothing should have been written");
 * ```
 */
export async function writeFrame(
  writer: Writer,
  payload: Uint8Array,
  options: FrameOptions = {},
): Promise<void> {
  assertWriter(writer);
  assertBytes(payload, "payload");
  const max = frameLimit(options);
  if (payload.length > max) {
    throw new RangeError(
      `Invalid payload of ${payload.length} bytes: more than maxFrameSize (${max} bytes); split it into smaller frames, or raise maxFrameSize on both ends`,
    );
  }
  if (payload.length <= COALESCE_LIMIT) {
    const frame = new Uint8Array(FRAME_HEADER_SIZE + payload.length);
    writeLength(frame, payload.length);
    frame.set(payload, FRAME_HEADER_SIZE);
    await writeFrom(writer, frame, 0);
    return;
  }
  const header = new Uint8Array(FRAME_HEADER_SIZE);
  writeLength(header, payload.length);
  await writeFrom(writer, header, 0);
  await writeFrom(writer, payload, 0);
}

function writeLength(bytes: Uint8Array, length: number): void {
  bytes[0] = length >>> 24;
  bytes[1] = length >>> 16;
  bytes[2] = length >>> 8;
  bytes[3] = length;
}
