// Imported by nothing: `tests/with_std.ts` caches it to learn whether JSR answers.
import "@std/assert";
import "@std/cli";
