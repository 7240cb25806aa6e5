/**
 * A bounded pool: at most `size` of the items worked on at once, results in the items' order.
 * Health checks of many servers use it (`list`, `get`, `policy`, `doctor`, the console), so that
 * fifty servers are checked side by side without opening a connection to each of a thousand.
 */

/** Large enough that 50 servers are not queued behind each other. */
export const CHECK_POOL_SIZE = 64;

export async function mapBounded<T, R>(
  items: readonly T[],
  size: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(size, items.length) }, worker));
  return results;
}
