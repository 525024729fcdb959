/**
 * The fan-out of a long-lived signal to running attempts: every listener still registered hears the
 * abort once, with the fan-out's cause, and one that was removed never does, whatever the order of
 * adding and removing.
 */
import { describe, expect, it } from 'vitest';
import { type AbortCause, AbortFanout } from '../src/signals.js';

function recorder(heard: string[], name: string) {
  return (cause: AbortCause) => heard.push(`${name}:${cause.kind}`);
}

describe('AbortFanout', () => {
  it('tells every listener still registered, once, and forgets them', () => {
    const controller = new AbortController();
    const fanout = new AbortFanout(controller.signal, { kind: 'stop' });
    const heard: string[] = [];
    const listeners = ['a', 'b', 'c', 'd', 'e'].map((name) => recorder(heard, name));
    for (const listener of listeners) fanout.add(listener);
    fanout.delete(listeners[1]!);
    fanout.delete(listeners[4]!);
    fanout.delete(listeners[1]!);
    controller.abort();
    expect(heard.sort()).toEqual(['a:stop', 'c:stop', 'd:stop']);
    fanout.delete(listeners[0]!);
    controller.signal.dispatchEvent(new Event('abort'));
    expect(heard).toHaveLength(3);
  });

  it('keeps the others when the removed listener sits first, in the middle or last', () => {
    for (const removed of [0, 2, 4]) {
      const controller = new AbortController();
      const fanout = new AbortFanout(controller.signal, { kind: 'deadline' });
      const heard: string[] = [];
      const listeners = [0, 1, 2, 3, 4].map((index) => recorder(heard, String(index)));
      for (const listener of listeners) fanout.add(listener);
      fanout.delete(listeners[removed]!);
      controller.abort();
      const expected = [0, 1, 2, 3, 4]
        .filter((index) => index !== removed)
        .map((index) => `${index}:deadline`);
      expect(heard.sort()).toEqual(expected);
    }
  });

  it('calls a listener added after the abort at once', () => {
    const controller = new AbortController();
    controller.abort();
    const fanout = new AbortFanout(controller.signal, { kind: 'stop' });
    const heard: string[] = [];
    fanout.add(recorder(heard, 'late'));
    expect(heard).toEqual(['late:stop']);
  });

  it('never calls a listener without a signal', () => {
    const fanout = new AbortFanout(undefined, { kind: 'deadline' });
    const heard: string[] = [];
    const listener = recorder(heard, 'a');
    fanout.add(listener);
    fanout.delete(listener);
    expect(heard).toEqual([]);
  });
});
