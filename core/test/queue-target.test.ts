import { describe, expect, it } from 'vitest';
import { QUEUE_ARGUMENT_CHARS, QUEUE_FACTOR, QUEUE_HORIZON_MS, queueTarget } from '../src/tick.js';

describe('queueTarget: how many claimed tasks a tick keeps queued', () => {
  it('queues QUEUE_FACTOR tasks per slot for quick handlers with small arguments', () => {
    expect(queueTarget({ cap: 10, throughput: 1000, averageArgChars: 20 })).toBe(QUEUE_FACTOR * 10);
  });

  it('queues only what its handlers finish within the horizon when they are slow', () => {
    // 50 handlers finished per second: 10 in the 200 ms horizon.
    expect(queueTarget({ cap: 10, throughput: 0.05, averageArgChars: 20 })).toBe(0.05 * QUEUE_HORIZON_MS);
  });

  it('keeps at most QUEUE_ARGUMENT_CHARS of argument text queued', () => {
    const averageArgChars = 512 * 1024;
    expect(queueTarget({ cap: 10, throughput: 1000, averageArgChars })).toBe(
      Math.floor(QUEUE_ARGUMENT_CHARS / averageArgChars),
    );
    expect(queueTarget({ cap: 10, throughput: 1000, averageArgChars })).toBeLessThan(QUEUE_FACTOR * 10);
  });

  it('queues nothing before a handler has finished (the first claim fills the idle slots)', () => {
    expect(queueTarget({ cap: 10, throughput: 0, averageArgChars: 0 })).toBe(0);
  });
});
