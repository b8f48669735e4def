/**
 * Offline stand-in for the JSR package `@std/assert`, used only when jsr.io
 * cannot be reached. It has the exports this project uses, and follows the
 * specification of the real package for them: same signatures, equality
 * rules and first lines of failure messages. The diff printed under a failed
 * equality is simpler and never coloured.
 *
 * @module
 */

// deno-lint-ignore no-explicit-any
type Any = any;
// deno-lint-ignore no-explicit-any
type Loose = Record<PropertyKey, any>;

/** Any constructor. */
export type AnyConstructor = new (...args: Any[]) => Any;
/** The instance type of a constructor. */
export type GetConstructorType<T extends AnyConstructor> = InstanceType<T>;
/** The values that are falsy in JavaScript. */
export type Falsy = false | 0 | 0n | "" | null | undefined;

/** The error thrown by every failed assertion. */
export class AssertionError extends Error {
  /**
   * Creates an assertion error.
   *
   * @param message The message of the error.
   * @param options Passed on to `Error` (for instance `cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AssertionError";
  }
}

/** Ends a fixed message with `": " + msg`, or with a full stop when there is no `msg`. */
function suffix(msg?: string): string {
  return msg ? `: ${msg}` : ".";
}

/** Formats a value the way failure messages show it. */
function format(value: unknown): string {
  return Deno.inspect(value, {
    depth: Infinity,
    sorted: true,
    trailingComma: true,
    compact: false,
    iterableLimit: Infinity,
    getters: true,
    strAbbreviateSize: Infinity,
  });
}

function isPrimitive(value: unknown): boolean {
  return value === null ||
    (typeof value !== "object" && typeof value !== "function");
}

// deno-lint-ignore no-control-regex
const ANSI_PATTERN = /\x1b\[[0-9;]*[A-Za-z]/g;
function stripAnsi(text: string): string {
  return text.replace(ANSI_PATTERN, "");
}

/** Line diff (longest common subsequence) of `actual` against `expected`. */
function diffLines(actual: string[], expected: string[]): string[] {
  const n = actual.length, m = expected.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array<number>(m + 1));
  for (let i = n; i >= 0; i--) {
    for (let j = m; j >= 0; j--) {
      lcs[i][j] = i === n || j === m
        ? 0
        : actual[i] === expected[j]
        ? lcs[i + 1][j + 1] + 1
        : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: string[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && actual[i] === expected[j]) {
      out.push(`    ${actual[i++]}`);
      j++;
    } else if (j === m || (i < n && lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push(`-   ${actual[i++]}`);
    } else {
      out.push(`+   ${expected[j++]}`);
    }
  }
  return out;
}

/** The "[Diff] Actual / Expected" block that follows a failed equality. */
function diffBlock(actual: unknown, expected: unknown): string {
  const strings = typeof actual === "string" && typeof expected === "string";
  const [a, e] = strings
    ? [actual, expected]
    : [format(actual), format(expected)];
  const lines = diffLines(a.split("\n"), e.split("\n"));
  return `\n\n    [Diff] Actual / Expected\n\n\n${lines.join("\n")}\n${
    strings ? "\n" : ""
  }`;
}

/** Prototypes whose instances are compared by their string form. */
const STRING_COMPARED = new Set<unknown>([
  RegExp.prototype,
  URL.prototype,
  URLSearchParams.prototype,
  Intl.Locale.prototype,
  ...Object.values(
    (globalThis as { Temporal?: Record<string, unknown> }).Temporal ?? {},
  ).flatMap((value) => typeof value === "function" ? [value.prototype] : []),
]);

function isPlainPrototype(proto: unknown): boolean {
  return proto === Object.prototype || proto === null;
}

function sameValueZero(a: unknown, b: unknown): boolean {
  return a === b || (a !== a && b !== b);
}

/** Own keys compared for class instances: the whole prototype chain's. */
function chainKeys(value: object, into: Set<PropertyKey>): void {
  for (
    let obj: object | null = value;
    obj !== null && obj !== Object.prototype && obj !== Array.prototype;
    obj = Object.getPrototypeOf(obj)
  ) {
    for (const key of Reflect.ownKeys(obj)) into.add(key);
  }
}

/**
 * Deep equality as used by {@linkcode assertEquals}: same prototypes, same
 * keys and deep-equal values; `NaN` equals `NaN`, cycles are supported, and
 * `{ a: undefined }` differs from `{}`.
 *
 * @param a The actual value.
 * @param b The expected value.
 * @returns Whether the two values are deeply equal.
 * @throws {TypeError} When comparing `WeakMap` or `WeakSet` instances.
 *
 * @example Usage
 * ```ts
 * import { equal } from "@std/assert";
 *
 * equal({ a: [1, NaN] }, { a: [1, NaN] }); // true
 * equal({ a: undefined }, {}); // false
 * ```
 */
export function equal(a: unknown, b: unknown): boolean {
  const seen = new Map<object, object>();
  return compare(a, b);

  function compare(a: unknown, b: unknown): boolean {
    if (a === b || Object.is(a, b)) return true;
    if (isPrimitive(a) || isPrimitive(b)) return false;
    if (a instanceof Date && b instanceof Date) {
      return Object.is(a.getTime(), b.getTime());
    }
    if (typeof a !== "object" || typeof b !== "object") return false;
    const x = a as Loose, y = b as Loose;
    const proto = Object.getPrototypeOf(x);
    if (
      proto !== Object.getPrototypeOf(y) &&
      !(isPlainPrototype(proto) && isPlainPrototype(Object.getPrototypeOf(y)))
    ) return false;
    if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
      const u = x as unknown as ArrayLike<unknown>;
      const v = y as unknown as ArrayLike<unknown>;
      if (u.length !== v.length) return false;
      for (let i = 0; i < u.length; i++) {
        if (!sameValueZero(u[i], v[i])) return false;
      }
      return true;
    }
    if (x instanceof ArrayBuffer || x instanceof SharedArrayBuffer) {
      return compare(new Uint8Array(x), new Uint8Array(y as ArrayBuffer));
    }
    if (x instanceof WeakMap) {
      throw new TypeError("Cannot compare WeakMap instances");
    }
    if (x instanceof WeakSet) {
      throw new TypeError("Cannot compare WeakSet instances");
    }
    if (x instanceof WeakRef) return compare(x.deref(), y.deref());
    if (seen.get(x) === y) return true;
    if (Object.keys(x).length !== Object.keys(y).length) return false;
    seen.set(x, y);
    if (
      (x instanceof Map && y instanceof Map) ||
      (x instanceof Set && y instanceof Set)
    ) {
      return compareCollections(x, y);
    }
    const keys = new Set<PropertyKey>();
    if (isPlainPrototype(proto) || proto === Array.prototype) {
      for (const obj of [x, y]) {
        for (const key of Object.keys(obj)) keys.add(key);
        for (const key of Object.getOwnPropertySymbols(obj)) keys.add(key);
      }
    } else if (STRING_COMPARED.has(proto)) {
      return String(x) === String(y);
    } else {
      chainKeys(x, keys);
      chainKeys(y, keys);
    }
    const [u, v] = [a as Loose, b as Loose];
    for (const key of keys) {
      if (!compare(u[key], v[key]) || (key in u) !== (key in v)) return false;
    }
    return true;
  }

  function compareCollections(
    x: Map<unknown, unknown> | Set<unknown>,
    y: Map<unknown, unknown> | Set<unknown>,
  ): boolean {
    if (x.size !== y.size) return false;
    if ([...x.keys()].every(isPrimitive)) {
      if (x instanceof Set) return [...x].every((key) => y.has(key));
      const m = y as Map<unknown, unknown>;
      return [...x].every(([key, value]) =>
        m.has(key) && compare(value, m.get(key))
      );
    }
    const entries = [...y.entries()];
    return [...x.entries()].every(([key, value]) =>
      entries.some(([k, v]) => compare(key, k) && compare(value, v))
    );
  }
}

/**
 * Asserts that `expr` is truthy.
 *
 * @param expr The value to check.
 * @param msg The whole message of the error.
 * @throws {AssertionError} When `expr` is falsy.
 *
 * @example Usage
 * ```ts
 * import { assert } from "@std/assert";
 *
 * assert("hello".length === 5);
 * ```
 */
export function assert(expr: unknown, msg = ""): asserts expr {
  if (!expr) throw new AssertionError(msg);
}

/**
 * Asserts that `expr` is falsy.
 *
 * @param expr The value to check.
 * @param msg The whole message of the error.
 * @throws {AssertionError} When `expr` is truthy.
 *
 * @example Usage
 * ```ts
 * import { assertFalse } from "@std/assert";
 *
 * assertFalse("".length);
 * ```
 */
export function assertFalse(expr: unknown, msg = ""): asserts expr is Falsy {
  if (expr) throw new AssertionError(msg);
}

/**
 * Asserts that `actual` and `expected` are deeply equal (see {@linkcode equal}).
 *
 * @param actual The actual value.
 * @param expected The expected value.
 * @param msg Added to the message of the error.
 * @throws {AssertionError} When the values differ; the message shows a diff.
 *
 * @example Usage
 * ```ts
 * import { assertEquals } from "@std/assert";
 *
 * assertEquals({ a: [1, 2] }, { a: [1, 2] });
 * ```
 */
export function assertEquals<T>(actual: T, expected: T, msg?: string): void {
  if (equal(actual, expected)) return;
  throw new AssertionError(
    `Values are not equal${suffix(msg)}\n${diffBlock(actual, expected)}`,
  );
}

/**
 * Asserts that `actual` and `expected` are not deeply equal.
 *
 * @param actual The actual value.
 * @param expected The value `actual` must differ from.
 * @param msg Added to the message of the error.
 * @throws {AssertionError} When the values are deeply equal.
 *
 * @example Usage
 * ```ts
 * import { assertNotEquals } from "@std/assert";
 *
 * assertNotEquals([1], [2]);
 * ```
 */
export function assertNotEquals<T>(actual: T, expected: T, msg?: string): void {
  if (!equal(actual, expected)) return;
  throw new AssertionError(
    `Expected actual: ${format(actual)} not to be: ${format(expected)}${
      suffix(msg)
    }`,
  );
}

/**
 * Asserts that `actual` is `expected` (`Object.is`).
 *
 * @typeParam T The type of the expected value.
 * @param actual The actual value.
 * @param expected The expected value.
 * @param msg Added to the message of the error.
 * @throws {AssertionError} When the values are not the same value.
 *
 * @example Usage
 * ```ts
 * import { assertStrictEquals } from "@std/assert";
 *
 * const list = [1];
 * assertStrictEquals(list, list);
 * ```
 */
export function assertStrictEquals<T>(
  actual: unknown,
  expected: T,
  msg?: string,
): asserts actual is T {
  if (Object.is(actual, expected)) return;
  const text = format(actual);
  if (text === format(expected)) {
    const indented = text.split("\n").map((line) => `    ${line}`).join("\n");
    throw new AssertionError(
      `Values have the same structure but are not reference-equal${
        suffix(msg)
      }\n\n${indented}\n`,
    );
  }
  throw new AssertionError(
    `Values are not strictly equal${suffix(msg)}\n${
      diffBlock(actual, expected)
    }`,
  );
}

/**
 * Asserts that `actual` is an instance of `expectedType`.
 *
 * @param actual The value to check.
 * @param expectedType The class `actual` must be an instance of.
 * @param msg Added to the message of the error.
 * @throws {AssertionError} When `actual` is not an instance of `expectedType`.
 *
 * @example Usage
 * ```ts
 * import { assertInstanceOf } from "@std/assert";
 *
 * assertInstanceOf(new Date(), Date);
 * ```
 */
export function assertInstanceOf<
  T extends abstract new (...args: Any[]) => Any,
>(
  actual: unknown,
  expectedType: T,
  msg = "",
): asserts actual is InstanceType<T> {
  if (actual instanceof expectedType) return;
  const expected = expectedType.name;
  const name = actual === null
    ? "null"
    : actual === undefined
    ? "undefined"
    : typeof actual === "object"
    ? (actual as Loose).constructor?.name ?? "Object"
    : typeof actual;
  const detail = name === expected
    ? ""
    : name === "function"
    ? " but was not an instanced object"
    : ` but was "${name}"`;
  throw new AssertionError(
    `Expected object to be an instance of "${expected}"${detail}${suffix(msg)}`,
  );
}

/**
 * Asserts that the string `actual` contains `expected`.
 *
 * @param actual The string to search.
 * @param expected The text to find.
 * @param msg Added to the message of the error.
 * @throws {AssertionError} When `expected` is not found.
 *
 * @example Usage
 * ```ts
 * import { assertStringIncludes } from "@std/assert";
 *
 * assertStringIncludes("connection refused", "refused");
 * ```
 */
export function assertStringIncludes(
  actual: string,
  expected: string,
  msg?: string,
): void {
  if (actual.includes(expected)) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to contain: "${expected}"${suffix(msg)}`,
  );
}

/**
 * Asserts that the string `actual` matches the regular expression `expected`.
 *
 * @param actual The string to test.
 * @param expected The pattern (a `g` or `y` pattern advances `lastIndex`).
 * @param msg Added to the message of the error.
 * @throws {AssertionError} When `actual` does not match.
 *
 * @example Usage
 * ```ts
 * import { assertMatch } from "@std/assert";
 *
 * assertMatch("port 8080", /\d+/);
 * ```
 */
export function assertMatch(
  actual: string,
  expected: RegExp,
  msg?: string,
): void {
  if (expected.test(actual)) return;
  throw new AssertionError(
    `Expected actual: "${actual}" to match: "${expected}"${suffix(msg)}`,
  );
}

/**
 * The checks of {@linkcode assertThrows} and {@linkcode assertRejects} on
 * the error: an `Error`, of class `ErrorClass` if given, with a message that
 * includes (or matches) `msgMatches` if given.
 */
function assertIsError<E extends Error = Error>(
  error: unknown,
  ErrorClass?: abstract new (...args: Any[]) => E,
  msgMatches?: string | RegExp,
  msg?: string,
): asserts error is E {
  if (!(error instanceof Error)) {
    throw new AssertionError(
      `Expected "error" to be an Error object${suffix(msg)}`,
    );
  }
  if (ErrorClass && !(error instanceof ErrorClass)) {
    throw new AssertionError(
      `Expected error to be instance of "${ErrorClass.name}", but was "${error.constructor?.name}"${
        suffix(msg)
      }`,
    );
  }
  if (!msgMatches) return;
  const message = stripAnsi(error.message);
  const matches = typeof msgMatches === "string"
    ? message.includes(stripAnsi(msgMatches))
    : msgMatches.test(message);
  if (matches) return;
  const wanted = typeof msgMatches === "string"
    ? JSON.stringify(msgMatches)
    : String(msgMatches);
  throw new AssertionError(
    `Expected error message to include ${wanted}, but got ${
      JSON.stringify(error.message)
    }${suffix(msg)}`,
  );
}

type ErrorClassArg<E extends Error> = abstract new (...args: Any[]) => E;

function isErrorClass(value: unknown): value is ErrorClassArg<Error> {
  return typeof value === "function" &&
    (value.prototype === Error.prototype ||
      value.prototype instanceof Error);
}

/**
 * Asserts that `fn` throws, and returns what it threw. A returned promise is
 * not awaited: use {@linkcode assertRejects} for async functions.
 *
 * @param fn The function that must throw.
 * @param msg Added to the message of the error.
 * @returns The thrown value.
 * @throws {AssertionError} When `fn` does not throw.
 *
 * @example Usage
 * ```ts
 * import { assertThrows } from "@std/assert";
 *
 * assertThrows(() => JSON.parse("{"));
 * ```
 */
export function assertThrows(fn: () => unknown, msg?: string): unknown;
/**
 * Asserts that `fn` throws an instance of `ErrorClass` whose message includes
 * `msgIncludes`, and returns the error.
 *
 * @typeParam E The expected error type.
 * @param fn The function that must throw.
 * @param ErrorClass The class the error must be an instance of.
 * @param msgIncludes Text the error message must include.
 * @param msg Added to the message of the error.
 * @returns The thrown error.
 * @throws {AssertionError} When `fn` does not throw, or throws something else.
 *
 * @example Usage
 * ```ts
 * import { assertThrows } from "@std/assert";
 *
 * assertThrows(() => JSON.parse("{"), SyntaxError, "JSON");
 * ```
 */
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  ErrorClass: ErrorClassArg<E>,
  msgIncludes?: string,
  msg?: string,
): E;
export function assertThrows<E extends Error = Error>(
  fn: () => unknown,
  errorClassOrMsg?: ErrorClassArg<E> | string,
  msgIncludesOrMsg?: string,
  msg?: string,
): E | unknown {
  let ErrorClass: ErrorClassArg<E> | undefined;
  let msgIncludes: string | undefined;
  if (typeof errorClassOrMsg === "string") {
    msg = errorClassOrMsg;
  } else if (errorClassOrMsg === undefined || isErrorClass(errorClassOrMsg)) {
    ErrorClass = errorClassOrMsg;
    msgIncludes = msgIncludesOrMsg;
  } else {
    msg = msgIncludesOrMsg;
  }
  try {
    fn();
  } catch (error) {
    if (ErrorClass) {
      if (!(error instanceof Error)) {
        throw new AssertionError(`A non-Error object was thrown${suffix(msg)}`);
      }
      assertIsError(error, ErrorClass, msgIncludes, msg);
    }
    return error;
  }
  throw new AssertionError(`Expected function to throw${suffix(msg)}`);
}

/**
 * Asserts that the promise returned by `fn` rejects, and resolves to the
 * rejection reason.
 *
 * @param fn The function whose promise must reject.
 * @param msg Added to the message of the error.
 * @returns A promise of the rejection reason.
 * @throws {AssertionError} (as a rejection) When the promise fulfils, or when
 * `fn` throws or returns something that is not a promise.
 *
 * @example Usage
 * ```ts
 * import { assertRejects } from "@std/assert";
 *
 * await assertRejects(() => Promise.reject(new Error("boom")));
 * ```
 */
export function assertRejects(
  fn: () => PromiseLike<unknown>,
  msg?: string,
): Promise<unknown>;
/**
 * Asserts that the promise returned by `fn` rejects with an instance of
 * `ErrorClass` whose message includes `msgIncludes`, and resolves to it.
 *
 * @typeParam E The expected error type.
 * @param fn The function whose promise must reject.
 * @param ErrorClass The class the reason must be an instance of.
 * @param msgIncludes Text the error message must include.
 * @param msg Added to the message of the error.
 * @returns A promise of the rejection reason.
 * @throws {AssertionError} (as a rejection) When any check fails.
 *
 * @example Usage
 * ```ts
 * import { assertRejects } from "@std/assert";
 *
 * await assertRejects(
 *   () => Promise.reject(new RangeError("bad port")),
 *   RangeError,
 *   "port",
 * );
 * ```
 */
export function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  ErrorClass: ErrorClassArg<E>,
  msgIncludes?: string,
  msg?: string,
): Promise<E>;
export async function assertRejects<E extends Error = Error>(
  fn: () => PromiseLike<unknown>,
  errorClassOrMsg?: ErrorClassArg<E> | string,
  msgIncludesOrMsg?: string,
  msg?: string,
): Promise<E | unknown> {
  let ErrorClass: ErrorClassArg<E> | undefined;
  let msgIncludes: string | undefined;
  if (typeof errorClassOrMsg === "string") {
    msg = errorClassOrMsg;
  } else {
    if (isErrorClass(errorClassOrMsg)) ErrorClass = errorClassOrMsg;
    msgIncludes = msgIncludesOrMsg;
  }
  let promise: unknown;
  try {
    promise = fn();
  } catch {
    promise = undefined;
  }
  if (typeof (promise as PromiseLike<unknown>)?.then !== "function") {
    throw new AssertionError(
      `Function throws when expected to reject${suffix(msg)}`,
    );
  }
  try {
    await promise;
  } catch (error) {
    if (ErrorClass) {
      if (!(error instanceof Error)) {
        throw new AssertionError(
          `A non-Error object was rejected${suffix(msg)}`,
        );
      }
      assertIsError(error, ErrorClass, msgIncludes, msg);
    }
    return error;
  }
  throw new AssertionError(`Expected function to reject${suffix(msg)}`);
}

function compareFailure(
  operator: string,
  actual: unknown,
  expected: unknown,
  msg?: string,
): AssertionError {
  return new AssertionError(
    msg ?? `Expect ${format(actual)} ${operator} ${format(expected)}`,
  );
}

/**
 * Asserts that `actual > expected`.
 *
 * @param actual The actual value.
 * @param expected The value to compare with.
 * @param msg Replaces the message of the error.
 * @throws {AssertionError} When the comparison is false.
 *
 * @example Usage
 * ```ts
 * import { assertGreater } from "@std/assert";
 *
 * assertGreater(2, 1);
 * ```
 */
export function assertGreater<T>(actual: T, expected: T, msg?: string): void {
  if (actual > expected) return;
  throw compareFailure(">", actual, expected, msg);
}

/**
 * Asserts that `actual <= expected`.
 *
 * @param actual The actual value.
 * @param expected The value to compare with.
 * @param msg Replaces the message of the error.
 * @throws {AssertionError} When the comparison is false.
 *
 * @example Usage
 * ```ts
 * import { assertLessOrEqual } from "@std/assert";
 *
 * assertLessOrEqual(2, 2);
 * ```
 */
export function assertLessOrEqual<T>(
  actual: T,
  expected: T,
  msg?: string,
): void {
  if (actual <= expected) return;
  throw compareFailure("<=", actual, expected, msg);
}
