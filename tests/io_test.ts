import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertLessOrEqual,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
} from "@std/assert";
import {
  copy,
  frames,
  lines,
  type Reader,
  readExactly,
  writeAll,
  writeFrame,
  type Writer,
} from "../io.ts";
import {
  AdaptiveBuffer,
  MAX_BUFFER_SIZE,
  MIN_BUFFER_SIZE,
  SHRINK_AFTER_SMALL_READS,
} from "../_buffer.ts";

// ---------------------------------------------------------------------------
// Fakes and helpers

/** A seeded PRNG (mulberry32), so that a failing split can be reproduced. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** An integer from `low` to `high`, both included. */
function between(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = between(random, 0, 255);
  return bytes;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  return all;
}

const encoder = new TextEncoder();

interface FakeReader extends Reader {
  /** Calls of `read()` so far. */
  reads: number;
  /** The buffers `read()` was given, in order. */
  offered: Uint8Array[];
}

/**
 * A reader that hands out `data` in pieces: `piece(p)` says how many bytes the
 * next read returns (clamped to what is left and to `p.length`).
 */
function fakeReader(
  data: Uint8Array,
  piece: (p: Uint8Array) => number,
): FakeReader {
  let offset = 0;
  const reader: FakeReader = {
    reads: 0,
    offered: [],
    read(p) {
      reader.reads++;
      reader.offered.push(p);
      // A guard against a loop that never stops reading.
      if (reader.reads > data.length + 1000) {
        throw new Error("read() called far too often");
      }
      if (offset === data.length) return Promise.resolve(null);
      const n = Math.min(piece(p), p.length, data.length - offset);
      p.set(data.subarray(offset, offset + n));
      offset += n;
      return Promise.resolve(n);
    },
  };
  return reader;
}

/** Random pieces of 1 to `maxPiece` bytes. */
function randomReader(
  data: Uint8Array,
  random: () => number,
  maxPiece: number,
): FakeReader {
  return fakeReader(data, () => between(random, 1, maxPiece));
}

/** Exactly these chunks, one per read (a chunk longer than the buffer is split). */
function chunkReader(chunks: Uint8Array[]): FakeReader {
  const sizes = chunks.filter((chunk) => chunk.length > 0).map((c) => c.length);
  let index = 0;
  return fakeReader(concat(chunks), (p) => {
    const n = Math.min(sizes[index], p.length);
    sizes[index] -= n;
    if (sizes[index] === 0) index++;
    return n;
  });
}

/** A reader whose every read returns `result`, up to `limit` times. */
function constantReader(result: unknown, limit = 1000): FakeReader {
  const reader: FakeReader = {
    reads: 0,
    offered: [],
    read(p) {
      reader.offered.push(p);
      if (++reader.reads > limit) throw new Error("read() called too often");
      return Promise.resolve(result as number);
    },
  };
  return reader;
}

interface FakeWriter extends Writer {
  /** Calls of `write()` so far. */
  writes: number;
  /** Every byte accepted, in order. */
  bytes(): Uint8Array;
}

/** A writer that takes `accept(p)` bytes of each write (clamped to `p.length`). */
function fakeWriter(accept: (p: Uint8Array) => number): FakeWriter {
  const parts: Uint8Array[] = [];
  const writer: FakeWriter = {
    writes: 0,
    write(p) {
      writer.writes++;
      const n = Math.min(accept(p), p.length);
      parts.push(p.slice(0, n));
      return Promise.resolve(n);
    },
    bytes: () => concat(parts),
  };
  return writer;
}

/** A writer that takes 1 to `maxPiece` bytes of each write, at random. */
function partialWriter(random: () => number, maxPiece: number): FakeWriter {
  return fakeWriter(() => between(random, 1, maxPiece));
}

/** A writer whose every write returns `result`, up to `limit` times. */
function constantWriter(result: unknown, limit = 1000): FakeWriter {
  const writer: FakeWriter = {
    writes: 0,
    write() {
      if (++writer.writes > limit) throw new Error("write() called too often");
      return Promise.resolve(result as number);
    },
    bytes: () => new Uint8Array(),
  };
  return writer;
}

interface TcpPair extends Disposable {
  client: Deno.TcpConn;
  server: Deno.TcpConn;
}

/** A connected loopback pair; disposing it closes both ends and the listener. */
async function tcpPair(): Promise<TcpPair> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const client = await Deno.connect({
    hostname: "127.0.0.1",
    port: listener.addr.port,
  });
  try {
    const server = await listener.accept();
    return {
      client,
      server,
      [Symbol.dispose]() {
        client[Symbol.dispose]();
        server[Symbol.dispose]();
      },
    };
  } catch (error) {
    client.close();
    throw error;
  }
}

/** Every byte a reader gives until its end. */
async function readToEnd(reader: Reader): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  let n;
  while ((n = await reader.read(buffer)) !== null) {
    parts.push(buffer.slice(0, n));
  }
  return concat(parts);
}

/**
 * Compares bytes by length and first difference: a failing `assertEquals`
 * on megabytes would spend minutes and gigabytes on its diff.
 */
function assertSameBytes(
  actual: Uint8Array | null,
  expected: Uint8Array,
  context = "",
): void {
  assert(actual !== null, `got null instead of bytes ${context}`);
  assertEquals(actual.length, expected.length, `length ${context}`);
  const at = actual.findIndex((byte, i) => byte !== expected[i]);
  assertEquals(at, -1, `first difference at byte ${at} ${context}`);
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

/** Length-prefixed frames, encoded independently of the code under test. */
function encodeFrames(payloads: Uint8Array[]): Uint8Array {
  return concat(payloads.flatMap((payload) => {
    const header = new Uint8Array(4);
    new DataView(header.buffer).setUint32(0, payload.length, false);
    return [header, payload];
  }));
}

function header(length: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, length, false);
  return bytes;
}

const SEEDS = [1, 2, 3, 42, 1234, 99991];

// ---------------------------------------------------------------------------
// writeAll

Deno.test("writeAll() writes every byte through a writer that takes 1 to n bytes a call", async () => {
  for (const seed of SEEDS) {
    const random = prng(seed);
    const data = randomBytes(random, 5000);
    for (const maxPiece of [1, 7, 300, 10_000]) {
      const writer = partialWriter(random, maxPiece);
      await writeAll(writer, data);
      assertSameBytes(
        writer.bytes(),
        data,
        `seed ${seed}, maxPiece ${maxPiece}`,
      );
    }
  }
});

Deno.test("writeAll() writes a subarray, not the whole underlying buffer", async () => {
  const whole = new Uint8Array([9, 9, 1, 2, 3, 4, 9, 9]);
  const writer = partialWriter(prng(7), 2);
  await writeAll(writer, whole.subarray(2, 6));
  assertEquals(writer.bytes(), new Uint8Array([1, 2, 3, 4]));
});

Deno.test("writeAll() calls write() once when the writer takes everything", async () => {
  const writer = fakeWriter((p) => p.length);
  await writeAll(writer, new Uint8Array(1000));
  assertEquals(writer.writes, 1);
});

Deno.test("writeAll() does not call write() for empty data", async () => {
  const writer = fakeWriter((p) => p.length);
  await writeAll(writer, new Uint8Array());
  assertEquals(writer.writes, 0);
});

Deno.test("writeAll() throws WriteZero when the writer takes 0 bytes, instead of looping", async () => {
  const writer = constantWriter(0);
  const error = await assertRejects(
    () => writeAll(writer, new Uint8Array(10)),
    Deno.errors.WriteZero,
  );
  assertStringIncludes(error.message, "0 of 10 bytes");
  assertEquals(writer.writes, 1);
});

Deno.test("writeAll() rejects a write() result that is negative, too large or not a count", async () => {
  for (const result of [-1, 11, 1.5, NaN, Infinity, "5", null, undefined]) {
    const writer = constantWriter(result);
    const error = await assertRejects(
      () => writeAll(writer, new Uint8Array(10)),
      RangeError,
    );
    assertStringIncludes(error.message, "writer.write() returned");
    assertStringIncludes(error.message, "1 to 10");
    assertEquals(writer.writes, 1);
  }
});

Deno.test("writeAll() passes on the writer's error", async () => {
  const writer: Writer = {
    write: () => Promise.reject(new Deno.errors.BrokenPipe("gone")),
  };
  await assertRejects(
    () => writeAll(writer, new Uint8Array(1)),
    Deno.errors.BrokenPipe,
    "gone",
  );
});

Deno.test("writeAll() rejects a writer without write() and data that is not a Uint8Array", async () => {
  const writer = fakeWriter((p) => p.length);
  for (const bad of [null, undefined, 42, {}, { write: "yes" }]) {
    const error = await assertRejects(
      () => writeAll(bad as unknown as Writer, new Uint8Array(1)),
      TypeError,
      "Invalid writer",
    );
    assertStringIncludes(error.message, "write(bytes) method");
  }
  const error = await assertRejects(
    () => writeAll(writer, "hello" as unknown as Uint8Array),
    TypeError,
    'Invalid data "hello"',
  );
  assertStringIncludes(error.message, "TextEncoder");
  for (const bad of [new ArrayBuffer(4), [1, 2], new Uint16Array(2), null]) {
    await assertRejects(
      () => writeAll(writer, bad as unknown as Uint8Array),
      TypeError,
      "Invalid data",
    );
  }
  assertEquals(writer.writes, 0);
});

// ---------------------------------------------------------------------------
// readExactly

Deno.test("readExactly() fills the buffer across reads of random sizes", async () => {
  for (const seed of SEEDS) {
    const random = prng(seed);
    const data = randomBytes(random, 3000);
    const reader = randomReader(data, random, 100);
    const first = new Uint8Array(1000);
    assertStrictEquals(await readExactly(reader, first), first);
    assertSameBytes(first, data.subarray(0, 1000));
    assertSameBytes(await readExactly(reader, 2000), data.subarray(1000));
    assertEquals(await readExactly(reader, 1), null);
  }
});

Deno.test("readExactly() never reads past the bytes it was asked for", async () => {
  const data = new Uint8Array([1, 2, 3, 4, 5, 6]);
  const reader = fakeReader(data, (p) => p.length);
  assertEquals(await readExactly(reader, 2), new Uint8Array([1, 2]));
  assertEquals(await readExactly(reader, 4), new Uint8Array([3, 4, 5, 6]));
  for (const p of reader.offered) assertLessOrEqual(p.length, 4);
});

Deno.test("readExactly() returns null when the stream ends before the first byte", async () => {
  assertEquals(
    await readExactly(fakeReader(new Uint8Array(), () => 1), 4),
    null,
  );
  assertEquals(
    await readExactly(fakeReader(new Uint8Array(), () => 1), new Uint8Array(4)),
    null,
  );
});

Deno.test("readExactly() throws UnexpectedEof saying how many bytes came of how many", async () => {
  const reader = chunkReader([new Uint8Array([1, 2]), new Uint8Array([3])]);
  const error = await assertRejects(
    () => readExactly(reader, 8),
    Deno.errors.UnexpectedEof,
  );
  assertStringIncludes(error.message, "after 3 of 8 bytes");
});

Deno.test("readExactly() of 0 bytes returns an empty buffer without reading", async () => {
  const reader = fakeReader(new Uint8Array([1]), () => 1);
  assertEquals(await readExactly(reader, 0), new Uint8Array());
  const empty = new Uint8Array();
  assertStrictEquals(await readExactly(reader, empty), empty);
  assertEquals(reader.reads, 0);
});

Deno.test("readExactly() gives up on a reader that keeps returning 0 bytes", async () => {
  const reader = constantReader(0);
  const error = await assertRejects(() => readExactly(reader, 4), Error);
  assertStringIncludes(error.message, "returned 0 bytes");
  assertLessOrEqual(reader.reads, 100);
});

Deno.test("readExactly() rejects a read() result that is negative, too large or not a count", async () => {
  for (const result of [-1, 5, 1.5, NaN, "2", undefined]) {
    const error = await assertRejects(
      () => readExactly(constantReader(result), 4),
      RangeError,
    );
    assertStringIncludes(error.message, "reader.read() returned");
    assertStringIncludes(error.message, "4-byte buffer");
  }
});

Deno.test("readExactly() rejects a bad reader, length or buffer, naming it", async () => {
  const reader = fakeReader(new Uint8Array(8), () => 1);
  for (const bad of [null, undefined, "conn", {}, { read: 1 }]) {
    const error = await assertRejects(
      () => readExactly(bad as unknown as Reader, 1),
      TypeError,
      "Invalid reader",
    );
    assertStringIncludes(error.message, "read(buffer) method");
  }
  for (const bad of [-1, 1.5, NaN, Infinity, 2 ** 53]) {
    await assertRejects(
      () => readExactly(reader, bad),
      RangeError,
      `Invalid length ${bad}`,
    );
  }
  for (const bad of ["4", null, [1, 2], new ArrayBuffer(4)]) {
    await assertRejects(
      () => readExactly(reader, bad as unknown as number),
      TypeError,
      "Invalid buffer",
    );
  }
  assertEquals(reader.reads, 0);
});

Deno.test("readExactly() of a claimed 4 GiB grows only as bytes arrive and names the length at the end", async () => {
  const claimed = 2 ** 32 - 1;
  const reader = fakeReader(new Uint8Array(10).fill(7), (p) => p.length);
  const error = await assertRejects(
    () => readExactly(reader, claimed, { maxLength: Infinity }),
    Deno.errors.UnexpectedEof,
  );
  assertStringIncludes(error.message, `after 10 of ${claimed} bytes`);
  for (const p of reader.offered) {
    assertLessOrEqual(p.buffer.byteLength, 64 * 1024);
  }
});

Deno.test("readExactly() grows its buffer to the length across many reads", async () => {
  const random = prng(7);
  const data = randomBytes(random, 300_000);
  const reader = randomReader(data, random, 50_000);
  const result = await readExactly(reader, data.length);
  assertSameBytes(result!, data);
  assertEquals(result!.length, data.length);
  assertEquals(result!.buffer.byteLength, data.length);
});

Deno.test("readExactly() refuses a length above maxLength before reading, naming both", async () => {
  const reader = fakeReader(new Uint8Array(16), (p) => p.length);
  const error = await assertRejects(
    () => readExactly(reader, 8 * 1024 * 1024 + 1),
    Deno.errors.InvalidData,
  );
  assertStringIncludes(
    error.message,
    "8388609 bytes, more than maxLength (8388608 bytes)",
  );
  assertStringIncludes(error.message, "raise maxLength");
  await assertRejects(
    () => readExactly(reader, 17, { maxLength: 16 }),
    Deno.errors.InvalidData,
    "17 bytes, more than maxLength (16 bytes)",
  );
  assertEquals(reader.reads, 0);
  assertEquals(
    await readExactly(reader, 16, { maxLength: 16 }),
    new Uint8Array(16),
  );
});

Deno.test("readExactly() rejects a bad or misspelled maxLength", async () => {
  const reader = fakeReader(new Uint8Array(4), () => 1);
  for (const bad of [0, -1, 1.5, NaN]) {
    await assertRejects(
      () => readExactly(reader, 1, { maxLength: bad }),
      RangeError,
      "maxLength must be a positive integer or Infinity",
    );
  }
  await assertRejects(
    () => readExactly(reader, 1, { maxLenght: 4 } as never),
    TypeError,
    "maxLength",
  );
  assertEquals(reader.reads, 0);
});

// ---------------------------------------------------------------------------
// copy

Deno.test("copy() echoes 1 MiB through a real TCP connection byte for byte", async () => {
  using pair = await tcpPair();
  const data = randomBytes(prng(5), 1024 * 1024);
  const echo = (async () => {
    const copied = await copy(pair.server, pair.server);
    await pair.server.closeWrite();
    return copied;
  })();
  const sending = (async () => {
    await writeAll(pair.client, data);
    await pair.client.closeWrite();
  })();
  const [received, copied] = await Promise.all([
    readToEnd(pair.client),
    echo,
    sending,
  ]);
  assertEquals(copied, data.length);
  assertSameBytes(received, data);
});

Deno.test("copy() copies random splits through a partial writer and returns the count", async () => {
  for (const seed of SEEDS) {
    const random = prng(seed);
    const data = randomBytes(random, 200_000);
    const reader = fakeReader(
      data,
      (p) => random() < 0.5 ? p.length : between(random, 1, 5000),
    );
    const writer = partialWriter(random, 3000);
    assertEquals(await copy(reader, writer), data.length);
    assertSameBytes(writer.bytes(), data, `seed ${seed}`);
  }
});

Deno.test("copy() of an empty stream returns 0 without writing", async () => {
  const writer = fakeWriter((p) => p.length);
  assertEquals(await copy(fakeReader(new Uint8Array(), () => 1), writer), 0);
  assertEquals(writer.writes, 0);
});

Deno.test("copy() reuses one buffer while its size stays the same", async () => {
  const reader = randomReader(new Uint8Array(5000), prng(3), 100);
  await copy(reader, fakeWriter((p) => p.length));
  assert(reader.reads > 50);
  assertEquals(new Set(reader.offered).size, 1);
  assertEquals(reader.offered[0].length, MIN_BUFFER_SIZE);
});

Deno.test("copy() writes one view per run of equal short reads, and the right bytes across lengths and buffers", async () => {
  const random = prng(7);
  // Runs of equal lengths, then a full read (the buffer grows), then more.
  const sizes = [3, 3, 3, 5, 5, 3, MIN_BUFFER_SIZE, 3, 3, 7, 7];
  const chunks = sizes.map((n) => randomBytes(random, n));
  const written: Uint8Array[] = [];
  const writer = fakeWriter((p) => {
    written.push(p);
    return p.length;
  });
  assertEquals(await copy(chunkReader(chunks), writer), concat(chunks).length);
  assertSameBytes(writer.bytes(), concat(chunks));
  assertEquals(written.map((p) => p.length), sizes);
  // A view is reused while the length and the buffer stay the same.
  assertEquals(new Set(written).size, 6);
  assert(written[0] === written[2] && written[3] === written[4]);
  // After the buffer grew, a read of 3 bytes gets a view of the new buffer.
  assert(written[7].buffer !== written[0].buffer);
});

Deno.test("copy() grows its buffer to 64 KiB on full reads and shrinks it after small ones", async () => {
  // Full reads double the buffer from its first size up to 64 KiB, and two
  // more stay there; then small ones.
  const growth: number[] = [];
  for (let size = MIN_BUFFER_SIZE; size < MAX_BUFFER_SIZE; size *= 2) {
    growth.push(size);
  }
  growth.push(MAX_BUFFER_SIZE, MAX_BUFFER_SIZE, MAX_BUFFER_SIZE);
  let fullReads = growth.length - 1;
  const data = new Uint8Array(growth.reduce((a, b) => a + b, 0) + 100);
  const reader = fakeReader(data, (p) => fullReads-- > 0 ? p.length : 10);
  await copy(reader, fakeWriter((p) => p.length));
  const sizes = reader.offered.map((p) => p.length);
  assertEquals(sizes.slice(0, growth.length), growth);
  // The last read of the growth is the first small one.
  const afterRun = growth.length - 1 + SHRINK_AFTER_SMALL_READS;
  assertEquals(sizes[afterRun - 1], MAX_BUFFER_SIZE);
  assertEquals(sizes[afterRun], MIN_BUFFER_SIZE);
});

Deno.test("copy() echoes 64-byte messages without growing its first buffer", async () => {
  const reader = fakeReader(new Uint8Array(64 * 20), () => 64);
  await copy(reader, fakeWriter((p) => p.length));
  assert(reader.offered.every((p) => p.length === MIN_BUFFER_SIZE));
  assert(
    MIN_BUFFER_SIZE < 1024,
    "an idle connection's read holds less than 1 KiB",
  );
});

Deno.test("copy() rejects with the signal's reason when aborted before it starts, without reading", async () => {
  const reader = fakeReader(new Uint8Array(10), () => 1);
  const reason = new Error("stop");
  const error = await assertRejects(() =>
    copy(reader, fakeWriter((p) => p.length), {
      signal: AbortSignal.abort(reason),
    })
  );
  assertStrictEquals(error, reason);
  assertEquals(reader.reads, 0);
});

Deno.test("copy() stops before the next read when aborted, having written all it read", async () => {
  const controller = new AbortController();
  const reader = fakeReader(randomBytes(prng(9), 1000), () => 10);
  const writer = fakeWriter((p) => {
    if (writer.writes === 3) controller.abort();
    return p.length;
  });
  await assertRejects(
    () => copy(reader, writer, { signal: controller.signal }),
    DOMException,
  );
  assertEquals(reader.reads, 3);
  assertEquals(writer.bytes().length, 30);
});

Deno.test("copy() passes on the reader's and the writer's errors", async () => {
  const failing: Reader = {
    read: () => Promise.reject(new Deno.errors.ConnectionReset("reset")),
  };
  await assertRejects(
    () => copy(failing, fakeWriter((p) => p.length)),
    Deno.errors.ConnectionReset,
    "reset",
  );
  const reader = fakeReader(new Uint8Array(10), () => 10);
  await assertRejects(
    () => copy(reader, constantWriter(0)),
    Deno.errors.WriteZero,
  );
  await assertRejects(
    () => copy(fakeReader(new Uint8Array(10), () => 10), constantWriter(11)),
    RangeError,
    "writer.write() returned 11",
  );
});

Deno.test("copy() rejects bad read() results and gives up on endless empty reads", async () => {
  await assertRejects(
    () => copy(constantReader(MIN_BUFFER_SIZE + 1), constantWriter(1)),
    RangeError,
    `reader.read() returned ${MIN_BUFFER_SIZE + 1}`,
  );
  const empty = constantReader(0);
  await assertRejects(
    () => copy(empty, constantWriter(1)),
    Error,
    "returned 0 bytes",
  );
  assertLessOrEqual(empty.reads, 100);
});

Deno.test("copy() rejects a bad reader, writer or options, naming them", async () => {
  const reader = fakeReader(new Uint8Array(1), () => 1);
  const writer = fakeWriter((p) => p.length);
  await assertRejects(
    () => copy(null as unknown as Reader, writer),
    TypeError,
    "Invalid reader null",
  );
  await assertRejects(
    () => copy(reader, {} as unknown as Writer),
    TypeError,
    "Invalid writer an object (Object)",
  );
  await assertRejects(
    () => copy(reader, writer, "fast" as unknown as object),
    TypeError,
    "options must be an object",
  );
  await assertRejects(
    () => copy(reader, writer, { signal: "stop" as unknown as AbortSignal }),
    TypeError,
    "signal must be an AbortSignal",
  );
  assertEquals(reader.reads, 0);
});

// ---------------------------------------------------------------------------
// lines

const MIXED_TEXT = "first\r\nsecond\n\r\nthird\rfourth\r\n\nlast";
const MIXED_LINES = ["first", "second", "", "third\rfourth", "", "last"];

Deno.test("lines() splits at LF and CRLF and yields a last line without a newline", async () => {
  const reader = chunkReader([encoder.encode(MIXED_TEXT)]);
  assertEquals(await collect(lines(reader)), MIXED_LINES);
});

Deno.test("lines() yields no empty line after a final newline, and nothing for no input", async () => {
  assertEquals(
    await collect(lines(chunkReader([encoder.encode("a\nb\r\n")]))),
    ["a", "b"],
  );
  assertEquals(await collect(lines(chunkReader([encoder.encode("\n")]))), [""]);
  assertEquals(await collect(lines(chunkReader([]))), []);
});

Deno.test("lines() gives the same lines however the input is split in three", async () => {
  const bytes = encoder.encode(MIXED_TEXT);
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const reader = chunkReader([
        bytes.subarray(0, i),
        bytes.subarray(i, j),
        bytes.subarray(j),
      ]);
      assertEquals(
        await collect(lines(reader)),
        MIXED_LINES,
        `split ${i} ${j}`,
      );
    }
  }
});

Deno.test("lines() puts together UTF-8 characters split across reads", async () => {
  const text = "héllo\nwörld 🦕\r\n日本語\n€";
  const expected = ["héllo", "wörld 🦕", "日本語", "€"];
  const bytes = encoder.encode(text);
  for (let i = 0; i <= bytes.length; i++) {
    for (let j = i; j <= bytes.length; j++) {
      const reader = chunkReader([
        bytes.subarray(0, i),
        bytes.subarray(i, j),
        bytes.subarray(j),
      ]);
      assertEquals(await collect(lines(reader)), expected, `split ${i} ${j}`);
    }
  }
  const byteByByte = fakeReader(bytes, () => 1);
  assertEquals(await collect(lines(byteByByte)), expected);
});

Deno.test("lines() reads many lines in random splits", async () => {
  for (const seed of SEEDS) {
    const random = prng(seed);
    const expected = Array.from(
      { length: 500 },
      (_, i) => `${i}:` + "ab€".repeat(between(random, 0, 300)),
    );
    const text = expected.map((line, i) => line + (i % 3 ? "\n" : "\r\n"))
      .join("");
    const reader = randomReader(encoder.encode(text), random, 9000);
    assertEquals(await collect(lines(reader)), expected, `seed ${seed}`);
  }
});

Deno.test("lines() turns invalid UTF-8 into U+FFFD", async () => {
  const reader = chunkReader([new Uint8Array([0x61, 0xff, 0x62, 0x0a])]);
  assertEquals(await collect(lines(reader)), ["a\ufffdb"]);
});

Deno.test("lines() accepts a line of exactly maxLineLength bytes, however it ends", async () => {
  // 10 fits the first read buffer; 5000 needs the part-line buffer.
  for (const limit of [10, 5000]) {
    const line = "x".repeat(limit);
    const texts = [`${line}\n`, `${line}\r\n`, line, `${line}\r\n${line}`];
    for (const text of texts) {
      for (const piece of [1, 3, 1000, Infinity]) {
        const reader = fakeReader(
          encoder.encode(text),
          (p) => Math.min(piece, p.length),
        );
        const got = await collect(lines(reader, { maxLineLength: limit }));
        const expected = text.endsWith(line) && text !== line ? 2 : 1;
        assertEquals(got.length, expected, `limit ${limit}, piece ${piece}`);
        assert(got.every((l) => l === line));
      }
    }
  }
  // The limit counts bytes: five two-byte characters fill ten bytes.
  const reader = chunkReader([encoder.encode("ééééé\n")]);
  assertEquals(await collect(lines(reader, { maxLineLength: 10 })), ["ééééé"]);
});

Deno.test("lines() rejects a line longer than maxLineLength, after the lines before it", async () => {
  for (const limit of [10, 5000]) {
    const over = "y".repeat(limit + 1);
    const wide = "é".repeat(limit / 2 + 1);
    for (const long of [`${over}\n`, `${over}\r\n`, over, `${wide}\n`]) {
      for (const piece of [1, 4, 1000, Infinity]) {
        const reader = fakeReader(
          encoder.encode(`ok\r\n${long}after\n`),
          (p) => Math.min(piece, p.length),
        );
        const got: string[] = [];
        const error = await assertRejects(async () => {
          for await (const line of lines(reader, { maxLineLength: limit })) {
            got.push(line);
          }
        }, Deno.errors.InvalidData);
        assertStringIncludes(error.message, `maxLineLength (${limit} bytes)`);
        assertStringIncludes(error.message, "raise maxLineLength");
        assertEquals(got, ["ok"], `limit ${limit}, piece ${piece}`);
      }
    }
    // The last line, without a newline, is held to the same limit.
    for (const last of [over, `${over}\r`]) {
      const reader = chunkReader([encoder.encode(`ok\n${last}`)]);
      await assertRejects(
        () => collect(lines(reader, { maxLineLength: limit })),
        Deno.errors.InvalidData,
        `maxLineLength (${limit} bytes)`,
      );
    }
  }
});

Deno.test("lines() stops reading an endless line at maxLineLength instead of buffering it", async () => {
  let served = 0;
  const endless: Reader = {
    read(p) {
      if (served > 10 * 1024 * 1024) throw new Error("read far past the limit");
      p.fill(0x61);
      served += p.length;
      return Promise.resolve(p.length);
    },
  };
  await assertRejects(
    () => collect(lines(endless, { maxLineLength: 1000 })),
    Deno.errors.InvalidData,
    "maxLineLength (1000 bytes)",
  );
  // Never more than the read-ahead buffer when it is larger than the limit.
  assertLessOrEqual(served, MAX_BUFFER_SIZE);

  // The line, a "\r" and a "\n" is the most that is held when the limit is
  // larger than the read-ahead buffer.
  served = 0;
  await assertRejects(
    () => collect(lines(endless, { maxLineLength: 100_000 })),
    Deno.errors.InvalidData,
    "maxLineLength (100000 bytes)",
  );
  assertLessOrEqual(served, 100_002);
});

Deno.test("lines() reads with a buffer that grows to 64 KiB while lines stream in bulk", async () => {
  const text = "0123456789abcdef\n".repeat(100_000);
  const reader = fakeReader(encoder.encode(text), (p) => p.length);
  let count = 0;
  for await (const line of lines(reader)) {
    assertEquals(line, "0123456789abcdef");
    count++;
  }
  assertEquals(count, 100_000);
  const sizes = reader.offered.map((p) => p.length);
  assertEquals(Math.max(...sizes), MAX_BUFFER_SIZE);
});

Deno.test("lines() with maxLineLength Infinity accepts a line of any length", async () => {
  const long = "q".repeat(300_000);
  const reader = randomReader(
    encoder.encode(`${long}\r\nend`),
    prng(4),
    50_000,
  );
  assertEquals(
    await collect(lines(reader, { maxLineLength: Infinity })),
    [long, "end"],
  );
});

Deno.test("lines() allows 64 KiB lines by default and no longer", async () => {
  const limit = 64 * 1024;
  const fits = chunkReader([encoder.encode("z".repeat(limit) + "\n")]);
  assertEquals((await collect(lines(fits)))[0].length, limit);
  const over = chunkReader([encoder.encode("z".repeat(limit + 1) + "\n")]);
  await assertRejects(
    () => collect(lines(over)),
    Deno.errors.InvalidData,
    `maxLineLength (${limit} bytes)`,
  );
});

Deno.test("lines() reads lines from a real TCP connection", async () => {
  using pair = await tcpPair();
  const expected = Array.from({ length: 2000 }, (_, i) => `line ${i} ✓`);
  const sending = (async () => {
    await writeAll(pair.client, encoder.encode(expected.join("\r\n")));
    await pair.client.closeWrite();
  })();
  const [got] = await Promise.all([collect(lines(pair.server)), sending]);
  assertEquals(got, expected);
});

Deno.test("lines() rejects a bad reader or maxLineLength when called", () => {
  const reader = fakeReader(new Uint8Array(1), () => 1);
  assertThrows(
    () => lines(undefined as unknown as Reader),
    TypeError,
    "Invalid reader undefined",
  );
  for (const bad of [0, -1, 1.5, NaN]) {
    assertThrows(
      () => lines(reader, { maxLineLength: bad }),
      RangeError,
      `maxLineLength must be a positive integer or Infinity, got ${bad}`,
    );
  }
  assertThrows(
    () => lines(reader, { maxLineLength: "80" as unknown as number }),
    TypeError,
    'maxLineLength must be a number, got "80"',
  );
  assertThrows(
    () => lines(reader, null as unknown as object),
    TypeError,
    "options must be an object",
  );
  assertEquals(reader.reads, 0);
});

// ---------------------------------------------------------------------------
// frames and writeFrame

/** Payload sizes around the edges of the header, the staging buffer and the limits. */
const FRAME_SIZES = [
  0,
  1,
  3,
  4,
  5,
  100,
  MIN_BUFFER_SIZE - 5,
  MIN_BUFFER_SIZE - 4,
  MIN_BUFFER_SIZE,
  MIN_BUFFER_SIZE + 1,
  MAX_BUFFER_SIZE - 4,
  MAX_BUFFER_SIZE,
  MAX_BUFFER_SIZE + 1,
  200_000,
  0,
];

function randomPayloads(random: () => number): Uint8Array[] {
  const sizes = [...FRAME_SIZES];
  for (let i = 0; i < 40; i++) sizes.push(between(random, 0, 3000));
  for (let i = 0; i < 5; i++) sizes.push(between(random, 0, 100_000));
  // Shuffle so that every size follows every kind of size somewhere.
  for (let i = sizes.length - 1; i > 0; i--) {
    const j = between(random, 0, i);
    [sizes[i], sizes[j]] = [sizes[j], sizes[i]];
  }
  return sizes.map((size) => randomBytes(random, size));
}

Deno.test("frames() reads frames in random splits byte for byte", async () => {
  for (const seed of SEEDS) {
    const random = prng(seed);
    const payloads = randomPayloads(random);
    const stream = encodeFrames(payloads);
    // Reads that fill the buffer grow it; small ones shrink it again.
    const reader = fakeReader(
      stream,
      (p) => random() < 0.3 ? p.length : between(random, 1, 20_000),
    );
    const got = await collect(frames(reader));
    assertEquals(got.length, payloads.length, `seed ${seed}`);
    for (let i = 0; i < payloads.length; i++) {
      assertSameBytes(got[i], payloads[i], `seed ${seed}, frame ${i}`);
    }
  }
});

Deno.test("frames() reads small frames split into single bytes", async () => {
  const random = prng(11);
  const payloads = Array.from(
    { length: 50 },
    () => randomBytes(random, between(random, 0, 20)),
  );
  const reader = fakeReader(encodeFrames(payloads), () => 1);
  assertEquals(await collect(frames(reader)), payloads);
});

Deno.test("frames() yields payloads that stay valid after later frames", async () => {
  const payloads = [
    new Uint8Array([1, 1]),
    new Uint8Array([2, 2]),
    new Uint8Array([3]),
  ];
  const reader = chunkReader([encodeFrames(payloads)]);
  const got = await collect(frames(reader));
  assertEquals(got, payloads);
  assert(got.every((payload) => payload.buffer.byteLength === payload.length));
});

Deno.test("frames() ends at a clean end of stream between frames", async () => {
  assertEquals(await collect(frames(chunkReader([]))), []);
  const reader = chunkReader([encodeFrames([new Uint8Array(0)])]);
  assertEquals(await collect(frames(reader)), [new Uint8Array(0)]);
});

Deno.test("frames() rejects a declared length over maxFrameSize without reading the payload", async () => {
  let reads = 0;
  const reader: Reader = {
    read(p) {
      if (++reads > 1) throw new Error("the payload was read");
      p.set(header(1025));
      return Promise.resolve(4);
    },
  };
  const error = await assertRejects(
    () => collect(frames(reader, { maxFrameSize: 1024 })),
    Deno.errors.InvalidData,
  );
  assertStringIncludes(error.message, "declares 1025 bytes");
  assertStringIncludes(error.message, "maxFrameSize (1024 bytes)");
  assertStringIncludes(error.message, "raise maxFrameSize");
  assertEquals(reads, 1);
});

Deno.test("frames() allows 8 MiB frames by default and rejects larger declared lengths", async () => {
  const limit = 8 * 1024 * 1024;
  for (const length of [limit + 1, 0xffff_ffff]) {
    const reader = chunkReader([header(length)]);
    await assertRejects(
      () => collect(frames(reader)),
      Deno.errors.InvalidData,
      `maxFrameSize (${limit} bytes)`,
    );
  }
  // The limit itself is accepted: the error is the truncation, not the size.
  const reader = chunkReader([header(limit), new Uint8Array(10)]);
  await assertRejects(
    () => collect(frames(reader)),
    Deno.errors.UnexpectedEof,
    `after 10 of ${limit} bytes`,
  );
});

Deno.test("frames() throws UnexpectedEof for a truncated header or payload, after the whole frames", async () => {
  const whole = encodeFrames([new Uint8Array([7, 7])]);
  const cases: [Uint8Array, string][] = [
    [new Uint8Array([0, 0]), "inside a frame header, after 2 of 4 bytes"],
    [concat([header(10), new Uint8Array(3)]), "after 3 of 10 bytes"],
    [concat([header(10)]), "after 0 of 10 bytes"],
    [
      concat([header(100_000), new Uint8Array(50_000)]),
      "after 50000 of 100000 bytes",
    ],
  ];
  for (const [truncated, message] of cases) {
    for (const piece of [1, 7, 1_000_000]) {
      if (piece === 1 && truncated.length > 1000) continue;
      const reader = fakeReader(concat([whole, truncated]), () => piece);
      const got: Uint8Array[] = [];
      const error = await assertRejects(async () => {
        for await (const payload of frames(reader)) got.push(payload);
      }, Deno.errors.UnexpectedEof);
      assertStringIncludes(error.message, message);
      assertEquals(got, [new Uint8Array([7, 7])]);
    }
  }
});

Deno.test("writeFrame() writes the header and payload as the reference encoding", async () => {
  const random = prng(21);
  for (const size of FRAME_SIZES) {
    const payload = randomBytes(random, size);
    const writer = partialWriter(random, 5000);
    await writeFrame(writer, payload);
    assertSameBytes(writer.bytes(), encodeFrames([payload]), `size ${size}`);
  }
});

Deno.test("writeFrame() uses one write() for a payload up to 64 KiB when the writer takes it all", async () => {
  for (const size of [0, 1, 1000, MAX_BUFFER_SIZE]) {
    const writer = fakeWriter((p) => p.length);
    await writeFrame(writer, new Uint8Array(size));
    assertEquals(writer.writes, 1, `size ${size}`);
  }
});

Deno.test("writeFrame() refuses a payload over maxFrameSize before writing anything", async () => {
  const writer = fakeWriter((p) => p.length);
  const error = await assertRejects(
    () => writeFrame(writer, new Uint8Array(11), { maxFrameSize: 10 }),
    RangeError,
  );
  assertStringIncludes(error.message, "payload of 11 bytes");
  assertStringIncludes(error.message, "maxFrameSize (10 bytes)");
  assertEquals(writer.writes, 0);
  await writeFrame(writer, new Uint8Array(10), { maxFrameSize: 10 });
  assertEquals(writer.bytes().length, 14);
});

Deno.test("writeFrame() throws WriteZero when the writer takes nothing", async () => {
  await assertRejects(
    () => writeFrame(constantWriter(0), new Uint8Array(3)),
    Deno.errors.WriteZero,
    "0 of 7 bytes",
  );
});

Deno.test("writeFrame() and frames() carry frames through a real TCP connection", async () => {
  using pair = await tcpPair();
  const random = prng(77);
  const payloads = Array.from(
    { length: 300 },
    (_, i) =>
      randomBytes(random, i % 50 === 0 ? 150_000 : between(random, 0, 5000)),
  );
  const sending = (async () => {
    for (const payload of payloads) await writeFrame(pair.client, payload);
    await pair.client.closeWrite();
  })();
  const [got] = await Promise.all([collect(frames(pair.server)), sending]);
  assertEquals(got.length, payloads.length);
  for (let i = 0; i < payloads.length; i++) {
    assertSameBytes(got[i], payloads[i], `frame ${i}`);
  }
});

Deno.test("frames() and writeFrame() reject bad arguments, naming them", async () => {
  const reader = fakeReader(new Uint8Array(8), () => 1);
  const writer = fakeWriter((p) => p.length);
  assertThrows(
    () => frames({ read: null } as unknown as Reader),
    TypeError,
    "Invalid reader an object (Object)",
  );
  for (const bad of [0, -1, 2.5]) {
    assertThrows(
      () => frames(reader, { maxFrameSize: bad }),
      RangeError,
      `maxFrameSize must be a positive integer or Infinity, got ${bad}`,
    );
    await assertRejects(
      () => writeFrame(writer, new Uint8Array(1), { maxFrameSize: bad }),
      RangeError,
      `maxFrameSize must be a positive integer or Infinity, got ${bad}`,
    );
  }
  assertThrows(
    () => frames(reader, { maxFrameSize: "1mb" as unknown as number }),
    TypeError,
    'maxFrameSize must be a number, got "1mb"',
  );
  await assertRejects(
    () => writeFrame(writer, "hi" as unknown as Uint8Array),
    TypeError,
    'Invalid payload "hi"',
  );
  await assertRejects(
    () => writeFrame(writer, [1, 2] as unknown as Uint8Array),
    TypeError,
    "Invalid payload an array",
  );
  await assertRejects(
    () => writeFrame(42 as unknown as Writer, new Uint8Array(1)),
    TypeError,
    "Invalid writer 42",
  );
  assertEquals(reader.reads, 0);
  assertEquals(writer.writes, 0);
});

// ---------------------------------------------------------------------------
// The adaptive buffer

Deno.test("AdaptiveBuffer doubles on full reads up to 64 KiB and stays there", () => {
  const policy = new AdaptiveBuffer(1024);
  const sizes = [policy.size];
  for (let i = 0; i < 8; i++) {
    policy.record(policy.size);
    sizes.push(policy.size);
  }
  assertEquals(sizes, [
    1024,
    2048,
    4096,
    8192,
    16384,
    32768,
    65536,
    65536,
    65536,
  ]);
  assertEquals(policy.buffer.length, MAX_BUFFER_SIZE);
});

Deno.test("AdaptiveBuffer shrinks after a run of small reads, to a size that holds them", () => {
  const policy = new AdaptiveBuffer();
  while (policy.size < MAX_BUFFER_SIZE) policy.record(policy.size);
  for (let i = 1; i < SHRINK_AFTER_SMALL_READS; i++) {
    policy.record(100);
    assertEquals(policy.size, MAX_BUFFER_SIZE);
  }
  policy.record(10_000);
  assertEquals(policy.size, 16 * 1024);
  for (let i = 0; i < SHRINK_AFTER_SMALL_READS; i++) policy.record(100);
  assertEquals(policy.size, MIN_BUFFER_SIZE);
  // Idle at the smallest size, it stays there.
  for (let i = 0; i < 3 * SHRINK_AFTER_SMALL_READS; i++) policy.record(1);
  assertEquals(policy.size, MIN_BUFFER_SIZE);
});

Deno.test("AdaptiveBuffer restarts the run of small reads after a large one", () => {
  const policy = new AdaptiveBuffer();
  while (policy.size < MAX_BUFFER_SIZE) policy.record(policy.size);
  for (let round = 0; round < 5; round++) {
    for (let i = 1; i < SHRINK_AFTER_SMALL_READS; i++) policy.record(100);
    policy.record(MAX_BUFFER_SIZE / 2 + 1);
  }
  assertEquals(policy.size, MAX_BUFFER_SIZE);
});

Deno.test("AdaptiveBuffer keeps the same Uint8Array until its size changes", () => {
  const policy = new AdaptiveBuffer(1024);
  const first = policy.buffer;
  for (let i = 0; i < 20; i++) policy.record(i % 2 ? 200 : 300);
  assertStrictEquals(policy.buffer, first);
  policy.record(first.length);
  assert(policy.buffer !== first);
  assertInstanceOf(policy.buffer, Uint8Array);
});

Deno.test("AdaptiveBuffer counts a read as full against the part it was offered", () => {
  const policy = new AdaptiveBuffer();
  policy.record(500, 500);
  assertEquals(policy.size, 2 * MIN_BUFFER_SIZE);
  policy.record(0, 0);
  assertEquals(policy.size, 2 * MIN_BUFFER_SIZE);
});

Deno.test("AdaptiveBuffer with equal bounds is a fixed buffer", () => {
  const policy = new AdaptiveBuffer(1024, 1024);
  for (let i = 0; i < 10; i++) policy.record(1024);
  assertEquals(policy.size, 1024);
  for (let i = 0; i < 10; i++) policy.record(1);
  assertEquals(policy.size, 1024);
});

Deno.test("AdaptiveBuffer rejects sizes that are not positive or out of order", () => {
  assertThrows(
    () => new AdaptiveBuffer(0, 10),
    RangeError,
    "positive integers",
  );
  assertThrows(
    () => new AdaptiveBuffer(1.5, 10),
    RangeError,
    "positive integers",
  );
  assertThrows(
    () => new AdaptiveBuffer(10, 5),
    RangeError,
    "below the smallest",
  );
});

Deno.test("copy(), lines(), frames() and writeFrame() name the closest option to a misspelled one", async () => {
  const reader = { read: () => Promise.resolve(null) };
  const writer = { write: (p: Uint8Array) => Promise.resolve(p.length) };
  await assertRejects(
    () => copy(reader, writer, { signl: undefined } as Record<string, unknown>),
    TypeError,
    "did you mean options.signal?",
  );
  assertThrows(
    () => lines(reader, { maxLineLenght: 10 } as Record<string, unknown>),
    TypeError,
    "did you mean options.maxLineLength?",
  );
  assertThrows(
    () => frames(reader, { maxFrameSise: 10 } as Record<string, unknown>),
    TypeError,
    "did you mean options.maxFrameSize?",
  );
  await assertRejects(
    () =>
      writeFrame(writer, new Uint8Array(1), {
        maxFramesize: 10,
      } as Record<string, unknown>),
    TypeError,
    "did you mean options.maxFrameSize?",
  );
});
