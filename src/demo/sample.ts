/** One observation of the demo, taken about once a second. */
export interface DemoSample {
  /** Seconds since the demo started filling the queue. */
  readonly t: number;
  readonly queueDepth: number;
  /** Consumer pods on (or bound for) regular nodes. */
  readonly regular: number;
  /** Consumer pods on (or bound for) the virtual node. */
  readonly virtual: number;
  /** Virtual node cost of the consumer so far, US dollars. */
  readonly cost: number;
}

export interface DemoPhases {
  readonly peakQueue: number;
  readonly peakRegular: number;
  readonly peakVirtual: number;
  readonly final: DemoSample | undefined;
}

/** What the run went through: the peaks and the last state, for the summary line and the test. */
export function summarize(samples: readonly DemoSample[]): DemoPhases {
  return {
    peakQueue: Math.max(0, ...samples.map((s) => s.queueDepth)),
    peakRegular: Math.max(0, ...samples.map((s) => s.regular)),
    peakVirtual: Math.max(0, ...samples.map((s) => s.virtual)),
    final: samples.at(-1),
  };
}
