/**
 * status.lastActiveTime without a status write on every active poll. KEDA refreshes it on each active poll, so an
 * active object costs the apiserver one write per polling interval. swell writes it only when it has moved by a
 * step (a tenth of cooldownPeriod, at most 30 s) while the object stays active, and writes the exact time on the
 * poll that turns it inactive. Cooldown must never end earlier than KEDA's would, even when a new operator takes
 * over from one that stopped while the object was active: a stored time whose Active condition is still True may
 * be up to one step old, so it is read as that much later.
 */

const maxStepMs = 30_000;

/** How far the stored lastActiveTime may trail the real one while the object stays active; 0 writes every poll. */
export function lastActiveStepMs(cooldownPeriodS: number): number {
  return Math.min(maxStepMs, Math.max(0, Math.floor((cooldownPeriodS * 1000) / 10)));
}

/** The last active time to decide cooldown with, from what status says. */
export function effectiveLastActive(input: { stored?: number; storedActive: boolean; stepMs: number; now: number }): number | undefined {
  if (input.stored === undefined || !input.storedActive) return input.stored;
  return Math.max(input.stored, Math.min(input.now, input.stored + input.stepMs));
}

/** The lastActiveTime to write: the stored one while it is less than a step behind and the object stays active. */
export function lastActiveToStore(input: { stored?: number; decided?: number; storedActive: boolean; active: boolean; stepMs: number }): number | undefined {
  const { stored, decided } = input;
  if (stored === undefined || decided === undefined || !input.storedActive || !input.active) return decided;
  return decided >= stored && decided - stored < input.stepMs ? stored : decided;
}
