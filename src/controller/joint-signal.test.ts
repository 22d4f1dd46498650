import { describe, expect, it } from 'vitest';
import { abandonable, JointSignal } from './joint-signal.js';

describe('JointSignal', () => {
  it.each([
    { callers: 1, gone: 1, aborted: true },
    { callers: 3, gone: 2, aborted: false },
    { callers: 3, gone: 3, aborted: true },
  ])('with $callers callers of which $gone gave up: aborted $aborted', ({ callers, gone, aborted }) => {
    const joint = new JointSignal();
    const controllers = Array.from({ length: callers }, () => new AbortController());
    for (const c of controllers) joint.join({ signal: c.signal });
    const { signal } = joint;
    for (const c of controllers.slice(0, gone)) c.abort(new Error('deadline'));
    expect(signal.aborted).toBe(aborted);
    expect(joint.abandoned).toBe(aborted);
  });

  it('never aborts while a caller without a signal waits', () => {
    const joint = new JointSignal();
    const bounded = new AbortController();
    joint.join({ signal: bounded.signal });
    joint.join(undefined);
    bounded.abort();
    expect(joint.signal.aborted).toBe(false);
  });

  it('counts callers that join after the work took its signal, and aborts with the last reason', () => {
    const joint = new JointSignal();
    const first = new AbortController();
    joint.join({ signal: first.signal });
    const { signal } = joint;
    const late = new AbortController();
    joint.join({ signal: late.signal });
    first.abort(new Error('first'));
    expect(signal.aborted).toBe(false);
    late.abort(new Error('late'));
    expect(signal.reason).toEqual(new Error('late'));
  });

  it('looks at callers only once the work asks for its signal', () => {
    let made = 0;
    const caller = {
      get signal() {
        made++;
        return new AbortController().signal;
      },
    };
    const joint = new JointSignal();
    joint.join(caller);
    joint.dispose();
    expect(made).toBe(0);
  });

  it('stops listening once disposed', () => {
    const joint = new JointSignal();
    const caller = new AbortController();
    joint.join({ signal: caller.signal });
    const { signal } = joint;
    joint.dispose();
    caller.abort();
    expect(signal.aborted).toBe(false);
  });
});

describe('abandonable', () => {
  it('rejects with the reason as soon as the signal aborts, though the work goes on', async () => {
    const caller = new AbortController();
    const work = new Promise<number>(() => undefined);
    const waiting = abandonable(work, caller.signal);
    caller.abort(new Error('deadline passed'));
    await expect(waiting).rejects.toThrow('deadline passed');
  });

  it('passes the value or the failure through when the signal stays quiet', async () => {
    const caller = new AbortController();
    await expect(abandonable(Promise.resolve(7), caller.signal)).resolves.toBe(7);
    await expect(abandonable(Promise.reject(new Error('down')), caller.signal)).rejects.toThrow('down');
  });

  it('rejects at once for a signal already aborted', async () => {
    await expect(abandonable(Promise.resolve(1), AbortSignal.abort(new Error('late')))).rejects.toThrow('late');
  });
});
