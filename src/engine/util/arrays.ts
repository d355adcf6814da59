// Reductions over data-sized arrays. `Math.max(...xs)` passes every element as a call argument and overflows the
// stack at roughly 125k elements, so code that reduces over examples, tokens or parameters uses these loops.

/** The largest of `values`, or `empty` when there are none. */
export function maxOf(values: Iterable<number>, empty = -Infinity): number {
  let best = -Infinity;
  let any = false;
  for (const v of values) {
    any = true;
    if (v > best || Number.isNaN(v)) best = v;
    if (Number.isNaN(best)) return NaN;
  }
  return any ? best : empty;
}

/** The smallest of `values`, or `empty` when there are none. */
export function minOf(values: Iterable<number>, empty = Infinity): number {
  let best = Infinity;
  let any = false;
  for (const v of values) {
    any = true;
    if (v < best || Number.isNaN(v)) best = v;
    if (Number.isNaN(best)) return NaN;
  }
  return any ? best : empty;
}

/** The largest of `f(item)` over `items` (as Math.max(...items.map(f)) without the spread), `empty` when there are none. */
export function maxBy<T>(items: Iterable<T>, f: (item: T) => number, empty = -Infinity): number {
  let best = -Infinity;
  let any = false;
  for (const item of items) {
    any = true;
    const v = f(item);
    if (Number.isNaN(v)) return NaN;
    if (v > best) best = v;
  }
  return any ? best : empty;
}

/** The index of the first NaN or infinite value in `data`, or -1 when all are finite. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}
