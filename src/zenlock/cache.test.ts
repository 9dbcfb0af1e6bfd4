import assert from "node:assert/strict";
import { test } from "node:test";
import { fixedClock } from "../core/index.ts";
import { TtlCache } from "./cache.ts";

test("the cache evicts the least recently used entry when full", () => {
  const cache = new TtlCache<number>({ maxEntries: 2, ttlMs: 1000, clock: fixedClock(0) });
  cache.set("a", 1);
  cache.set("b", 2);
  assert.equal(cache.get("a"), 1);
  cache.set("c", 3);
  assert.equal(cache.size, 2);
  assert.equal(cache.get("b"), undefined);
  assert.equal(cache.get("a"), 1);
  assert.equal(cache.get("c"), 3);
});

test("cache entries expire after their time to live", () => {
  const clock = fixedClock(0);
  const cache = new TtlCache<number>({ maxEntries: 10, ttlMs: 1000, clock });
  cache.set("a", 1);
  clock.advance(999);
  assert.equal(cache.get("a"), 1);
  clock.advance(1);
  assert.equal(cache.get("a"), undefined);
  assert.equal(cache.size, 0);
});

test("deleting by prefix drops only the matching entries", () => {
  const cache = new TtlCache<number>({ maxEntries: 10, ttlMs: 1000, clock: fixedClock(0) });
  cache.set('["t1",1]', 1);
  cache.set('["t1",2]', 2);
  cache.set('["t10",1]', 3);
  cache.deletePrefix('["t1",');
  assert.equal(cache.size, 1);
  assert.equal(cache.get('["t10",1]'), 3);
});
