/**
 * Tests of the offline `@std/assert` stand-in against the specification of
 * the real package. The stand-in is imported by path, so these tests check it
 * even where JSR is reachable; failure messages are checked with plain code,
 * so that a broken stand-in cannot vouch for itself.
 */
import {
  assert,
  assertEquals,
  assertFalse,
  assertGreater,
  assertInstanceOf,
  AssertionError,
  assertLessOrEqual,
  assertMatch,
  assertNotEquals,
  assertRejects,
  assertStrictEquals,
  assertStringIncludes,
  assertThrows,
  equal,
} from "./std/assert.ts";

/** Returns what `fn` threw; throws a plain `Error` when it did not throw. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error("expected the call to throw");
}

/** Checks that `fn` throws an `AssertionError` whose message is `expected`. */
function expectMessage(fn: () => unknown, expected: string, whole = false) {
  const error = thrown(fn);
  if (!(error instanceof AssertionError)) {
    throw new Error(`expected an AssertionError, got ${error}`);
  }
  const actual = whole ? error.message : error.message.split("\n")[0];
  if (actual !== expected) {
    throw new Error(
      `expected message ${JSON.stringify(expected)}, got ${
        JSON.stringify(actual)
      }`,
    );
  }
}

/** The same check for a promise that must reject with an `AssertionError`. */
async function expectRejection(promise: Promise<unknown>, expected: string) {
  let error: unknown = undefined;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  if (!(error instanceof AssertionError)) {
    throw new Error(`expected an AssertionError rejection, got ${error}`);
  }
  const actual = error.message.split("\n")[0];
  if (actual !== expected) {
    throw new Error(`expected message ${expected}, got ${actual}`);
  }
}

function passes(fn: () => unknown): void {
  fn();
}

Deno.test("AssertionError keeps the message and cause and is named", () => {
  const cause = new Error("root");
  const error = new AssertionError("boom", { cause });
  if (
    !(error instanceof Error) || error.message !== "boom" ||
    error.cause !== cause || !Object.hasOwn(error, "name") ||
    error.name !== "AssertionError"
  ) throw new Error("AssertionError does not follow the specification");
});

Deno.test("equal() follows the specification's comparison table", () => {
  class A {
    constructor(public x = 1) {}
  }
  class B {
    constructor(public x = 1) {}
  }
  class Secret {
    #hidden: number;
    constructor(hidden: number) {
      this.#hidden = hidden;
    }
    get hidden() {
      return this.#hidden > 0;
    }
  }
  class Random {
    get value() {
      return Math.random();
    }
  }
  const nullProto = Object.assign(Object.create(null), { x: 1 });
  const withLength = [1, 2];
  withLength.length = 3;
  const extraProp = Object.assign([1], { extra: true });
  const errors = [0, 1].map(() => new Error("a"));
  const cyclicA: Record<string, unknown> = {};
  cyclicA.self = cyclicA;
  const cyclicB: Record<string, unknown> = {};
  cyclicB.self = cyclicB;
  const holes = [1, , 3];
  const cases: [unknown, unknown, boolean][] = [
    [{ a: 1, b: 2 }, { b: 2, a: 1 }, true],
    [{ x: 1 }, nullProto, true],
    [{ a: NaN }, { a: NaN }, true],
    [0, -0, true],
    [{ a: 0 }, { a: -0 }, true],
    [new Array(3), [], true],
    [withLength, [1, 2], true],
    [{ a: { b: undefined } }, { a: {} }, false],
    [{}, { a: undefined }, false],
    [{ a: undefined }, {}, false],
    [holes, [1, undefined, 3], false],
    [extraProp, [1], false],
    [1, "1", false],
    [1n, 1, false],
    [null, undefined, false],
    [new Map([[1, 2], [2, 3]]), new Map([[2, 3], [1, 2]]), true],
    [new Map([[NaN, 1]]), new Map([[NaN, 1]]), true],
    [new Map([[1, undefined]]), new Map([[2, undefined]]), false],
    [new Map([[1, 1]]), new Map([[{}, 1]]), false],
    [new Set([[1], [1]]), new Set([[1], [2]]), true],
    [new Set([1, 2]), new Set([2, 1]), true],
    [new Map(), new Set(), false],
    [new Error("a"), new Error("a"), false],
    [errors[0], errors[1], true],
    [new TypeError("a"), new Error("a"), false],
    [new Number(1), new Number(2), true],
    [new Boolean(true), new Boolean(false), true],
    [Promise.resolve(1), Promise.resolve(2), true],
    [new String("a"), new String("b"), false],
    [new Secret(1), new Secret(-1), false],
    [new Secret(1), new Secret(2), true],
    [new Random(), new Random(), false],
    [new A(), new B(), false],
    [new A(), { x: 1 }, false],
    [[], {}, false],
    [new Uint8Array([1]), new Int8Array([1]), false],
    [new Float64Array([NaN]), new Float64Array([NaN]), true],
    [new Uint8Array([1, 2]), new Uint8Array([1, 3]), false],
    [new Uint8Array([1]).buffer, new Uint8Array([1]).buffer, true],
    [new Uint8Array([1]).buffer, new Uint8Array([2]).buffer, false],
    [new URL("http://a/"), new URL("http://a/"), true],
    [/a/g, /a/g, true],
    [/a/g, /a/i, false],
    [new Date(1), new Date(1), true],
    [new Date(NaN), new Date(NaN), true],
    [new Date(1), new Date(2), false],
    [
      new DataView(new Uint8Array([1]).buffer),
      new DataView(new Uint8Array([2]).buffer),
      false,
    ],
    [cyclicA, cyclicB, true],
    [() => 1, () => 1, false],
    [Symbol(), Symbol(), false],
  ];
  for (const [index, [a, b, expected]] of cases.entries()) {
    if (equal(a, b) !== expected) {
      throw new Error(`case ${index}: equal() should be ${expected}`);
    }
  }
  const weak: [() => boolean, string][] = [
    [() => equal(new WeakMap(), new WeakMap()), "WeakMap"],
    [() => equal(new WeakSet(), new WeakSet()), "WeakSet"],
  ];
  for (const [compare, name] of weak) {
    const error = thrown(compare);
    if (
      !(error instanceof TypeError) ||
      error.message !== `Cannot compare ${name} instances`
    ) throw new Error(`comparing ${name} instances should throw a TypeError`);
  }
  const target = {};
  if (!equal(new WeakRef(target), new WeakRef(target))) {
    throw new Error("WeakRefs to the same object should be equal");
  }
});

Deno.test("assert() and assertFalse() use msg as the whole message", () => {
  passes(() => assert(1));
  passes(() => assertFalse(0));
  expectMessage(() => assert(0), "", true);
  expectMessage(() => assert("", "why"), "why", true);
  expectMessage(() => assertFalse(1), "", true);
  expectMessage(() => assertFalse(true, "why"), "why", true);
});

Deno.test("assertEquals() messages end with the diff block", () => {
  passes(() => assertEquals({ a: [1, NaN] }, { a: [1, NaN] }));
  const diff = "\n\n    [Diff] Actual / Expected\n\n\n";
  expectMessage(
    () => assertEquals(1, 2),
    `Values are not equal.\n${diff}-   1\n+   2\n`,
    true,
  );
  expectMessage(
    () => assertEquals("ab", "ac"),
    `Values are not equal.\n${diff}-   ab\n+   ac\n\n`,
    true,
  );
  expectMessage(
    () => assertEquals<unknown>("1", 1),
    `Values are not equal.\n${diff}-   "1"\n+   1\n`,
    true,
  );
  expectMessage(() => assertEquals(1, 2, "ctx"), "Values are not equal: ctx");
  expectMessage(
    () => assertEquals({ a: undefined }, {}),
    "Values are not equal.",
  );
});

Deno.test("assertNotEquals() shows both values", () => {
  passes(() => assertNotEquals([1], [2]));
  expectMessage(
    () => assertNotEquals(1, 1),
    "Expected actual: 1 not to be: 1.",
  );
  expectMessage(
    () => assertNotEquals("x", "x", "ctx"),
    'Expected actual: "x" not to be: "x": ctx',
  );
  expectMessage(
    () => assertNotEquals({ a: 1 }, { a: 1 }),
    "Expected actual: {\n  a: 1,\n} not to be: {\n  a: 1,\n}.",
    true,
  );
});

Deno.test("assertStrictEquals() compares with Object.is", () => {
  passes(() => assertStrictEquals(NaN, NaN));
  expectMessage(
    () => assertStrictEquals({}, {}),
    "Values have the same structure but are not reference-equal.\n\n    {}\n",
    true,
  );
  expectMessage(
    () => assertStrictEquals(0, -0),
    "Values are not strictly equal.",
  );
  expectMessage(
    () => assertStrictEquals(1, 2, "ctx"),
    "Values are not strictly equal: ctx",
  );
  expectMessage(
    () => assertStrictEquals(1, 2),
    "Values are not strictly equal.\n\n\n    [Diff] Actual / Expected\n\n\n-   1\n+   2\n",
    true,
  );
});

Deno.test("assertInstanceOf() names the actual type", () => {
  class Date2 extends Date {}
  passes(() => assertInstanceOf(new Date2(), Date));
  const expected = 'Expected object to be an instance of "Date"';
  const fakeDate = { constructor: { name: "Date" } };
  expectMessage(() => assertInstanceOf(fakeDate, Date), `${expected}.`);
  expectMessage(
    () => assertInstanceOf(() => 1, Date),
    `${expected} but was not an instanced object.`,
  );
  expectMessage(
    () => assertInstanceOf(1, Date),
    `${expected} but was "number".`,
  );
  expectMessage(
    () => assertInstanceOf({}, Date),
    `${expected} but was "Object".`,
  );
  expectMessage(
    () => assertInstanceOf(Object.create(null), Date),
    `${expected} but was "Object".`,
  );
  expectMessage(
    () => assertInstanceOf(null, Date),
    `${expected} but was "null".`,
  );
  expectMessage(
    () => assertInstanceOf(undefined, Date, "ctx"),
    `${expected} but was "undefined": ctx`,
  );
});

Deno.test("assertStringIncludes() and assertMatch()", () => {
  passes(() => assertStringIncludes("connection refused", "refused"));
  expectMessage(
    () => assertStringIncludes("abc", "x"),
    'Expected actual: "abc" to contain: "x".',
  );
  passes(() => assertMatch("port 8080", /\d+/));
  expectMessage(
    () => assertMatch("abc", /x/),
    'Expected actual: "abc" to match: "/x/".',
  );
  const global = /a/g;
  passes(() => assertMatch("a", global));
  expectMessage(
    () => assertMatch("a", global, "ctx"),
    'Expected actual: "a" to match: "/a/g": ctx',
  );
});

Deno.test("assertThrows() decodes its arguments like upstream", () => {
  const boom = () => {
    throw new TypeError("boom");
  };
  const error = assertThrows(boom, Error, "oo");
  if (!(error instanceof TypeError)) throw new Error("should return the error");
  if (
    assertThrows(() => {
      throw "str";
    }) !== "str"
  ) throw new Error("should return any thrown value");
  const noClass = undefined as unknown as typeof Error;
  passes(() => assertThrows(boom, noClass, "not in the message"));
  expectMessage(() => assertThrows(() => {}), "Expected function to throw.");
  expectMessage(
    () => assertThrows(() => {}, "ctx"),
    "Expected function to throw: ctx",
  );
  expectMessage(
    // @ts-expect-error: a class that is not an Error class is not accepted
    () => assertThrows(() => {}, Date, "third"),
    "Expected function to throw: third",
  );
  expectMessage(
    () => assertThrows(boom, RangeError),
    'Expected error to be instance of "RangeError", but was "TypeError".',
  );
  expectMessage(
    () =>
      assertThrows(() => {
        throw "str";
      }, Error),
    "A non-Error object was thrown.",
  );
  expectMessage(
    () =>
      assertThrows(
        () => {
          throw new Error("boom");
        },
        Error,
        "bam",
        "ctx",
      ),
    'Expected error message to include "bam", but got "boom": ctx',
  );
  passes(() =>
    assertThrows(
      () => {
        throw new Error("\x1b[31mbo\x1b[0mom");
      },
      Error,
      "boom",
    )
  );
  const rejected = Promise.reject(new Error("late"));
  rejected.catch(() => {});
  expectMessage(
    () => assertThrows(() => rejected),
    "Expected function to throw.",
  );
});

Deno.test("assertRejects() resolves to the reason or rejects", async () => {
  const reason = await assertRejects(
    () => Promise.reject(new RangeError("bad port")),
    RangeError,
    "port",
  );
  if (!(reason instanceof RangeError)) throw new Error("should resolve to it");
  const thenable = {
    then: (_: unknown, reject: (reason: unknown) => void) => reject(1),
  } as unknown as PromiseLike<unknown>;
  if (await assertRejects(() => thenable) !== 1) {
    throw new Error("a rejecting thenable should be accepted");
  }
  const result = assertRejects(() => {
    throw new Error("sync");
  });
  if (!(result instanceof Promise)) throw new Error("should return a promise");
  await expectRejection(result, "Function throws when expected to reject.");
  await expectRejection(
    assertRejects(() => 1 as unknown as Promise<unknown>, "ctx"),
    "Function throws when expected to reject: ctx",
  );
  await expectRejection(
    assertRejects(() => Promise.resolve()),
    "Expected function to reject.",
  );
  await expectRejection(
    assertRejects(() => Promise.reject("str"), Error),
    "A non-Error object was rejected.",
  );
  await expectRejection(
    assertRejects(() => Promise.reject(new Error("boom")), TypeError),
    'Expected error to be instance of "TypeError", but was "Error".',
  );
  await expectRejection(
    assertRejects(() => Promise.reject(new Error("boom")), Error, "bam"),
    'Expected error message to include "bam", but got "boom".',
  );
  await expectRejection(
    // @ts-expect-error: a class that is not an Error class is not accepted
    assertRejects(() => Promise.resolve(), Date, "third", "fourth"),
    "Expected function to reject: fourth",
  );
});

Deno.test("assertThrows() checks the class and the message of the error", () => {
  passes(() =>
    assertThrows(
      () => {
        throw new RangeError("bad port");
      },
      RangeError,
      "port",
    )
  );
  expectMessage(
    () =>
      assertThrows(
        () => {
          throw new Error("boom");
        },
        Error,
        "bam",
      ),
    'Expected error message to include "bam", but got "boom".',
  );
});

Deno.test("assertGreater() and assertLessOrEqual(): msg replaces the message", () => {
  passes(() => assertGreater(2, 1));
  passes(() => assertGreater(2n, 1n));
  passes(() => assertLessOrEqual("a", "a"));
  expectMessage(() => assertGreater(1, 2), "Expect 1 > 2", true);
  expectMessage(() => assertLessOrEqual(2, 1), "Expect 2 <= 1", true);
  expectMessage(
    () => assertGreater(new Date(1), new Date(2)),
    "Expect 1970-01-01T00:00:00.001Z > 1970-01-01T00:00:00.002Z",
    true,
  );
  expectMessage(() => assertGreater(NaN, 1), "Expect NaN > 1", true);
  expectMessage(() => assertGreater(1, 2, ""), "", true);
  expectMessage(() => assertLessOrEqual(2, 1, "why"), "why", true);
});

/** Never called: `deno check` verifies that these typing rules hold. */
export function typingRules(value: unknown, list: string[] | null): void {
  // @ts-expect-error: actual and expected must have one type
  assertEquals(1, "1");
  // @ts-expect-error: the one- and two-argument forms return unknown
  assertThrows(() => {}).message;
  const error: TypeError = assertThrows(() => {}, TypeError);
  assertStrictEquals(value, "text");
  const text: "text" = value;
  assert(list);
  const length: number = list.length;
  assertInstanceOf(value, Date);
  const time: number = value.getTime();
  void [error, text, length, time];
}
